#pragma once
// `keel mcnn plan`: time per step, per epoch and to a target epoch count for N nodes x R ranks,
// from a step time measured on one rank (or given) and an allreduce cost model. LibTorch-free.
//
// Compute. One rank's step time on one core, measured at two batch sizes, is fitted as
// t1(b) = t0 + b * s (t0: per-step work that does not grow with the batch: optimizer, layer
// launches); a third measurement at 2b on 2 cores gives the parallel fraction p of Amdahl's law
// (t2 = t1 * ((1 - p) + p / 2)). A rank with b_local images on C cores of relative per-core speed
// k takes t_c = t1(b_local) * ((1 - p) + p / C) / k. Forward is `forward_share` of it (FLOPs: 1/3).
//
// Communication (ring allreduce, as OpenMPI's for large messages): M bytes over P ranks take
//   T(M) = 2 (P - 1) alpha + 2 (P - 1) / P * M / beta
// with alpha, beta the network's latency and per-link bandwidth when the ranks span nodes (a
// node-contiguous ring crosses each node's link once per direction), shared memory's otherwise.
// As keel does it, gradients are reduced in buckets, the FC layers' (99 % of the bytes at full
// size) first: they are ready after the FC share of backward and their transfer runs under the
// rest of backward; the convolution buckets and the step statistics go after backward. Exposed
// communication = max(0, ready_fc + T(M_fc) - t_backward) + T(M_rest) + T(stats); with
// `overlap` off, T(M_total) + T(stats) after backward.

#include <cstdint>

#include "keel/mcnn/model.h"

namespace keel::mcnn {

struct StepFit {
  double fixed_s = 0;          // t0, on one core
  double per_image_s = 0;      // s, on one core
  double parallel_fraction = 1;  // p
  // From (b1, t_a), (b2, t_b) on one core and t_c at b2 on two cores; t0 clamped at 0 and p to
  // [0, 1].
  static StepFit measured(int b1, double t_a, int b2, double t_b, double t_c);
  // From one step time `t` at batch b on `threads` cores, the rest assumed: t0 = `fixed` (on
  // those cores), p given.
  static StepFit given(double t, double fixed, int b, int threads, double p);
  // One rank's step on `cores` cores (relative speed 1).
  double step_s(double batch, int cores) const;
};

struct Cluster {
  int nodes = 1, ranks_per_node = 1, cores_per_rank = 1;
  double core_speed = 1;           // per-core speed relative to the measuring machine
  double net_gbps = 100, net_latency_us = 2;  // between nodes
  double shm_gbps = 25, shm_latency_us = 1;   // within a node (3.1 GB/s measured here)
  bool overlap = true;             // keel's default: allreduce during backward
};

struct Workload {
  ModelShape shape;
  int global_batch = 32;
  std::int64_t images_per_epoch = 3848;  // BBBC021's labelled images
  int epochs = 1;
  double forward_share = 1.0 / 3.0;
};

struct PlanResult {
  int ranks = 1, local_batch = 1, cores_per_rank = 1;
  double compute_s = 0, forward_s = 0, backward_s = 0;
  double grad_mb = 0, fc_grad_mb = 0;
  double allreduce_fc_s = 0, allreduce_rest_s = 0, allreduce_total_s = 0;
  double exposed_comm_s = 0;
  double step_s = 0, img_per_s = 0, efficiency = 0;  // efficiency: compute_s / step_s
  std::int64_t steps_per_epoch = 0;
  double epoch_s = 0, total_s = 0;
};

// Ring allreduce time of `bytes` over `ranks` (0 for one rank).
double ring_allreduce_s(double bytes, int ranks, double latency_s, double bytes_per_s);
// InputError for a global batch that does not divide over the ranks, or non-positive settings.
PlanResult plan_training(const StepFit& fit, const Cluster& cluster, const Workload& work);

}  // namespace keel::mcnn
