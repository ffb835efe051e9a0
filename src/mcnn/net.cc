#include "net.h"

#include <ATen/autocast_mode.h>

#include "sparse_pool.h"

namespace keel::mcnn {

namespace F = torch::nn::functional;

McnnNetImpl::McnnNetImpl(const ModelShape& shape) : shape_(shape) {
  check_input_size(shape.height, shape.width);
  for (int b = 0; b < kBranches; ++b) {
    int w = kBranchWidths[static_cast<std::size_t>(b)];
    torch::nn::Sequential seq;
    int in = shape.channels;
    for (int k = 0; k < 3; ++k) {
      seq->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, w, 5).stride(1).padding(2)));
      // In place: the convolution's backward does not need its output, so no copy is kept.
      seq->push_back(torch::nn::ReLU(torch::nn::ReLUOptions(true)));
      in = w;
    }
    branches_.push_back(register_module("branch" + std::to_string(b), seq));
  }
  fuse_ = register_module(
      "fuse", torch::nn::Conv2d(torch::nn::Conv2dOptions(kConcatChannels, kFuseChannels, 1)));
  std::int64_t flat = std::int64_t{kFuseChannels} * (shape.height / 128) * (shape.width / 128);
  fc1_ = register_module("fc1", torch::nn::Linear(flat, kFeatureDim));
  fc2_ = register_module("fc2", torch::nn::Linear(kFeatureDim, shape.classes));
  init_weights(*this);
}

torch::Tensor McnnNetImpl::features(const torch::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.size(1) == shape_.channels && x.size(2) == shape_.height &&
                  x.size(3) == shape_.width,
              "M-CNN input must be [N,", shape_.channels, ",", shape_.height, ",", shape_.width, "], got ", x.sizes());
  std::vector<torch::Tensor> outs;
  // The input pyramid is shared: pooling by 2 n times equals pooling by 2^n once (max of maxes
  // over nested blocks), and costs a quarter of the previous level each time.
  torch::Tensor level = x;
  for (int b = 0; b < kBranches; ++b) {
    if (b > 0) level = F::max_pool2d(level, F::MaxPool2dFuncOptions(2));
    auto& seq = branches_[static_cast<std::size_t>(b)];
    const std::int64_t k = std::int64_t{1} << (kBranches - 1 - b);
    torch::Tensor y;
    if (sparse_backward_ && k >= kSparsePoolMin) {
      // Conv, ReLU, conv, ReLU as modules; the last conv + ReLU + pool with the sparse backward.
      y = seq->at<torch::nn::Conv2dImpl>(0).forward(level).relu_();
      y = seq->at<torch::nn::Conv2dImpl>(2).forward(y).relu_();
      auto& conv = seq->at<torch::nn::Conv2dImpl>(4);
      torch::Tensor w = conv.weight, bias = conv.bias;
      if (at::autocast::is_cpu_enabled()) {  // as autocast would for the conv: cached casts
        const auto dt = at::autocast::get_autocast_cpu_dtype();
        w = at::autocast::cached_cast(dt, w, c10::DeviceType::CPU);
        bias = at::autocast::cached_cast(dt, bias, c10::DeviceType::CPU);
        y = y.to(dt);
      }
      y = conv_relu_maxpool(y, w, bias, k);
    } else {
      y = seq->forward(level);
      if (k > 1) y = F::max_pool2d(y, F::MaxPool2dFuncOptions(k));
    }
    outs.push_back(y);  // [N, w_b, H/64, W/64]
  }
  torch::Tensor z = torch::relu(fuse_->forward(torch::cat(outs, 1)));  // [N,1024,H/64,W/64]
  z = F::max_pool2d(z, F::MaxPool2dFuncOptions(2));                    // [N,1024,H/128,W/128]
  // Flatten in NCHW order whatever the memory format, so weights are layout independent.
  z = z.contiguous().flatten(1);
  return torch::relu(fc1_->forward(z));  // [N,512]
}

torch::Tensor McnnNetImpl::forward(const torch::Tensor& x) {
  return fc2_->forward(features(x));
}

PrecisionScope::PrecisionScope(Precision precision) {
  if (precision != Precision::bf16) return;
  active_ = true;
  prev_enabled_ = at::autocast::is_cpu_enabled();
  prev_dtype_ = at::autocast::get_autocast_cpu_dtype();
  at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
  at::autocast::set_cpu_enabled(true);
  at::autocast::increment_nesting();
}

PrecisionScope::~PrecisionScope() {
  if (!active_) return;
  at::autocast::set_cpu_enabled(prev_enabled_);
  at::autocast::set_autocast_cpu_dtype(prev_dtype_);
  // As torch.autocast's __exit__: the outermost scope clears the cast-weight cache.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
}

torch::Tensor model_input(float* data, std::int64_t n, std::int64_t channels, std::int64_t height,
                          std::int64_t width, bool channels_last, Precision precision) {
  auto x = torch::from_blob(data, {n, channels, height, width});
  const auto fmt =
      channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  if (precision == Precision::bf16) return x.to(torch::kBFloat16, false, true, fmt);
  return channels_last ? x.contiguous(fmt) : x;
}

void init_weights(McnnNetImpl& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.named_parameters()) {
    if (p.key().ends_with("bias"))
      torch::nn::init::zeros_(p.value());
    else
      torch::nn::init::xavier_uniform_(p.value());
  }
}

void to_channels_last(McnnNetImpl& net) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
}

}  // namespace keel::mcnn
