#include "keel/mcnn/plan.h"

#include <fmt/format.h>

#include <algorithm>

#include "keel/core/error.h"

namespace keel::mcnn {

StepFit StepFit::measured(int b1, double t_a, int b2, double t_b, double t_c) {
  StepFit f;
  if (b1 == b2) {
    f.per_image_s = t_a / b1;
  } else {
    f.per_image_s = std::max(0.0, (t_b - t_a) / (b2 - b1));
    f.fixed_s = std::max(0.0, t_a - b1 * f.per_image_s);
  }
  // t_c = t_b ((1 - p) + p / 2)  =>  p = 2 (1 - t_c / t_b)
  f.parallel_fraction = std::clamp(2 * (1 - t_c / t_b), 0.0, 1.0);
  return f;
}

StepFit StepFit::given(double t, double fixed, int b, int threads, double p) {
  StepFit f;
  f.parallel_fraction = p;
  const double speedup = 1 / ((1 - p) + p / threads);
  f.fixed_s = fixed * speedup;
  f.per_image_s = (t - fixed) * speedup / b;
  return f;
}

double StepFit::step_s(double batch, int cores) const {
  return (fixed_s + batch * per_image_s) * ((1 - parallel_fraction) + parallel_fraction / cores);
}

double ring_allreduce_s(double bytes, int ranks, double latency_s, double bytes_per_s) {
  if (ranks <= 1) return 0;
  const double p = ranks;
  return 2 * (p - 1) * latency_s + 2 * (p - 1) / p * bytes / bytes_per_s;
}

PlanResult plan_training(const StepFit& fit, const Cluster& c, const Workload& w) {
  auto need = [](bool ok, const char* what, const char* option) {
    if (!ok) throw core::InputError(what, {"", 0, 0, option});
  };
  need(c.nodes >= 1 && c.ranks_per_node >= 1, "nodes and ranks per node must be >= 1", "--nodes");
  need(c.core_speed > 0 && c.cores_per_rank >= 1, "core speed and count must be positive",
       "--core-speed");
  need(c.net_gbps > 0 && c.shm_gbps > 0, "bandwidths must be positive", "--bandwidth-gbps");
  need(fit.per_image_s > 0, "the measured step time must be positive", "--step-time");
  PlanResult r;
  r.ranks = c.nodes * c.ranks_per_node;
  if (w.global_batch < r.ranks || w.global_batch % r.ranks != 0)
    throw core::InputError(fmt::format("global batch {} does not divide over {} ranks",
                                       w.global_batch, r.ranks),
                           {"", 0, 0, "--batch"}, "use a multiple of nodes x ranks per node");
  r.local_batch = w.global_batch / r.ranks;
  r.cores_per_rank = c.cores_per_rank;
  r.compute_s = fit.step_s(r.local_batch, r.cores_per_rank) / c.core_speed;
  r.forward_s = r.compute_s * w.forward_share;
  r.backward_s = r.compute_s - r.forward_s;

  // Gradient bytes (fp32 whatever the precision: master weights) and the FC layers' part.
  const double total_params = static_cast<double>(parameter_count(w.shape));
  const double flat = double{kFuseChannels} * (w.shape.height / 128) * (w.shape.width / 128);
  const double fc_params = flat * kFeatureDim + kFeatureDim + double{kFeatureDim} * w.shape.classes +
                           w.shape.classes;
  r.grad_mb = total_params * 4 / 1e6;
  r.fc_grad_mb = fc_params * 4 / 1e6;
  // The FC layers' share of backward (by FLOPs): when their gradients are ready.
  const double fc_flops = 2 * (flat * kFeatureDim + double{kFeatureDim} * w.shape.classes);
  const double ready_fc = r.backward_s * fc_flops / forward_flops(w.shape);

  const bool multi_node = c.nodes > 1;
  const double alpha = (multi_node ? c.net_latency_us : c.shm_latency_us) * 1e-6;
  const double beta = (multi_node ? c.net_gbps : c.shm_gbps) * 1e9 / 8;
  r.allreduce_fc_s = ring_allreduce_s(fc_params * 4, r.ranks, alpha, beta);
  r.allreduce_rest_s = ring_allreduce_s((total_params - fc_params) * 4, r.ranks, alpha, beta);
  r.allreduce_total_s = ring_allreduce_s(total_params * 4, r.ranks, alpha, beta);
  const double stats = ring_allreduce_s(24, r.ranks, alpha, beta);
  r.exposed_comm_s = c.overlap ? std::max(0.0, ready_fc + r.allreduce_fc_s - r.backward_s) +
                                     r.allreduce_rest_s + stats
                               : r.allreduce_total_s + stats;
  r.step_s = r.compute_s + r.exposed_comm_s;
  r.img_per_s = w.global_batch / r.step_s;
  r.efficiency = r.compute_s / r.step_s;
  r.steps_per_epoch = w.images_per_epoch / w.global_batch;  // the last partial batch is dropped
  r.epoch_s = static_cast<double>(r.steps_per_epoch) * r.step_s;
  r.total_s = r.epoch_s * w.epochs;
  return r;
}

}  // namespace keel::mcnn
