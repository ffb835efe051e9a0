#pragma once
// The LibTorch half of keel's training core, shared by the mcnn and nmt trainers: optimizers,
// gradient clipping and averaging over ranks, checkpoints. LibTorch types are only declared here so
// that including this header costs nothing; the definitions live in one translation unit.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace torch {
namespace nn {
class Module;
}
namespace optim {
class Optimizer;
}
}  // namespace torch

namespace keel::train {

class Comm;

// Sets LibTorch's intra-op threads (it defaults to 1 here) and inter-op threads to 1.
void set_torch_threads(int threads);

struct SgdConfig {
  double lr = 0.01;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = true;
  // One pass per parameter instead of LibTorch's four tensor ops (same state and checkpoints;
  // false: torch::optim::SGD itself, the reference the tests compare with).
  bool fused = true;
};
std::unique_ptr<torch::optim::Optimizer> make_sgd(torch::nn::Module& model, const SgdConfig& cfg);
// Parameters the fused pass could not take in the last step of a fused SGD (then LibTorch's SGD
// ran that step; tests assert 0 for M-CNN); -1 for any other optimizer.
std::int64_t sgd_fallbacks(const torch::optim::Optimizer& opt);
// Sets the learning rate of every parameter group of an SGD optimizer.
void set_sgd_lr(torch::optim::Optimizer& opt, double lr);

// Adam (Kingma & Ba); the Transformer's betas and eps are the defaults here.
struct AdamConfig {
  double lr = 5e-4;
  double beta1 = 0.9, beta2 = 0.98;
  double eps = 1e-9;
  double weight_decay = 0;
};
std::unique_ptr<torch::optim::Optimizer> make_adam(torch::nn::Module& model, const AdamConfig& cfg);
// Sets the learning rate of every parameter group of any LibTorch optimizer (SGD, Adam, ...).
void set_lr(torch::optim::Optimizer& opt, double lr);

// Scales all gradients so that their global L2 norm is at most `max_norm` (no-op when
// max_norm <= 0); returns the norm before clipping.
double clip_grad_norm(torch::nn::Module& model, double max_norm);

// Copies rank `root`'s parameters and buffers to every rank.
void broadcast_parameters(torch::nn::Module& model, const Comm& comm, int root = 0);

// Averages gradients over ranks: parameters are packed, last first (the order backward produces
// them), into fused buckets of about `bucket_bytes` (Horovod's fusion threshold) and each bucket is
// summed with one allreduce, then divided by the number of ranks. No-op on a single rank.
//
// Sequential (overlap = false): run() after backward reduces the buckets one after another.
// Overlapped: call begin_step() before backward; a gradient hook on every parameter copies its
// gradient into its bucket as backward produces it, and a full bucket starts a non-blocking
// allreduce at once (in bucket order on every rank), so communication runs while backward still
// computes the earlier layers; run() then waits and writes the averages back. The hooks assume one
// backward per step onto zeroed gradients (what they see is the final gradient). Both modes sum
// the same buckets, so they give the same result.
class GradientAverager {
 public:
  GradientAverager(torch::nn::Module& model, const Comm& comm, std::size_t bucket_bytes,
                   bool overlap = false);
  ~GradientAverager();
  void begin_step();
  void run();
  std::size_t buckets() const { return bucket_first_.size(); }
  // Buckets whose allreduce the last run() found already started by the hooks (overlap only).
  std::size_t started_in_backward() const { return started_in_backward_; }

 private:
  struct Params;
  void on_grad(std::size_t index, const void* grad);  // from the hook of parameter `index`
  void start_ready_buckets();
  std::unique_ptr<Params> params_;
  const Comm& comm_;
  bool overlap_ = false, armed_ = false;
  std::vector<std::size_t> bucket_first_;  // index into params of each bucket's first tensor
  std::vector<std::size_t> bucket_of_;     // bucket of each parameter
  std::vector<std::size_t> offset_;        // each parameter's offset in buffer_ (overlap)
  std::vector<std::size_t> missing_;       // per bucket: gradients not yet copied this step
  std::vector<char> copied_;               // per parameter: copied this step
  std::size_t next_bucket_ = 0;            // first bucket whose allreduce has not started
  std::size_t started_in_backward_ = 0;
  std::vector<float> buffer_;
};

// Everything a resumed run needs to continue as if never stopped.
struct CheckpointMeta {
  std::int64_t epoch = 0;  // epochs completed
  std::int64_t step = 0;   // optimizer steps taken
  std::uint64_t seed = 0;  // run seed (data order is a function of seed and epoch)
  std::string extra_json;  // caller's metadata (model shape, classes), stored verbatim
};

// Writes model parameters/buffers, optimizer state (momentum or Adam moments), `meta` and
// LibTorch's CPU RNG state to `file` atomically, sealed with a CRC-32 (core/checksum.h).
void save_checkpoint(const std::filesystem::path& file, torch::nn::Module& model,
                     torch::optim::Optimizer& opt, const CheckpointMeta& meta);
// Restores what save_checkpoint wrote; throws InputError when the file is missing, damaged
// (checksum or size: "corrupt (checksum mismatch)", "truncated or corrupt"), unreadable or does
// not fit `model`. `opt` may be null (evaluation).
CheckpointMeta load_checkpoint(const std::filesystem::path& file, torch::nn::Module& model,
                               torch::optim::Optimizer* opt);
// Reads only the metadata of a checkpoint.
CheckpointMeta read_checkpoint_meta(const std::filesystem::path& file);

// Sum and L2 norm of all parameters: a cheap fingerprint for comparing runs.
struct ParamFingerprint {
  double sum = 0, l2 = 0;
};
ParamFingerprint fingerprint(torch::nn::Module& model);

}  // namespace keel::train
