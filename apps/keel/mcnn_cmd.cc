// `keel mcnn ...`: argument parsing and output only; the engine is keel::mcnn.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <thread>

#include "cli.h"
#include "keel/core/error.h"
#include "keel/core/interrupt.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"
#include "keel/core/table.h"
#include "keel/mcnn/model.h"
#include "keel/mcnn/eval.h"
#include "keel/mcnn/export.h"
#include "keel/mcnn/synth.h"
#include "keel/mcnn/trainer.h"
#include "keel/train/dist.h"
#include "mcnn_data_flags.h"

namespace keel::cli {

namespace {

struct InfoArgs {
  int height = 1024, width = 1280, classes = 13, channels = mcnn::kInputChannels;
};

void run_info(const InfoArgs& a, const GlobalOptions& g) {
  mcnn::check_input_size(a.height, a.width);
  mcnn::ModelShape s{a.height, a.width, a.classes, a.channels};
  std::int64_t params = mcnn::parameter_count(s);
  double gflop = mcnn::forward_flops(s) / 1e9;
  if (g.json) {
    nlohmann::json j = {{"height", a.height},    {"width", a.width}, {"channels", a.channels},
                        {"classes", a.classes},  {"parameters", params},
                        {"forward_gflop_per_image", gflop},
                        {"train_gflop_per_image", 3 * gflop}};
    print_out(j.dump(2));
    return;
  }
  core::Table t({"M-CNN", "value"});
  t.add_row({"input", fmt::format("{}x{}x{}", a.channels, a.height, a.width)});
  t.add_row({"classes", std::to_string(a.classes)});
  t.add_row({"parameters", fmt::format("{} ({:.2f} M)", params, static_cast<double>(params) / 1e6)});
  t.add_row({"forward GFLOP/image", fmt::format("{:.1f}", gflop)});
  t.add_row({"training GFLOP/image (~3x forward)", fmt::format("{:.1f}", 3 * gflop)});
  print_out(t.render());
}

void run_synth(mcnn::SynthOptions o, const std::string& channels, const GlobalOptions& g) {
  if (!channels.empty()) o.channels = mcnn::parse_channel_list(channels, "--channels");
  core::Progress bar("synth", 1, core::progress_enabled(g.quiet), "img");
  auto sum = mcnn::synthesize(o, [&](int done, int total) {
    (void)total;
    bar.update(static_cast<std::uint64_t>(done));
  });
  bar.finish();
  if (g.json) {
    print_out(nlohmann::json{{"out", o.out.string()}, {"images", sum.images},
                             {"classes", sum.classes}, {"compounds", sum.compounds},
                             {"plates", sum.plates}, {"height", o.height}, {"width", o.width}}
                  .dump(2));
  } else {
    print_out(fmt::format("wrote {} images ({} classes, {} compounds, {} plates), {}x{}, to {}",
                          sum.images, sum.classes, sum.compounds, sum.plates, o.height, o.width,
                          o.out.string()));
  }
}

void run_train(mcnn::TrainOptions o, const McnnDataFlags& flags, const GlobalOptions& g) {
  flags.resolve(o.input);
  auto& comm = train::Comm::world();
  o.progress = core::progress_enabled(g.quiet);
  mcnn::TrainResult r;
  try {
    r = mcnn::train_mcnn(o, comm);
  } catch (const core::Interrupted& e) {
    // Every rank stopped after the same step; rank 0 wrote the checkpoint and says so.
    comm.finalize();
    if (!comm.is_root()) std::exit(e.exit_code());
    throw;
  } catch (const core::Error& e) {
    if (comm.size() == 1) throw;
    // One rank failing would leave the others blocked in a collective: end the whole job.
    std::string what = e.what();
    std::replace(what.begin(), what.end(), '\n', ' ');
    std::cerr << "keel: error: rank " << comm.rank() << ": " << what << "\n";
    comm.abort(e.exit_code());
  }
  comm.finalize();
  if (!comm.is_root() || r.epochs.empty()) return;
  const auto& e = r.epochs.back();
  // The run's speed (this process's epochs), not the last epoch's.
  const double img_per_s = r.run_train_s > 0 ? static_cast<double>(r.run_images) / r.run_train_s : 0;
  const bool has_val = r.val_images > 0;
  if (g.json) {
    print_out(nlohmann::json{{"epochs", e.epoch},
                             {"train_loss", e.train_loss},
                             {"val_loss", has_val ? nlohmann::json(e.val_loss) : nlohmann::json()},
                             {"val_acc", has_val ? nlohmann::json(e.val_acc) : nlohmann::json()},
                             {"img_per_s", img_per_s},
                             {"ranks", r.ranks},
                             {"threads", r.threads},
                             {"precision", o.precision},
                             {"compute_s", e.compute_s},
                             {"comm_s", e.comm_s},
                             {"comm_fraction", e.comm_s / std::max(1e-9, e.compute_s + e.comm_s)},
                             {"train_images", r.train_images},
                             {"val_images", r.val_images},
                             {"skipped", r.skipped}}
                  .dump(2));
  } else {
    print_out(fmt::format(
        "{} epochs on {} images ({}x{}, {}), {} rank(s) x {} thread(s): {}, {:.1f} img/s",
        e.epoch, r.train_images, r.height, r.width, o.precision, r.ranks, r.threads,
        has_val ? fmt::format("val acc {:.1f}%, val loss {:.4f}", 100 * e.val_acc, e.val_loss)
                : std::string("no validation split (--val-fraction 0)"),
        img_per_s));
    if (!o.checkpoint.empty() && e.epoch < o.epochs)
      print_out(fmt::format("stopped after epoch {} of {}: continue with the same command and "
                            "--resume",
                            e.epoch, o.epochs));
  }
}

struct EvalArgs {
  mcnn::DataSource input;
  McnnDataFlags flags;
  std::string checkpoint, split = "val", precision;
  int threads = 0, batch = 16;
  bool skip_bad = false;
};

void run_eval(EvalArgs a, const GlobalOptions& g) {
  if (a.split != "val" && a.split != "all")
    throw core::InputError("unknown split '" + a.split + "'", {"", 0, 0, "--split"},
                           "use val or all");
  a.flags.resolve(a.input);
  const auto info = mcnn::read_checkpoint_info(a.checkpoint);
  mcnn::LoadOptions lo;
  lo.skip_bad = a.skip_bad;
  mcnn::Dataset ds = mcnn::load_dataset(a.input, lo);
  if (const auto note = mcnn::fit_to_checkpoint(ds, info, a.checkpoint);
      !note.empty())
    core::log_warn("{}", note);
  std::vector<std::size_t> idx;
  if (a.split == "val") {
    // The split the run held out: same seed and fraction as training.
    idx = mcnn::split_train_val(ds, info.val_fraction, info.seed).val;
  } else {
    idx.resize(ds.samples.size());
    for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  }
  if (idx.empty())
    throw core::InputError(
        ds.samples.empty() ? "no labelled images to evaluate (no image row joins an MOA)"
                           : "the checkpoint's run held out no validation images (--val-fraction 0)",
        core::Location{a.input.origin().string(), 0, 0, ds.samples.empty() ? "" : "--split"},
        ds.samples.empty() ? "check that the images have labels (BBBC021_v1_moa.csv lists their "
                             "compounds and concentrations, or the manifest's label column is "
                             "filled)"
                           : "evaluate with --split all");
  int threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto preds = mcnn::predict_mcnn(ds, idx, a.checkpoint, threads, a.batch, a.precision);
  auto rep = mcnn::evaluate(ds, preds);
  if (g.json) {
    print_out(nlohmann::json{{"split", a.split}, {"images", rep.images},
                             {"accuracy", rep.accuracy}, {"classes", ds.classes},
                             {"confusion", rep.confusion}, {"nsc_accuracy", rep.nsc_accuracy},
                             {"nsc_treatments", rep.nsc_treatments}}
                  .dump(2));
    return;
  }
  std::vector<std::string> head = {"true \\ predicted"};
  for (std::size_t c = 0; c < ds.classes.size(); ++c) head.push_back(std::to_string(c));
  core::Table t(head);
  for (std::size_t r = 0; r < ds.classes.size(); ++r) {
    std::vector<std::string> row = {std::to_string(r) + " " + ds.classes[r]};
    for (int v : rep.confusion[r]) row.push_back(std::to_string(v));
    t.add_row(row);
  }
  print_out(fmt::format("{} images ({} split): accuracy {:.1f}%\nNSC (1-NN over {} treatment "
                        "profiles, other compounds only): {:.1f}%\n\n{}",
                        rep.images, a.split, 100 * rep.accuracy, rep.nsc_treatments,
                        100 * rep.nsc_accuracy, t.render()));
}

struct ExportArgs {
  std::string checkpoint, out;
};

void run_export(const ExportArgs& a, const GlobalOptions& g) {
  const auto s = mcnn::export_torchscript(a.checkpoint, a.out, KEEL_VERSION);
  if (g.json) {
    print_out(nlohmann::json{{"out", a.out},
                             {"channels", s.channels},
                             {"classes", s.classes},
                             {"height", s.height},
                             {"width", s.width},
                             {"metadata", nlohmann::json::parse(s.metadata_json)}}
                  .dump(2));
    return;
  }
  print_out(fmt::format("wrote {} (TorchScript: input [N,{},{},{}] normalised, {} classes; load "
                        "with torch.jit.load, metadata in .keel_metadata)",
                        a.out, s.channels, s.height, s.width, s.classes));
}

}  // namespace

void register_mcnn(CLI::App& app, const GlobalOptions& global) {
  auto* mcnn = app.add_subcommand("mcnn", "M-CNN trainer for full-resolution microscopy images");
  mcnn->require_subcommand(1);

  auto info_args = std::make_shared<InfoArgs>();
  auto* info = mcnn->add_subcommand("info", "Parameter count and forward GFLOP per image");
  info->add_option("--height", info_args->height, "Input height (multiple of 128)")
      ->capture_default_str();
  info->add_option("--width", info_args->width, "Input width (multiple of 128)")
      ->capture_default_str();
  info->add_option("--classes", info_args->classes, "Output classes")
      ->capture_default_str()->check(Positive);
  info->add_option("--channels", info_args->channels, "Input channels")
      ->capture_default_str()->check(Positive);
  info->callback([info_args, &global] { run_info(*info_args, global); });

  auto so = std::make_shared<mcnn::SynthOptions>();
  auto* synth = mcnn->add_subcommand(
      "synth", "Write a synthetic dataset in the BBBC021 layout (TIFFs + both CSVs)");
  synth->add_option("--out", so->out, "Output directory")->required()->check(OutputDirectory);
  synth->add_option("--metadata", so->metadata,
                    "Directory with a real BBBC021_v1_image.csv and BBBC021_v1_moa.csv to take "
                    "plates, wells, compounds and MoAs from (default: a built-in table of the 13 "
                    "BBBC021 MoA classes, 3 synthetic compounds each)");
  synth->add_option("--height", so->height, "Image height (multiple of 128)")->capture_default_str();
  synth->add_option("--width", so->width, "Image width (multiple of 128)")->capture_default_str();
  synth->add_option("--images-per-class", so->images_per_class, "Images per MOA class")
      ->capture_default_str()->check(Positive);
  synth->add_option("--seed", so->seed, "Random seed")->check(NonNegative)->capture_default_str();
  synth->add_option("--threads", so->threads, "Drawing threads (0: all cores)")
      ->capture_default_str()->check(NonNegative);
  auto synth_channels = std::make_shared<std::string>();
  synth->add_option("--channels", *synth_channels,
                    "Write a manifest layout (manifest.csv, images/) with these channel columns "
                    "instead of BBBC021's CSVs, e.g. DAPI,Tubulin,Actin,ER,Mito (channels past the "
                    "third mix the drawn ones)");
  synth->callback([so, synth_channels, &global] { run_synth(*so, *synth_channels, global); });

  auto to = std::make_shared<mcnn::TrainOptions>();
  auto* tr = mcnn->add_subcommand(
      "train", "Train M-CNN (data-parallel under mpirun/srun: one shard of every batch per rank)");
  auto tr_flags = std::make_shared<McnnDataFlags>();
  add_mcnn_data_flags(tr, to->input, *tr_flags, false);
  tr->add_option("--epochs", to->epochs, "Epochs")->capture_default_str()->check(Positive);
  tr->add_option("--batch", to->batch, "Global batch (divided evenly over ranks)")
      ->capture_default_str()->check(Positive);
  tr->add_option("--lr", to->lr, "Base learning rate at --reference-batch")->capture_default_str()
      ->check(Positive);
  tr->add_option("--reference-batch", to->reference_batch, "Batch the base LR is given for")
      ->capture_default_str()->check(Positive);
  tr->add_option("--lr-scaling", to->lr_scaling, "linear (LR x batch / reference batch) | none")
      ->capture_default_str();
  tr->add_option("--warmup-epochs", to->warmup_epochs, "Linear LR warmup from LR/10")
      ->capture_default_str()->check(NonNegative);
  tr->add_option("--lr-decay", to->lr_decay, "cosine | step (x0.1 every 30 epochs) | none")
      ->capture_default_str();
  tr->add_option("--momentum", to->momentum, "Nesterov momentum (above 0, at most 0.999)")
      ->capture_default_str()
      ->check(Positive & CLI::Range(0.0, 0.999));
  tr->add_option("--weight-decay", to->weight_decay, "L2 weight decay")
      ->capture_default_str()
      ->check(NonNegative);
  tr->add_option("--val-fraction", to->val_fraction, "Images per class held out for validation")
      ->capture_default_str()
      ->check(Finite & CLI::Range(0.0, 0.9));
  tr->add_option("--seed", to->seed, "Seed (weights, split, data order)")
      ->check(NonNegative)
      ->capture_default_str();
  tr->add_option("--threads", to->threads, "LibTorch threads per rank (0: cores / local ranks)")
      ->capture_default_str()->check(NonNegative);
  tr->add_option("--loader-threads", to->loader_threads, "TIFF decoding threads per rank")
      ->capture_default_str()->check(Positive);
  tr->add_option("--prefetch", to->prefetch, "Batches decoded ahead")->capture_default_str()
      ->check(Positive);
  tr->add_option("--bucket-mb", to->bucket_mb, "Gradient allreduce fusion bucket (MiB)")
      ->capture_default_str()->check(Positive);
  tr->add_option("--precision", to->precision,
                 "fp32 | bf16 (mixed precision: bf16 convolutions/FC via oneDNN, fp32 master "
                 "weights, gradients, loss and optimizer)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  tr->add_flag("!--sequential-allreduce", to->overlap_allreduce,
               "Reduce gradient buckets after backward instead of during it");
  tr->add_flag("!--nchw", to->channels_last, "Keep NCHW instead of channels_last");
  tr->add_flag("--skip-bad", to->skip_bad, "Skip (and count) rows whose TIFFs are missing or bad");
  tr->add_option("--log", to->log, "Curves: FILE.csv (per epoch) or FILE.json (epochs + steps)")
      ->check(OutputFile);
  tr->add_option("--checkpoint", to->checkpoint, "Checkpoint written atomically after each epoch")
      ->check(OutputFile);
  tr->add_flag("--resume", to->resume, "Continue from --checkpoint");
  tr->add_flag("--ignore-memory-check", to->ignore_memory_check,
               "Start even when the batch looks too big for the available memory");
  tr->add_flag("--overwrite", to->overwrite,
               "Start over even if --checkpoint exists (it is replaced after the first epoch)");
  tr->add_option("--stop-after", to->stop_after,
                 "Stop after N epochs of this run (time-limited jobs; continue with --resume)")
      ->check(NonNegative);
  tr->add_option("--timeline", to->timeline, "Compute/comm phases per rank (keel power replays it)")
      ->check(OutputFile);
  // Test hooks (not in --help): act as if Ctrl-C arrived N times after optimizer step S.
  tr->add_option("--test-stop-at-step", to->test_stop_at_step)->group("");
  tr->add_option("--test-stop-signals", to->test_stop_signals)->group("");
  tr->add_option("--test-kill-at-step", to->test_kill_at_step)->group("");
  tr->add_option("--test-kill-rank", to->test_kill_rank)->group("");
  tr->callback([to, tr_flags, &global] { run_train(*to, *tr_flags, global); });

  auto ea = std::make_shared<EvalArgs>();
  auto* ev = mcnn->add_subcommand(
      "eval", "Accuracy, confusion matrix and NSC (not-same-compound 1-NN) of a checkpoint");
  add_mcnn_data_flags(ev, ea->input, ea->flags, false);
  ev->add_option("--checkpoint", ea->checkpoint, "Checkpoint from keel mcnn train")->required();
  ev->add_option("--split", ea->split, "val (the run's held-out images) | all")
      ->capture_default_str();
  ev->add_option("--threads", ea->threads, "LibTorch threads (0: all cores)")
      ->check(NonNegative);
  ev->add_option("--batch", ea->batch, "Images per forward pass")->capture_default_str()
      ->check(Positive);
  ev->add_option("--precision", ea->precision,
                 "fp32 | bf16 (default: the precision the checkpoint was trained in)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  ev->add_flag("--skip-bad", ea->skip_bad, "Skip (and count) rows whose TIFFs are missing or bad");
  ev->callback([ea, &global] { run_eval(*ea, global); });

  register_mcnn_predict(*mcnn, global);
  register_mcnn_plan(*mcnn, global);

  auto xa = std::make_shared<ExportArgs>();
  auto* ex = mcnn->add_subcommand(
      "export", "Write a checkpoint as a TorchScript module for PyTorch (torch.jit.load)");
  ex->add_option("--checkpoint", xa->checkpoint, "Checkpoint from keel mcnn train")->required();
  ex->add_option("--out", xa->out, "TorchScript file to write (model.pt)")
      ->required()
      ->check(OutputFile);
  ex->callback([xa, &global] { run_export(*xa, global); });
}

}  // namespace keel::cli
