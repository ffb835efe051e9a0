#pragma once
// Private: the M-CNN LibTorch module (shapes in keel/mcnn/model.h). Included only by the few
// translation units that run the network, so LibTorch stays out of the public headers.

#include <torch/torch.h>

#include "keel/mcnn/model.h"

namespace keel::mcnn {

class McnnNetImpl : public torch::nn::Module {
 public:
  explicit McnnNetImpl(const ModelShape& shape);
  // [N,3,H,W] -> logits [N,classes].
  torch::Tensor forward(const torch::Tensor& x);
  // [N,3,H,W] -> penultimate activations [N,512] (after ReLU), for NSC profiles.
  torch::Tensor features(const torch::Tensor& x);
  // features [N,512] -> logits [N,classes] (the last layer alone).
  torch::Tensor fc2_logits(const torch::Tensor& f) { return fc2_->forward(f); }
  const ModelShape& shape() const { return shape_; }

 private:
  ModelShape shape_;
  std::vector<torch::nn::Sequential> branches_;
  torch::nn::Conv2d fuse_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(McnnNet);

// Xavier-uniform weights, zero biases, drawn from LibTorch's global generator.
void init_weights(McnnNetImpl& net);
// Stores 4-d weights channels_last (oneDNN's preferred layout; measured 1.35x for fp32 training
// at batch 4 here).
void to_channels_last(McnnNetImpl& net);

}  // namespace keel::mcnn
