#pragma once
// M-CNN (Godinez et al. 2017) as the paper specifies it, described without LibTorch: the shape
// arithmetic, parameter count and FLOP count. The LibTorch module is private to src/mcnn/.
//
//   input [N,C,H,W], H and W divisible by 128 (1024x1280 in the paper), C channels (3 in the paper)
//   branch n = 0..6: max-pool by 2^n, three [5x5 conv pad 2 + ReLU] of width kBranchWidths[n],
//                    max-pool by 2^(6-n)                           -> [N,w_n,H/64,W/64]
//   concat (208 ch) -> 1x1 conv 1024 + ReLU -> 2x2 max-pool         -> [N,1024,H/128,W/128]
//   flatten -> FC 512 + ReLU (the "features") -> FC classes (13)

#include <array>
#include <cstdint>
#include <string>

namespace keel::mcnn {

inline constexpr int kBranches = 7;
inline constexpr std::array<int, kBranches> kBranchWidths = {16, 16, 16, 32, 32, 32, 64};
inline constexpr int kConcatChannels = 208;
inline constexpr int kFuseChannels = 1024;
inline constexpr int kFeatureDim = 512;
inline constexpr int kInputChannels = 3;  // BBBC021's DAPI, Tubulin, Actin: the default
inline constexpr int kSizeMultiple = 128;

struct ModelShape {
  int height = 1024, width = 1280;
  int classes = 13;
  int channels = kInputChannels;  // the first convolutions' input channels, from the data
};

// Arithmetic of the convolutions and FC layers. bf16: mixed precision as LibTorch's CPU autocast
// does it (bf16 activations and weight copies through oneDNN, fp32 master weights, gradients,
// loss and optimizer).
enum class Precision { fp32, bf16 };
// "fp32" | "bf16"; anything else is an InputError naming `option`.
Precision parse_precision(const std::string& name, const std::string& option = "--precision");
const char* precision_name(Precision p);

// Throws InputError unless height and width are positive multiples of 128.
void check_input_size(int height, int width);
// Learnable parameters (weights + biases): 42 577 261 at 1024x1280, 13 classes.
std::int64_t parameter_count(const ModelShape& shape);
// FLOPs of one forward pass of one image (2 per multiply-add, convolutions and FC layers;
// pooling and ReLU are not counted): ~51.4 G at 1024x1280.
double forward_flops(const ModelShape& shape);

}  // namespace keel::mcnn
