#pragma once
// Training-step timing of M-CNN for bench/bench_mcnn: the trainer's step (forward in the chosen
// precision, fp32 cross-entropy, backward, gradient allreduce over the ranks of `comm`, Nesterov
// SGD) on one fixed random batch, after warm-up steps. No data loading: it measures the network.

#include <cstdint>
#include <vector>

#include "keel/mcnn/model.h"

namespace keel::train {
class Comm;
}

namespace keel::mcnn {

struct StepBenchOptions {
  int height = 1024, width = 1280;
  int batch = 4;    // per rank
  int threads = 2;  // LibTorch intra-op threads
  int warmup = 5, steps = 5;
  Precision precision = Precision::fp32;
  bool channels_last = true;
  bool sparse_backward = true;  // McnnNetImpl::set_sparse_backward
  double bucket_mb = 25;
  std::uint64_t seed = 1;
};

struct StepBenchResult {
  std::vector<double> step_s;  // timed steps, wall seconds (rank 0's view under MPI)
  double median_s = 0;
  double peak_rss_mb = 0;  // this process's peak resident set so far
};

StepBenchResult bench_train_steps(const StepBenchOptions& opt, const train::Comm& comm);

}  // namespace keel::mcnn
