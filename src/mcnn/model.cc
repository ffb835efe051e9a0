#include "keel/mcnn/model.h"

#include <fmt/format.h>

#include "keel/core/error.h"

namespace keel::mcnn {

void check_input_size(int height, int width) {
  if (height <= 0 || width <= 0 || height % kSizeMultiple != 0 || width % kSizeMultiple != 0)
    throw core::InputError(fmt::format("image size {}x{} is not a multiple of {} in both "
                                       "dimensions (M-CNN pools by 128)",
                                       height, width, kSizeMultiple),
                           {}, "use e.g. 128x128, 256x384 or 1024x1280");
}

Precision parse_precision(const std::string& name, const std::string& option) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  throw core::InputError(fmt::format("unknown precision '{}'", name), {"", 0, 0, option},
                         "use fp32 or bf16");
}

const char* precision_name(Precision p) {
  return p == Precision::bf16 ? "bf16" : "fp32";
}

std::int64_t parameter_count(const ModelShape& s) {
  std::int64_t n = 0;
  for (int w : kBranchWidths) n += (s.channels * w * 25 + w) + 2 * (w * w * 25 + w);
  n += std::int64_t{kConcatChannels} * kFuseChannels + kFuseChannels;
  std::int64_t flat = std::int64_t{kFuseChannels} * (s.height / 128) * (s.width / 128);
  n += flat * kFeatureDim + kFeatureDim;
  n += std::int64_t{kFeatureDim} * s.classes + s.classes;
  return n;
}

double forward_flops(const ModelShape& s) {
  double macs = 0;
  for (int b = 0; b < kBranches; ++b) {
    double pixels = static_cast<double>(s.height >> b) * static_cast<double>(s.width >> b);
    double w = kBranchWidths[static_cast<std::size_t>(b)];
    macs += pixels * 25 * (s.channels * w + 2 * w * w);
  }
  double fused_pixels = static_cast<double>(s.height / 64) * (s.width / 64);
  macs += fused_pixels * kConcatChannels * kFuseChannels;
  macs += static_cast<double>(kFuseChannels) * (s.height / 128) * (s.width / 128) * kFeatureDim;
  macs += static_cast<double>(kFeatureDim) * s.classes;
  return 2 * macs;
}

}  // namespace keel::mcnn
