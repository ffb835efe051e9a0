#pragma once
// Private: conv 5×5 (stride 1, "same" padding) → ReLU → max-pool k×k (stride k) as one autograd
// function whose backward uses the pool's sparsity. Only the argmax pixel of each k×k window gets
// a gradient, so the convolution's weight gradient is a sum over N·C·(H/k)·(W/k) patches instead
// of N·C·H·W, and its input gradient is a scatter of 5×5 blocks around those pixels, not a full
// transposed convolution over a mostly-zero gradient. At M-CNN's full resolution (k = 64 on the
// first branch) that replaces the two most expensive convolutions of the backward pass. Exact:
// the same sums as the dense backward, only in another order. The forward runs LibTorch's
// kernels; the full-resolution conv output is not kept for backward (only the pool's indices).

#include <torch/torch.h>

namespace keel::mcnn {

// x [N,Cin,H,W], w [Cout,Cin,K,K] (K odd, padding K/2), b [Cout] -> max_pool(relu(conv(x)), k)
// [N,Cout,H/k,W/k]. x, w, b share one dtype (float or bfloat16); under CPU autocast, pass the
// cast weights (at::autocast::cached_cast) so their gradients flow back to the fp32 masters.
torch::Tensor conv_relu_maxpool(const torch::Tensor& x, const torch::Tensor& w,
                                const torch::Tensor& b, std::int64_t k);

// The same with LibTorch's own ops and autograd: the reference the tests hold it to.
torch::Tensor conv_relu_maxpool_ref(const torch::Tensor& x, const torch::Tensor& w,
                                    const torch::Tensor& b, std::int64_t k);

// conv → ReLU → conv → ReLU → max-pool k×k with the sparse backward carried one convolution
// further: the second conv's input gradient is non-zero only in K×K blocks around the argmax
// pixels (~10 % of the pixels at k = 64), so it is kept as rows (pixel, fp32 channel vector) and
// the first conv's weight gradient is one GEMM over those rows' patches instead of a dense
// backward-weights convolution; its input gradient, when needed, is scattered from the rows.
// Exact up to summation order, like conv_relu_maxpool. Saves x, the first ReLU output and the
// pool's indices (what the dense path keeps too).
torch::Tensor conv_relu_conv_relu_maxpool(const torch::Tensor& x, const torch::Tensor& w1,
                                          const torch::Tensor& b1, const torch::Tensor& w2,
                                          const torch::Tensor& b2, std::int64_t k);
torch::Tensor conv_relu_conv_relu_maxpool_ref(const torch::Tensor& x, const torch::Tensor& w1,
                                              const torch::Tensor& b1, const torch::Tensor& w2,
                                              const torch::Tensor& b2, std::int64_t k);

// max_pool2d by 2 of the input pyramid (no gradient needed): one pass over a channels_last input;
// LibTorch's kernel spends ~35 ms on a 4 x 3 x 1024 x 1280 batch with its 3 channels (measured
// here). The same values, NaN included; anything else (grad, NCHW, other dtypes) goes to LibTorch.
torch::Tensor pyramid_pool2(const torch::Tensor& x);

}  // namespace keel::mcnn
