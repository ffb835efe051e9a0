// The M-CNN training loop (LibTorch translation unit).
#include "keel/mcnn/trainer.h"

#include <sys/resource.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <fstream>
#include <functional>
#include <cstdlib>
#include <numeric>
#include <random>
#include <thread>

#include "keel/core/atomic_file.h"
#include "keel/core/error.h"
#include "keel/core/interrupt.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"
#include "keel/core/timeline.h"
#include "keel/mcnn/bbbc021.h"
#include "keel/mcnn/eval.h"
#include "keel/mcnn/loader.h"
#include "keel/mcnn/tiff.h"
#include "keel/train/dist.h"
#include "keel/train/schedule.h"
#include "keel/train/torch_train.h"
#include "net.h"
#include "train_log.h"

namespace keel::mcnn {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double seconds_since(Clock::time_point origin) {
  return std::chrono::duration<double>(Clock::now() - origin).count();
}

int default_threads(const train::Comm& comm) {
  int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, hw / comm.local_size());
}

// Refuses a batch that cannot fit before anything is allocated (no std::bad_alloc or OOM killer
// halfway through an epoch). Peak per rank measured by bench_mcnn at 1024 x 1280 (fp32: 1.09 GiB
// at batch 1, 3.85 GiB at batch 8): ~0.7 GiB of weights and workspace plus ~300 bytes per input
// pixel of the local batch. Compared with MemAvailable and the address-space limit (ulimit -v).
void check_training_memory(int height, int width, int local_batch, int local_ranks, bool skip) {
  if (skip) return;
  constexpr double kGiB = 1024.0 * 1024 * 1024;
  const double per_rank = 0.7 * kGiB + 300.0 * height * width * local_batch;
  double avail = 0;  // the node's MemAvailable, shared by its ranks
  {
    std::ifstream in("/proc/meminfo");
    std::string key, unit;
    double kb = 0;
    while (in >> key >> kb >> unit)
      if (key == "MemAvailable:") avail = kb * 1024;
  }
  // A cgroup limit (Slurm --mem, containers) binds before MemAvailable: v2, then v1.
  for (const char* f : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(f);
    double limit = 0;
    if (in >> limit && limit > 0 && limit < 1e18) avail = avail > 0 ? std::min(avail, limit) : limit;
  }
  struct rlimit rl {};
  const bool limited = ::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY;
  const double as_limit = limited ? static_cast<double>(rl.rlim_cur) : 0;  // per process
  std::string why;
  if (limited && per_rank > as_limit)
    why = fmt::format("{:.1f} GiB allowed by the address-space limit (ulimit -v)", as_limit / kGiB);
  else if (avail > 0 && per_rank * local_ranks > avail)
    why = fmt::format("{:.1f} GiB available{}", avail / kGiB,
                      local_ranks > 1 ? fmt::format(" for {} ranks on this node", local_ranks)
                                      : std::string());
  if (why.empty()) return;
  throw core::InputError(
      fmt::format("a batch of {} images of {} x {} per rank needs about {:.1f} GiB, {}",
                  local_batch, height, width, per_rank / kGiB, why),
      {"", 0, 0, "--batch"},
      "lower --batch, spread the ranks over more nodes, or pass --ignore-memory-check");
}

// The stop request every rank acts on: any rank's Ctrl-C (SIGINT) or SIGTERM, the same on all
// ranks (SIGINT when any rank saw one), so all stop after the same step; 0 when none.
int agreed_stop_signal(const train::Comm& comm) {
  const int mine = core::stop_signal();
  double seen[2] = {mine == SIGINT ? 1.0 : 0.0, mine != 0 && mine != SIGINT ? 1.0 : 0.0};
  if (comm.size() > 1) comm.allreduce_sum(seen, 2);
  return seen[0] > 0 ? SIGINT : seen[1] > 0 ? SIGTERM : 0;
}

// Global batch b of the epoch's permutation, this rank's slice.
std::vector<std::vector<std::size_t>> rank_batches(const std::vector<std::size_t>& perm, int batch,
                                                   const train::Comm& comm) {
  const std::size_t local = static_cast<std::size_t>(batch / comm.size());
  const std::size_t nb = perm.size() / static_cast<std::size_t>(batch);  // last partial dropped
  std::vector<std::vector<std::size_t>> out(nb);
  for (std::size_t b = 0; b < nb; ++b) {
    auto first = perm.begin() + static_cast<std::ptrdiff_t>(b * batch + comm.rank() * local);
    out[b].assign(first, first + static_cast<std::ptrdiff_t>(local));
  }
  return out;
}

torch::Tensor to_input(Batch& b, bool channels_last, Precision precision) {
  return model_input(b.data.data(), b.n, b.channels, b.height, b.width, channels_last, precision);
}

// Forward pass in `precision`; the logits come back fp32 so the loss is computed in fp32.
torch::Tensor forward_logits(McnnNetImpl& net, Batch& b, bool channels_last, Precision precision) {
  PrecisionScope scope(precision);
  return net.forward(to_input(b, channels_last, precision)).to(torch::kFloat);
}

}  // namespace

TrainResult train_mcnn(const TrainOptions& opt, const train::Comm& comm) {
  // --- configuration checks (every rank sees the same input, so all fail alike) -----------
  if (opt.batch < comm.size() || opt.batch % comm.size() != 0)
    throw core::InputError(
        fmt::format("global batch {} is not divisible by {} ranks", opt.batch, comm.size()),
        {"", 0, 0, "--batch"});
  if (opt.epochs < 1) throw core::InputError("epochs must be >= 1", {"", 0, 0, "--epochs"});
  const Precision precision = parse_precision(opt.precision);
  if (opt.resume && opt.checkpoint.empty())
    throw core::InputError("--resume needs --checkpoint FILE", {"", 0, 0, "--resume"});
  // A fresh run would silently replace an earlier run's checkpoint after its first epoch.
  if (!opt.resume && !opt.overwrite && !opt.checkpoint.empty() &&
      std::filesystem::exists(opt.checkpoint))
    throw core::InputError("checkpoint exists from an earlier run",
                           {opt.checkpoint.string(), 0, 0, "--checkpoint"},
                           "continue that run with --resume, or pass --overwrite to start over");
  const double peak = train::scaled_lr(opt.lr, opt.batch, opt.reference_batch, opt.lr_scaling);
  train::LrSchedule sched;
  sched.peak_lr = peak;
  sched.warmup_epochs = opt.warmup_epochs;
  sched.total_epochs = opt.epochs;
  sched.decay = train::parse_lr_decay(opt.lr_decay);

  LoadOptions lo;
  lo.skip_bad = opt.skip_bad;
  Dataset ds = load_dataset(opt.input, lo);
  if (ds.samples.empty())
    throw core::InputError(opt.input.manifest.empty()
                               ? "no labeled images (no image row joins an MOA)"
                               : "no labeled images (every row's label cell is empty)",
                           {opt.input.origin().string(), 0, 0, {}});
  if (ds.skipped > 0 && comm.is_root()) {
    core::log_warn("skipped {} image rows with bad or missing files (--skip-bad)", ds.skipped);
    for (const auto& why : ds.skip_reasons) core::log_warn("  {}", why);
  }
  if (opt.resume) {  // the checkpoint's classes and channels; its numbering of the labels
    const std::string note = fit_to_checkpoint(ds, read_checkpoint_info(opt.checkpoint), opt.checkpoint);
    if (!note.empty() && comm.is_root()) core::log_warn("{}", note);
  }
  Image16 first = check_tiff16(ds.samples[0].files[0]);
  check_input_size(first.height, first.width);
  const int H = first.height, W = first.width;
  const int C = static_cast<int>(ds.channels.size());
  check_training_memory(H, W, opt.batch / comm.size(), comm.local_size(), opt.ignore_memory_check);
  Split split = split_train_val(ds, opt.val_fraction, opt.seed);
  if (split.train.size() < static_cast<std::size_t>(opt.batch))
    throw core::InputError(fmt::format("{} training images are fewer than one batch of {}",
                                       split.train.size(), opt.batch),
                           {"", 0, 0, "--batch"});

  TrainResult res;
  res.ranks = comm.size();
  res.threads = opt.threads > 0 ? opt.threads : default_threads(comm);
  res.height = H;
  res.width = W;
  res.train_images = split.train.size();
  res.val_images = split.val.size();
  res.skipped = ds.skipped;
  train::set_torch_threads(res.threads);

  // --- model, optimizer, state ----------------------------------------------------------
  torch::manual_seed(opt.seed);
  McnnNet net(ModelShape{H, W, static_cast<int>(ds.classes.size()), C});
  if (opt.channels_last) to_channels_last(*net);
  train::SgdConfig sc;
  sc.lr = sched.at(0);
  sc.momentum = opt.momentum;
  sc.weight_decay = opt.weight_decay;
  auto optim = train::make_sgd(*net, sc);
  int start_epoch = 0;
  std::int64_t step = 0;
  // A checkpoint written on a stop request holds a partly trained epoch: the batches done and
  // their sums, so the resumed epoch reports what an uninterrupted one would.
  std::size_t start_batch = 0;
  json partial;
  if (opt.resume) {
    // Every rank reads the same file (it must be on a shared path), so no state is sent.
    auto meta = train::load_checkpoint(opt.checkpoint, *net, optim.get());
    if (opt.channels_last) to_channels_last(*net);
    start_epoch = static_cast<int>(meta.epoch);
    step = meta.step;
    json extra = json::parse(meta.extra_json);
    for (const auto& e : extra.at("epochs")) res.epochs.push_back(epoch_from_json(e));
    res.step_losses = extra.at("step_losses").get<std::vector<double>>();
    start_batch = extra.value("next_batch", std::size_t{0});
    if (start_batch > 0) partial = extra.at("partial");
    if (static_cast<std::uint64_t>(extra.at("seed")) != opt.seed ||
        static_cast<int>(extra.at("batch")) != opt.batch)
      throw core::InputError("--seed and --batch must match the checkpoint's to resume",
                             {opt.checkpoint.string(), 0, 0, {}});
    if (const int planned = extra.value("schedule_epochs", opt.epochs);
        planned != opt.epochs && comm.is_root())
      core::log_warn(
          "--epochs {} differs from the checkpoint's {}: the learning-rate schedule now ends at "
          "epoch {}, so the rates from epoch {} on differ from the original plan",
          opt.epochs, planned, opt.epochs, start_epoch + 1);
    if (extra.value("precision", std::string("fp32")) != precision_name(precision) &&
        comm.is_root())
      core::log_warn("resuming a {} checkpoint in {}: the run will not match an uninterrupted one",
                     extra.value("precision", std::string("fp32")), precision_name(precision));
  } else {
    train::broadcast_parameters(*net, comm);
  }
  train::GradientAverager averager(
      *net, comm, static_cast<std::size_t>(opt.bucket_mb * 1024 * 1024), opt.overlap_allreduce);
  res.buckets = static_cast<int>(averager.buckets());

  // Checkpoint after `epochs_done` whole epochs and, on a stop request, `next_batch` batches of
  // the next one (with their sums in `part`). Rank 0 writes; every rank reads it on resume.
  auto save = [&](int epochs_done, std::size_t next_batch, const json& part) {
    if (opt.checkpoint.empty() || !comm.is_root()) return;
    json extra = {{"epochs", json::array()},
                  {"step_losses", res.step_losses},
                  {"seed", opt.seed},
                  {"batch", opt.batch},
                  {"height", H},
                  {"width", W},
                  {"classes", ds.classes},
                  {"channels", ds.channels},
                  {"val_fraction", opt.val_fraction},
                  {"schedule_epochs", opt.epochs},
                  {"precision", precision_name(precision)},
                  {"next_batch", next_batch},
                  {"partial", part}};
    for (const auto& s : res.epochs) extra["epochs"].push_back(epoch_json(s));
    train::save_checkpoint(opt.checkpoint, *net, *optim, {epochs_done, step, opt.seed, extra.dump()});
  };
  core::install_stop_handlers();

  std::vector<core::PhaseRecord> timeline;
  comm.barrier();  // a common time origin (same clock on one node; barrier-aligned across nodes)
  const auto origin = Clock::now();
  const int last_epoch =
      opt.stop_after > 0 ? std::min(opt.epochs, start_epoch + opt.stop_after) : opt.epochs;

  for (int epoch = start_epoch; epoch < last_epoch; ++epoch) {
    const auto t_epoch = Clock::now();
    std::vector<std::size_t> perm = split.train;
    std::mt19937_64 rng(opt.seed * 1000003ull + static_cast<std::uint64_t>(epoch));
    std::shuffle(perm.begin(), perm.end(), rng);
    auto batches = rank_batches(perm, opt.batch, comm);
    const std::size_t nb = batches.size();
    const std::size_t done = epoch == start_epoch ? std::min(start_batch, nb) : 0;
    batches.erase(batches.begin(), batches.begin() + static_cast<std::ptrdiff_t>(done));
    PrefetchLoader loader(ds, std::move(batches), H, W, opt.loader_threads, opt.prefetch);
    core::Progress bar(fmt::format("epoch {}/{}", epoch + 1, opt.epochs),
                       nb * static_cast<std::size_t>(opt.batch), opt.progress && comm.is_root(),
                       "img");
    double loss_sum = 0, correct_sum = 0, seen = 0, lr = 0, compute_s = 0, comm_s = 0;
    double seconds_before = 0, seen_before = 0;  // of this epoch, in the run that was stopped
    if (done > 0) {
      loss_sum = partial.at("loss_sum");
      correct_sum = partial.at("correct_sum");
      seen_before = seen = partial.at("seen");
      compute_s = partial.at("compute_s");
      comm_s = partial.at("comm_s");
      seconds_before = partial.value("train_s", 0.0);
    }
    for (std::size_t b = done; b < nb; ++b) {
      Batch batch = *loader.next();
      lr = sched.at(epoch + static_cast<double>(b) / static_cast<double>(nb));
      train::set_sgd_lr(*optim, lr);
      const double t0 = seconds_since(origin);
      torch::Tensor y = torch::from_blob(batch.labels.data(), {batch.n}, torch::kLong);
      optim->zero_grad();
      torch::Tensor logits = forward_logits(*net, batch, opt.channels_last, precision);
      torch::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
      averager.begin_step();
      loss.backward();
      // [loss * n, correct, n] summed over ranks gives the global-batch mean loss and accuracy.
      double stats[3] = {loss.item<double>() * batch.n, logits.argmax(1).eq(y).sum().item<double>(),
                         static_cast<double>(batch.n)};
      const double t1 = seconds_since(origin);
      averager.run();
      res.buckets_overlapped = static_cast<int>(averager.started_in_backward());
      comm.allreduce_sum(stats, 3);
      const double t2 = seconds_since(origin);
      optim->step();
      timeline.push_back({comm.rank(), step, core::TimelinePhase::compute, t0, t1});
      timeline.push_back({comm.rank(), step, core::TimelinePhase::comm, t1, t2});
      compute_s += t1 - t0;
      comm_s += t2 - t1;
      ++step;
      res.step_losses.push_back(stats[0] / stats[2]);
      loss_sum += stats[0];
      correct_sum += stats[1];
      seen += stats[2];
      bar.set_note(fmt::format("loss {:.4f}", stats[0] / stats[2]));
      bar.update(static_cast<std::uint64_t>(seen));
      if (opt.test_kill_at_step > 0 && step == opt.test_kill_at_step &&
          comm.rank() == opt.test_kill_rank)
        std::raise(SIGKILL);  // test hook: this rank dies as if killed -9
      if (opt.test_stop_at_step > 0 && step == opt.test_stop_at_step)
        for (int k = 0; k < opt.test_stop_signals; ++k) core::raise_stop(SIGINT);
      // A stop request (Ctrl-C, SIGTERM) on any rank stops every rank after the same step.
      const int sig = agreed_stop_signal(comm);
      if (sig && b + 1 < nb) {
        bar.finish();
        save(epoch, b + 1,
             {{"loss_sum", loss_sum}, {"correct_sum", correct_sum}, {"seen", seen},
              {"compute_s", compute_s}, {"comm_s", comm_s},
              {"train_s", seconds_before + seconds_since(t_epoch)}});
        comm.barrier();  // no rank leaves (and ends the job) before rank 0 has written
        throw core::Interrupted(
            sig, opt.checkpoint.empty()
                     ? fmt::format("stopped by {} after step {} (no --checkpoint: nothing saved)",
                                   sig == SIGINT ? "Ctrl-C" : "SIGTERM", step)
                     : fmt::format("stopped by {} after step {}; checkpoint {} written: continue "
                                   "with the same command and --resume",
                                   sig == SIGINT ? "Ctrl-C" : "SIGTERM", step,
                                   opt.checkpoint.string()));
      }
    }
    bar.finish();
    const double run_train_s = seconds_since(t_epoch);  // this process's part of the epoch
    const double train_s = seconds_before + run_train_s;

    // Validation: rank r takes every R-th image; sums are reduced.
    double val[3] = {0, 0, 0};
    {
      torch::NoGradGuard no_grad;
      std::vector<std::size_t> mine;
      for (std::size_t i = static_cast<std::size_t>(comm.rank()); i < split.val.size();
           i += static_cast<std::size_t>(comm.size()))
        mine.push_back(split.val[i]);
      std::vector<std::vector<std::size_t>> vb;
      const std::size_t lb = static_cast<std::size_t>(std::max(1, opt.batch / comm.size()));
      for (std::size_t i = 0; i < mine.size(); i += lb)
        vb.emplace_back(mine.begin() + static_cast<std::ptrdiff_t>(i),
                        mine.begin() + static_cast<std::ptrdiff_t>(std::min(mine.size(), i + lb)));
      PrefetchLoader vloader(ds, std::move(vb), H, W, opt.loader_threads, opt.prefetch);
      while (auto batch = vloader.next()) {
        torch::Tensor logits = forward_logits(*net, *batch, opt.channels_last, precision);
        torch::Tensor y = torch::from_blob(batch->labels.data(), {batch->n}, torch::kLong);
        val[0] +=
            torch::nn::functional::cross_entropy(
                logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                .item<double>();
        val[1] += logits.argmax(1).eq(y).sum().item<double>();
        val[2] += batch->n;
      }
    }
    comm.allreduce_sum(val, 3);

    EpochStats e;
    e.epoch = epoch + 1;
    e.lr = lr;
    e.train_loss = seen > 0 ? loss_sum / seen : 0;
    e.train_acc = seen > 0 ? correct_sum / seen : 0;
    e.val_loss = val[2] > 0 ? val[0] / val[2] : 0;
    e.val_acc = val[2] > 0 ? val[1] / val[2] : 0;
    e.seconds = seconds_before + seconds_since(t_epoch);
    e.img_per_s = train_s > 0 ? seen / train_s : 0;
    res.run_images += static_cast<std::size_t>(seen - seen_before);
    res.run_train_s += run_train_s;
    auto fp = train::fingerprint(*net);
    e.param_sum = fp.sum;
    e.param_l2 = fp.l2;
    e.compute_s = compute_s;
    e.comm_s = comm_s;
    res.epochs.push_back(e);
    if (comm.is_root()) {
      core::log_info(
          "epoch {}/{}  lr {:.4g}  train loss {:.4f} acc {:.1f}%  {}  {:.1f} img/s{}",
          e.epoch, opt.epochs, e.lr, e.train_loss, 100 * e.train_acc,
          split.val.empty() ? std::string("no validation split")
                            : fmt::format("val loss {:.4f} acc {:.1f}%", e.val_loss, 100 * e.val_acc),
          e.img_per_s,
          comm.size() > 1 ? fmt::format("  allreduce {:.1f}% of step time",
                                        100 * e.comm_s / std::max(1e-9, e.compute_s + e.comm_s))
                          : std::string());
      if (!opt.log.empty()) write_log(opt.log, opt, res);
    }
    save(epoch + 1, 0, json());
    // A stop request during the epoch's last step or validation: the epoch is saved whole.
    if (const int sig = agreed_stop_signal(comm); sig && epoch + 1 < last_epoch) {
      comm.barrier();
      throw core::Interrupted(sig, fmt::format("stopped by {} after epoch {}{}",
                                               sig == SIGINT ? "Ctrl-C" : "SIGTERM", epoch + 1,
                                               opt.checkpoint.empty()
                                                   ? std::string(" (no --checkpoint: nothing saved)")
                                                   : "; checkpoint " + opt.checkpoint.string() +
                                                         " written: continue with --resume"));
    }
  }

  if (!opt.timeline.empty()) {
    std::vector<double> packed;
    for (const auto& r : timeline)
      packed.insert(packed.end(),
                    {static_cast<double>(r.rank), static_cast<double>(r.iteration),
                     r.phase == core::TimelinePhase::comm ? 1.0 : 0.0, r.start_s, r.end_s});
    auto all = comm.gather(packed);
    if (comm.is_root()) {
      std::vector<core::PhaseRecord> recs;
      for (std::size_t i = 0; i + 4 < all.size(); i += 5)
        recs.push_back({static_cast<int>(all[i]), static_cast<std::int64_t>(all[i + 1]),
                        all[i + 2] > 0.5 ? core::TimelinePhase::comm : core::TimelinePhase::compute,
                        all[i + 3], all[i + 4]});
      core::write_timeline_csv(opt.timeline, recs);
    }
  }
  comm.barrier();
  return res;
}

void predict_mcnn(const Dataset& ds, const std::vector<std::size_t>& indices,
                  const std::filesystem::path& checkpoint, const PredictOptions& opt,
                  const std::function<void(Prediction&&)>& sink) {
  const CheckpointInfo info = read_checkpoint_info(checkpoint);
  // Default: the precision the checkpoint was trained in (fp32 for checkpoints older than bf16).
  const Precision precision = parse_precision(opt.precision.empty() ? info.precision : opt.precision);
  if (info.classes != ds.classes || info.channels.size() != ds.channels.size())
    throw core::InputError("the data does not fit the checkpoint (classes or channels differ)",
                           {checkpoint.string(), 0, 0, {}}, "fit_to_checkpoint() first");
  train::set_torch_threads(opt.threads);
  McnnNet net(ModelShape{info.height, info.width, static_cast<int>(info.classes.size()),
                         static_cast<int>(info.channels.size())});
  train::load_checkpoint(checkpoint, *net, nullptr);
  to_channels_last(*net);
  torch::NoGradGuard no_grad;
  std::vector<std::vector<std::size_t>> batches;
  const std::size_t b = static_cast<std::size_t>(std::max(1, opt.batch));
  for (std::size_t i = 0; i < indices.size(); i += b)
    batches.emplace_back(
        indices.begin() + static_cast<std::ptrdiff_t>(i),
        indices.begin() + static_cast<std::ptrdiff_t>(std::min(indices.size(), i + b)));
  PrefetchLoader loader(ds, std::move(batches), info.height, info.width,
                        std::max(1, opt.loader_threads), 2);
  while (auto bt = loader.next()) {
    torch::Tensor f, logits;
    {
      PrecisionScope scope(precision);
      f = net->features(to_input(*bt, true, precision));  // [n,512]
      logits = net->fc2_logits(f);
    }
    f = f.to(torch::kFloat).contiguous();
    torch::Tensor probs = torch::softmax(logits.to(torch::kFloat), 1).contiguous();
    const auto k = probs.size(1);
    for (int i = 0; i < bt->n; ++i) {
      Prediction p;
      p.index = bt->indices[static_cast<std::size_t>(i)];
      const float* pr = probs.data_ptr<float>() + i * k;
      p.probs.assign(pr, pr + k);
      p.predicted = static_cast<int>(std::max_element(pr, pr + k) - pr);
      const float* fr = f.data_ptr<float>() + i * f.size(1);
      p.features.assign(fr, fr + f.size(1));
      sink(std::move(p));
    }
  }
}

std::vector<Prediction> predict_mcnn(const Dataset& ds, const std::vector<std::size_t>& indices,
                                     const std::filesystem::path& checkpoint, int threads,
                                     int batch, const std::string& precision) {
  std::vector<Prediction> out;
  predict_mcnn(ds, indices, checkpoint, {threads, batch, precision, 1},
               [&](Prediction&& p) { out.push_back(std::move(p)); });
  return out;
}

}  // namespace keel::mcnn
