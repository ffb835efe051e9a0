#pragma once
// Private: the M-CNN LibTorch module (shapes in keel/mcnn/model.h). Included only by the few
// translation units that run the network, so LibTorch stays out of the public headers.

#include <torch/torch.h>

#include "keel/mcnn/model.h"

namespace keel::mcnn {

// Pool factors from which the sparse backward is used: at 2 a quarter of the pixels get gradients,
// and the branch pooled by 2 is 1/1024 of the convolution work (docs/mcnn.md).
constexpr std::int64_t kSparsePoolMin = 4;
// From this pool factor the second convolution's backward is sparse too (conv_relu_conv_relu_
// maxpool): its output gradient covers ~10 % of the pixels at 64 and ~40 % at 32, where the dense
// kernels are as fast (batch 4: 32 gave 1.00 s fp32 / 0.66 s bf16 per step, 64 0.98 / 0.64).
constexpr std::int64_t kSparse2PoolMin = 64;

class McnnNetImpl : public torch::nn::Module {
 public:
  explicit McnnNetImpl(const ModelShape& shape);
  // [N,C,H,W] -> logits [N,classes].
  torch::Tensor forward(const torch::Tensor& x);
  // [N,C,H,W] -> penultimate activations [N,512] (after ReLU), for NSC profiles.
  torch::Tensor features(const torch::Tensor& x);
  // features [N,512] -> logits [N,classes] (the last layer alone).
  torch::Tensor fc2_logits(const torch::Tensor& f) { return fc2_->forward(f); }
  const ModelShape& shape() const { return shape_; }
  // Branches pooled by kSparsePoolMin or more end in conv_relu_maxpool (sparse_pool.h), whose
  // backward only touches the pooled argmax pixels; off: LibTorch's dense backward throughout
  // (the same gradients; for comparisons).
  void set_sparse_backward(bool on) { sparse_backward_ = on; }

 private:
  ModelShape shape_;
  bool sparse_backward_ = true;
  std::vector<torch::nn::Sequential> branches_;
  torch::nn::Conv2d fuse_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(McnnNet);

// Runs the forward passes in its scope in `precision`. bf16 enables LibTorch's CPU autocast:
// convolutions and linear layers get bf16 copies of the fp32 weights and inputs (oneDNN's bf16
// kernels on AVX512-BF16), pooling/ReLU/concat follow their inputs; the casts are autograd ops,
// so backward produces fp32 gradients for the fp32 master weights. Autocast caches each weight's
// bf16 copy for the scope; the destructor drops the cache, which must happen before the optimizer
// changes the weights (a stale copy would be reused). Only the forward pass belongs in the scope.
class PrecisionScope {
 public:
  explicit PrecisionScope(Precision precision);
  ~PrecisionScope();
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  bool active_ = false, prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

// A batch [n,C,H,W] (NCHW floats at `data`) as the network's input: channels_last when asked, and
// already bf16 under bf16 (one conversion pass instead of a layout copy plus autocast's cast).
torch::Tensor model_input(float* data, std::int64_t n, std::int64_t channels, std::int64_t height,
                          std::int64_t width, bool channels_last, Precision precision);

// Xavier-uniform weights, zero biases, drawn from LibTorch's global generator.
void init_weights(McnnNetImpl& net);
// Stores 4-d weights channels_last (oneDNN's preferred layout; measured 1.35x for fp32 training
// at batch 4 here).
void to_channels_last(McnnNetImpl& net);

}  // namespace keel::mcnn
