#include "net.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>

#include "keel/core/atomic_file.h"
#include "keel/mcnn/eval.h"
#include "keel/mcnn/export.h"
#include "keel/train/torch_train.h"
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
    if (b > 0) level = pyramid_pool2(level);
    auto& seq = branches_[static_cast<std::size_t>(b)];
    const std::int64_t k = std::int64_t{1} << (kBranches - 1 - b);
    torch::Tensor y;
    if (sparse_backward_ && k >= kSparsePoolMin) {
      // Conv, ReLU as modules; the rest with the sparse backward: the last conv + ReLU + pool,
      // from kSparse2PoolMin on the conv before it too.
      y = seq->at<torch::nn::Conv2dImpl>(0).forward(level).relu_();
      const bool two = k >= kSparse2PoolMin;
      if (!two) y = seq->at<torch::nn::Conv2dImpl>(2).forward(y).relu_();
      auto cast = [](torch::Tensor t) {  // as autocast would for a conv: cached casts
        if (!at::autocast::is_cpu_enabled()) return t;
        return at::autocast::cached_cast(at::autocast::get_autocast_cpu_dtype(), t,
                                         c10::DeviceType::CPU);
      };
      auto& conv = seq->at<torch::nn::Conv2dImpl>(4);
      if (at::autocast::is_cpu_enabled()) y = y.to(at::autocast::get_autocast_cpu_dtype());
      if (two) {
        auto& mid = seq->at<torch::nn::Conv2dImpl>(2);
        y = conv_relu_conv_relu_maxpool(y, cast(mid.weight), cast(mid.bias), cast(conv.weight),
                                        cast(conv.bias), k);
      } else {
        y = conv_relu_maxpool(y, cast(conv.weight), cast(conv.bias), k);
      }
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

namespace {

// TorchScript source of McnnNetImpl::forward with plain ATen ops (the sparse backward is a
// training detail): parameters are attributes named as in the module with '.' -> '_'.
std::string torchscript_source(const ModelShape& shape) {
  std::string s = "def forward(self, x):\n    level = x\n";
  for (int b = 0; b < kBranches; ++b) {
    if (b > 0) s += "    level = torch.max_pool2d(level, [2, 2], [2, 2])\n";
    s += "    y = level\n";
    for (int k : {0, 2, 4})
      s += fmt::format("    y = torch.relu(torch.conv2d(y, self.branch{0}_{1}_weight, "
                       "self.branch{0}_{1}_bias, [1, 1], [2, 2]))\n",
                       b, k);
    const int pool = 1 << (kBranches - 1 - b);
    if (pool > 1) s += fmt::format("    y = torch.max_pool2d(y, [{0}, {0}], [{0}, {0}])\n", pool);
    s += fmt::format("    y{} = y\n", b);
  }
  s += "    z = torch.cat([y0, y1, y2, y3, y4, y5, y6], 1)\n"
       "    z = torch.relu(torch.conv2d(z, self.fuse_weight, self.fuse_bias))\n"
       "    z = torch.max_pool2d(z, [2, 2], [2, 2])\n"
       "    z = z.contiguous().flatten(1)\n"
       "    f = torch.relu(torch.addmm(self.fc1_bias, z, self.fc1_weight.t()))\n"
       "    return torch.addmm(self.fc2_bias, f, self.fc2_weight.t())\n";
  // keel's loader (loader.cc): per image and channel, population mean and std over the pixels.
  s += "\ndef normalize(self, raw):\n"
       "    v = raw.double()\n"
       "    mean = v.mean([2, 3], True)\n"
       "    var = (v * v).mean([2, 3], True) - mean * mean\n"
       "    std = torch.clamp(torch.sqrt(torch.clamp(var, 0.0)), 16.0)\n"
       "    return (raw.float() - mean.float()) * (1.0 / std).float()\n";
  (void)shape;
  return s;
}

}  // namespace

ExportSummary export_torchscript(const std::filesystem::path& checkpoint,
                                 const std::filesystem::path& out, const std::string& keel_version) {
  const CheckpointInfo info = read_checkpoint_info(checkpoint);
  const ModelShape shape{info.height, info.width, static_cast<int>(info.classes.size()),
                         static_cast<int>(info.channels.size())};
  McnnNet net(shape);
  train::load_checkpoint(checkpoint, *net, nullptr);
  torch::jit::Module m("keel_mcnn");
  for (const auto& p : net->named_parameters()) {
    std::string name = p.key();
    std::replace(name.begin(), name.end(), '.', '_');
    m.register_parameter(name, p.value().detach().contiguous().clone(), false);
  }
  ExportSummary sum;
  sum.channels = shape.channels;
  sum.classes = shape.classes;
  sum.height = shape.height;
  sum.width = shape.width;
  sum.metadata_json =
      nlohmann::json{
          {"model", "M-CNN (Godinez et al. 2017), keel mcnn"},
          {"keel_version", keel_version},
          {"input", fmt::format("[N,{},{},{}] float32, normalised", shape.channels, shape.height,
                                shape.width)},
          {"channels", info.channels},
          {"classes", info.classes},
          {"height", shape.height},
          {"width", shape.width},
          {"normalisation",
           "per image and channel over its pixels: x = (v - mean) / max(std, 16), population "
           "std, v the raw 16-bit values; module.normalize(raw) does it"},
          {"output", "logits [N,classes]; softmax for probabilities"},
          {"trained_precision", info.precision}}
          .dump();
  m.register_attribute("keel_metadata", c10::StringType::get(), sum.metadata_json);
  m.define(torchscript_source(shape));
  m.eval();
  core::AtomicFile file(out);
  m.save(file.stream(), {{"keel.json", sum.metadata_json}});
  file.commit();
  return sum;
}

}  // namespace keel::mcnn
