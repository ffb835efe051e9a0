// `keel mcnn predict`: a checkpoint over a BBBC021 directory or a manifest (labels optional),
// per field, well and treatment; MPI-parallel like training (rank r takes every R-th field; rank
// 0 writes). Argument parsing, the shard and the gathering; the network runs in keel::mcnn.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <memory>
#include <thread>

#include "cli.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"
#include "keel/mcnn/eval.h"
#include "keel/mcnn/model.h"
#include "keel/mcnn/predict.h"
#include "keel/mcnn/tiff.h"
#include "keel/train/dist.h"
#include "mcnn_data_flags.h"

namespace keel::cli {

namespace {

struct PredictArgs {
  mcnn::DataSource input;
  McnnDataFlags flags;
  std::string checkpoint, out, features, precision;
  int threads = 0, batch = 16, loader_threads = 1;
  bool skip_bad = false;
};

struct PredictSummary {
  std::size_t fields = 0, treatments = 0, wells = 0;
  int skipped = 0, labelled = 0;
  double accuracy = 0;  // over labelled fields
  mcnn::PredictPaths paths;
};

PredictSummary predict(PredictArgs a, const train::Comm& comm, bool progress) {
  a.flags.resolve(a.input);
  mcnn::LoadOptions lo;
  lo.skip_bad = a.skip_bad;
  lo.keep_unlabeled = true;
  mcnn::Dataset ds = mcnn::load_dataset(a.input, lo);
  if (ds.samples.empty())
    throw core::InputError("no fields of view to predict", {a.input.origin().string(), 0, 0, {}},
                           "check the CSV has rows (and, with --skip-bad, good image files)");
  const auto info = mcnn::read_checkpoint_info(a.checkpoint);
  if (const auto note = mcnn::fit_to_checkpoint(ds, info, a.checkpoint); !note.empty() && comm.is_root())
    core::log_warn("{}", note);
  // The size check up front: one header, not a failure after minutes of work.
  const mcnn::Image16 first = mcnn::check_tiff16(ds.samples[0].files[0]);
  if (first.height != info.height || first.width != info.width)
    throw core::InputError(fmt::format("images are {}x{}, the checkpoint was trained on {}x{}",
                                       first.height, first.width, info.height, info.width),
                           {ds.source.string(), ds.samples[0].row.line, 0, {}},
                           "predict with a checkpoint trained at this image size");
  if (ds.skipped > 0 && comm.is_root()) {
    core::log_warn("skipped {} rows with bad or missing files (--skip-bad)", ds.skipped);
    for (const auto& why : ds.skip_reasons) core::log_warn("  {}", why);
  }

  std::vector<std::size_t> mine;
  for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < ds.samples.size();
       i += static_cast<std::size_t>(comm.size()))
    mine.push_back(i);
  const auto treatments = mcnn::index_treatments(ds);
  mcnn::TreatmentFeatures feats;
  feats.dim = mcnn::kFeatureDim;
  feats.sum.assign(treatments.list.size() * static_cast<std::size_t>(feats.dim), 0.0);
  feats.count.assign(treatments.list.size(), 0.0);
  std::vector<double> packed;  // per field: index, probs...
  const std::size_t k = ds.classes.size();
  core::Progress bar("predict", ds.samples.size(), progress && comm.is_root(), "img");
  std::size_t done = 0;
  mcnn::PredictOptions po;
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  po.threads = a.threads > 0 ? a.threads : std::max(1, hw / comm.local_size());
  po.batch = a.batch;
  po.precision = a.precision;
  po.loader_threads = a.loader_threads;
  mcnn::predict_mcnn(ds, mine, a.checkpoint, po, [&](mcnn::Prediction&& p) {
    packed.push_back(static_cast<double>(p.index));
    packed.insert(packed.end(), p.probs.begin(), p.probs.end());
    const std::size_t t = treatments.of_sample[p.index];
    for (std::size_t d = 0; d < p.features.size(); ++d)
      feats.sum[t * p.features.size() + d] += p.features[d];
    feats.count[t] += 1;
    // Rank 0 sees its own shard; the others advance at the same pace.
    bar.update(std::min<std::size_t>(++done * static_cast<std::size_t>(comm.size()), ds.samples.size()));
  });
  bar.finish();
  if (!a.features.empty()) {
    comm.allreduce_sum(feats.sum.data(), feats.sum.size());
    comm.allreduce_sum(feats.count.data(), feats.count.size());
  }
  const auto all = comm.gather(packed);
  PredictSummary sum;
  sum.paths = mcnn::predict_paths(a.out, a.features, ds.has_wells);
  if (!comm.is_root()) return sum;
  std::vector<mcnn::FieldResult> fields;
  int correct = 0;
  for (std::size_t i = 0; i + k < all.size(); i += k + 1) {
    mcnn::FieldResult r;
    r.index = static_cast<std::size_t>(all[i]);
    r.probs.assign(all.begin() + static_cast<std::ptrdiff_t>(i + 1),
                   all.begin() + static_cast<std::ptrdiff_t>(i + 1 + k));
    const auto& s = ds.samples.at(r.index);
    if (s.label >= 0) {
      ++sum.labelled;
      correct += static_cast<int>(std::max_element(r.probs.begin(), r.probs.end()) -
                                  r.probs.begin()) == s.label;
    }
    fields.push_back(std::move(r));
  }
  sum.skipped = ds.skipped;
  sum.accuracy = sum.labelled ? static_cast<double>(correct) / sum.labelled : 0;
  const auto rows = mcnn::write_predictions(ds, std::move(fields), treatments, feats, sum.paths);
  sum.fields = rows.fields;
  sum.wells = rows.wells;
  sum.treatments = rows.treatments;
  return sum;
}

void run_predict(const PredictArgs& a, const GlobalOptions& g) {
  auto& comm = train::Comm::world();
  PredictSummary s;
  try {
    s = predict(a, comm, core::progress_enabled(g.quiet));
  } catch (const core::Error& e) {
    if (comm.size() == 1) throw;
    // One rank failing would leave the others blocked in a collective: end the whole job.
    std::cerr << "keel: error: rank " << comm.rank() << ": " << one_line(e.what()) << "\n";
    comm.abort(e.exit_code());
  }
  comm.finalize();
  if (!comm.is_root()) return;
  if (g.json) {
    nlohmann::json j = {{"fields", s.fields},         {"wells", s.wells},
                        {"treatments", s.treatments}, {"skipped", s.skipped},
                        {"labelled", s.labelled},     {"out", s.paths.fields.string()},
                        {"treatments_csv", s.paths.treatments.string()}};
    if (s.labelled) j["accuracy"] = s.accuracy;
    if (!s.paths.wells.empty()) j["wells_csv"] = s.paths.wells.string();
    if (!s.paths.features.empty()) j["features_csv"] = s.paths.features.string();
    print_out(j.dump(2));
    return;
  }
  print_out(fmt::format(
      "{} fields, {} wells, {} treatments -> {}{}, {}{}{}", s.fields, s.wells, s.treatments,
      s.paths.fields.string(), s.paths.wells.empty() ? "" : ", " + s.paths.wells.string(),
      s.paths.treatments.string(),
      s.paths.features.empty() ? "" : ", " + s.paths.features.string(),
      s.labelled ? fmt::format(" (accuracy {:.1f}% on {} labelled fields)", 100 * s.accuracy,
                               s.labelled)
                 : std::string()));
}

}  // namespace

void register_mcnn_predict(CLI::App& mcnn, const GlobalOptions& global) {
  auto a = std::make_shared<PredictArgs>();
  auto* p = mcnn.add_subcommand(
      "predict",
      "Class probabilities per field, well and treatment from a checkpoint (labels optional; "
      "MPI-parallel under mpirun/srun)");
  add_mcnn_data_flags(p, a->input, a->flags, true);
  p->add_option("--checkpoint", a->checkpoint, "Checkpoint from keel mcnn train")->required();
  p->add_option("--out", a->out,
                "Per-field CSV; FILE.wells.csv and FILE.treatments.csv are written beside it")
      ->required()
      ->check(OutputFile);
  p->add_option("--features", a->features,
                "Also write the mean penultimate-layer profile (512 values) per treatment here");
  p->add_option("--precision", a->precision,
                "fp32 | bf16 (default: the precision the checkpoint was trained in)")
      ->check(CLI::IsMember({"fp32", "bf16"}));
  p->add_option("--threads", a->threads, "LibTorch threads per rank (0: cores / local ranks)")
      ->check(NonNegative);
  p->add_option("--batch", a->batch, "Images per forward pass")->capture_default_str()
      ->check(Positive);
  p->add_option("--loader-threads", a->loader_threads, "TIFF decoding threads per rank")
      ->capture_default_str()->check(Positive);
  p->add_flag("--skip-bad", a->skip_bad, "Skip (and count) rows whose TIFFs are missing or bad");
  p->callback([a, &global] { run_predict(*a, global); });
}

}  // namespace keel::cli
