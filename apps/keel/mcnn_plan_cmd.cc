// `keel mcnn plan`: predicted step, epoch and run time on N nodes x R ranks (keel::mcnn plan.h),
// from one rank's step time measured here at two batch sizes, or given.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <memory>

#include "cli.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/core/table.h"
#include "keel/mcnn/bench.h"
#include "keel/mcnn/plan.h"
#include "keel/train/dist.h"

namespace keel::cli {

namespace {

struct PlanArgs {
  mcnn::Cluster cluster;
  mcnn::Workload work;
  std::string precision = "fp32";
  double step_time = 0, step_fixed = 0, parallel_fraction = 0.95;
  int step_batch = 2, step_threads = 2, measure_batch = 2, measure_steps = 2;
  bool sequential = false;
};

std::string duration(double s) {
  if (s < 120) return fmt::format("{:.2f} s", s);
  if (s < 7200) return fmt::format("{:.1f} min", s / 60);
  return fmt::format("{:.2f} h", s / 3600);
}

void run_plan(PlanArgs a, const GlobalOptions& g) {
  mcnn::check_input_size(a.work.shape.height, a.work.shape.width);
  a.cluster.overlap = !a.sequential;
  mcnn::StepFit fit;
  std::string source;
  if (a.step_time > 0) {
    if (a.step_fixed >= a.step_time)
      throw core::InputError("--step-fixed must be below --step-time", {"", 0, 0, "--step-fixed"});
    fit = mcnn::StepFit::given(a.step_time, a.step_fixed, a.step_batch, a.step_threads,
                               a.parallel_fraction);
    source = fmt::format("given: {:.3f} s per step at batch {} on {} cores, parallel fraction {}",
                         a.step_time, a.step_batch, a.step_threads, a.parallel_fraction);
  } else {
    // One rank here, the model's real training step: batch b and 2b on one thread, 2b on two.
    mcnn::StepBenchOptions o;
    o.height = a.work.shape.height;
    o.width = a.work.shape.width;
    o.precision = mcnn::parse_precision(a.precision);
    o.steps = a.measure_steps;
    o.warmup = o.precision == mcnn::Precision::bf16 ? 4 : 2;
    const int b = a.measure_batch;
    auto measure = [&](int batch, int threads) {
      o.batch = batch;
      o.threads = threads;
      if (!g.quiet) core::log_info("measuring one rank: batch {} on {} thread(s)", batch, threads);
      return mcnn::bench_train_steps(o, train::Comm::world()).median_s;
    };
    const double ta = measure(b, 1), tb = measure(2 * b, 1), tc = measure(2 * b, 2);
    fit = mcnn::StepFit::measured(b, ta, 2 * b, tb, tc);
    source = fmt::format("measured here: 1 thread {:.3f} s at batch {}, {:.3f} s at batch {}; 2 "
                         "threads {:.3f} s at batch {} (parallel fraction {:.2f})",
                         ta, b, tb, 2 * b, tc, 2 * b, fit.parallel_fraction);
  }
  const auto r = mcnn::plan_training(fit, a.cluster, a.work);
  const auto& c = a.cluster;
  if (g.json) {
    print_out(nlohmann::json{{"nodes", c.nodes}, {"ranks_per_node", c.ranks_per_node},
                             {"ranks", r.ranks}, {"cores_per_rank", r.cores_per_rank},
                             {"global_batch", a.work.global_batch}, {"local_batch", r.local_batch},
                             {"height", a.work.shape.height}, {"width", a.work.shape.width},
                             {"precision", a.precision}, {"overlap", c.overlap},
                             {"step_fixed_s", fit.fixed_s}, {"step_per_image_s", fit.per_image_s},
                             {"parallel_fraction", fit.parallel_fraction}, {"source", source},
                             {"compute_s", r.compute_s}, {"grad_mb", r.grad_mb},
                             {"fc_grad_mb", r.fc_grad_mb}, {"allreduce_fc_s", r.allreduce_fc_s},
                             {"allreduce_rest_s", r.allreduce_rest_s},
                             {"exposed_comm_s", r.exposed_comm_s}, {"step_s", r.step_s},
                             {"img_per_s", r.img_per_s}, {"efficiency", r.efficiency},
                             {"steps_per_epoch", r.steps_per_epoch}, {"epoch_s", r.epoch_s},
                             {"epochs", a.work.epochs}, {"total_s", r.total_s}}
                  .dump(2));
    return;
  }
  core::Table t({"per step", "time", "notes"});
  t.add_row({"compute", fmt::format("{:.3f} s", r.compute_s),
             fmt::format("{} images/rank on {} cores (forward {:.3f} s, backward {:.3f} s)",
                         r.local_batch, r.cores_per_rank, r.forward_s, r.backward_s)});
  const std::string link = c.nodes > 1 ? fmt::format("{} Gb/s, {} us", c.net_gbps, c.net_latency_us)
                                       : fmt::format("shared memory {} Gb/s", c.shm_gbps);
  t.add_row({"allreduce FC", fmt::format("{:.3f} s", r.allreduce_fc_s),
             fmt::format("{:.1f} MB, ring over {} ranks, {}{}", r.fc_grad_mb, r.ranks, link,
                         c.overlap ? ", during backward" : "")});
  t.add_row({"allreduce rest", fmt::format("{:.3f} s", r.allreduce_rest_s),
             fmt::format("{:.1f} MB after backward", r.grad_mb - r.fc_grad_mb)});
  t.add_row({"exposed comm", fmt::format("{:.3f} s", r.exposed_comm_s), ""});
  t.add_row({"step", fmt::format("{:.3f} s", r.step_s),
             fmt::format("{:.1f} img/s, efficiency {:.1f}%", r.img_per_s, 100 * r.efficiency)});
  print_out(fmt::format(
      "M-CNN {}x{} {}, {} node(s) x {} rank(s) x {} cores, global batch {}\n{}\n\n{}\nepoch: {} "
      "steps ({} images) = {}\n{} epochs: {}",
      a.work.shape.height, a.work.shape.width, a.precision, c.nodes, c.ranks_per_node,
      r.cores_per_rank, a.work.global_batch, source, t.render(), r.steps_per_epoch,
      a.work.images_per_epoch, duration(r.epoch_s), a.work.epochs, duration(r.total_s)));
}

}  // namespace

void register_mcnn_plan(CLI::App& mcnn, const GlobalOptions& global) {
  auto a = std::make_shared<PlanArgs>();
  auto* p = mcnn.add_subcommand(
      "plan", "Predicted step, epoch and run time on N nodes x R ranks (docs/mcnn.md, Planning)");
  p->add_option("--nodes", a->cluster.nodes, "Nodes")->capture_default_str()->check(Positive);
  p->add_option("--ranks-per-node", a->cluster.ranks_per_node, "MPI ranks per node")
      ->capture_default_str()->check(Positive);
  p->add_option("--cores-per-rank", a->cluster.cores_per_rank, "Cores (LibTorch threads) per rank")
      ->capture_default_str()->check(Positive);
  p->add_option("--core-speed", a->cluster.core_speed,
                "Per-core speed of the target relative to the measuring machine")
      ->capture_default_str()->check(Positive);
  p->add_option("--bandwidth-gbps", a->cluster.net_gbps, "Network link bandwidth between nodes")
      ->capture_default_str()->check(Positive);
  p->add_option("--latency-us", a->cluster.net_latency_us, "Network latency per message")
      ->capture_default_str()->check(NonNegative);
  p->add_option("--shm-bandwidth-gbps", a->cluster.shm_gbps,
                "Within a node (3.1 GB/s measured for 2 ranks here)")
      ->capture_default_str()->check(Positive);
  p->add_option("--shm-latency-us", a->cluster.shm_latency_us, "Within a node")
      ->capture_default_str()->check(NonNegative);
  p->add_flag("--sequential-allreduce", a->sequential,
              "Plan for reducing after backward instead of during it");
  p->add_option("--batch", a->work.global_batch, "Global batch")->capture_default_str()
      ->check(Positive);
  p->add_option("--images", a->work.images_per_epoch, "Training images per epoch")
      ->capture_default_str()->check(Positive);
  p->add_option("--epochs", a->work.epochs, "Epochs to the target")->capture_default_str()
      ->check(Positive);
  p->add_option("--height", a->work.shape.height, "Image height")->capture_default_str();
  p->add_option("--width", a->work.shape.width, "Image width")->capture_default_str();
  p->add_option("--classes", a->work.shape.classes, "Classes")->capture_default_str()
      ->check(Positive);
  p->add_option("--channels", a->work.shape.channels, "Input channels")->capture_default_str()
      ->check(Positive);
  p->add_option("--precision", a->precision, "fp32 | bf16 (of the measurement)")
      ->capture_default_str()->check(CLI::IsMember({"fp32", "bf16"}));
  p->add_option("--step-time", a->step_time,
                "Give one rank's step time (s) instead of measuring it here")
      ->check(Positive);
  p->add_option("--step-fixed", a->step_fixed, "Part of --step-time that does not grow with the batch")
      ->check(NonNegative);
  p->add_option("--step-batch", a->step_batch, "Batch of --step-time")->capture_default_str()
      ->check(Positive);
  p->add_option("--step-threads", a->step_threads, "Cores of --step-time")->capture_default_str()
      ->check(Positive);
  p->add_option("--parallel-fraction", a->parallel_fraction,
                "With --step-time: Amdahl's parallel fraction of a step (measured otherwise)")
      ->capture_default_str()
      ->check(Finite & CLI::Range(0.0, 1.0));
  p->add_option("--measure-batch", a->measure_batch,
                "Measure at this batch and twice it on 1 thread, twice it on 2 threads")
      ->capture_default_str()->check(Positive);
  p->add_option("--measure-steps", a->measure_steps, "Timed steps per measurement")
      ->capture_default_str()->check(Positive);
  p->callback([a, &global] { run_plan(*a, global); });
}

}  // namespace keel::cli
