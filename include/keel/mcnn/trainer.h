#pragma once
// `keel mcnn train`: synchronous data-parallel SGD on M-CNN. One process, or R MPI ranks each
// taking its slice of every global batch; gradients are averaged over ranks, so the run follows
// the single-process run with the same global batch (up to floating-point summation order).

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "keel/mcnn/manifest.h"

namespace keel::train {
class Comm;
}

namespace keel::mcnn {

struct TrainOptions {
  DataSource input;                  // BBBC021 directory or manifest, and the image root
  int epochs = 10;
  int batch = 32;                    // global batch, split evenly over ranks
  double lr = 0.01;                  // base rate at `reference_batch`
  int reference_batch = 32;
  std::string lr_scaling = "linear";  // linear | none
  double warmup_epochs = 1;
  std::string lr_decay = "cosine";    // cosine | step | none
  double momentum = 0.9, weight_decay = 5e-4;
  double val_fraction = 0.2;
  std::uint64_t seed = 1;
  int threads = 0;                   // LibTorch threads per rank; 0: cores / local ranks
  int loader_threads = 1, prefetch = 2;
  bool overlap_allreduce = true;     // start bucket allreduces during backward
  double bucket_mb = 25;             // allreduce fusion bucket
  bool channels_last = true;
  std::string precision = "fp32";  // fp32 | bf16 (mixed: fp32 master weights, loss, optimizer)
  bool skip_bad = false;
  std::filesystem::path log;         // .csv -> per-epoch CSV, otherwise JSON (epochs + steps)
  std::filesystem::path checkpoint;  // written atomically after every epoch
  bool resume = false;               // continue from `checkpoint`
  bool overwrite = false;            // a fresh run may replace an existing `checkpoint`
  bool ignore_memory_check = false;  // train even when the batch looks too big for the memory
  // Test hook: after optimizer step N, act as if Ctrl-C arrived this many times (1: stop with a
  // checkpoint; 2: the second exits at once).
  std::int64_t test_stop_at_step = 0;
  int test_stop_signals = 1;
  // Test hook: rank `test_kill_rank` kills itself (SIGKILL) after optimizer step N.
  std::int64_t test_kill_at_step = 0;
  int test_kill_rank = 0;
  int stop_after = 0;                // stop after this many epochs of this run (0: never)
  std::filesystem::path timeline;    // compute/comm phases per rank and iteration
  bool progress = false;             // progress bar on rank 0
};

struct EpochStats {
  int epoch = 0;  // 1-based
  double lr = 0, train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0;
  double img_per_s = 0, seconds = 0;
  double param_sum = 0, param_l2 = 0;  // weight fingerprint after the epoch
  // This rank's seconds in forward + backward and in the gradient/statistics allreduce (rank 0's
  // on rank 0): comm_s / (compute_s + comm_s) is what data parallelism costs per step.
  double compute_s = 0, comm_s = 0;
};

struct TrainResult {
  std::vector<EpochStats> epochs;   // all epochs so far, including those before a resume
  std::vector<double> step_losses;  // global-batch mean loss per optimizer step
  int ranks = 1, threads = 1, height = 0, width = 0;
  std::size_t train_images = 0, val_images = 0;
  int skipped = 0, buckets = 0;
  int buckets_overlapped = 0;  // buckets of the last step whose allreduce began during backward
  // This process's epochs only (not those before a resume): images trained on and seconds.
  std::size_t run_images = 0;
  double run_train_s = 0;
};

TrainResult train_mcnn(const TrainOptions& opt, const train::Comm& comm);

}  // namespace keel::mcnn
