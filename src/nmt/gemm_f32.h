#pragma once
// Private to the Linear implementation: the fp32 decode-step GEMM written by hand (see
// gemm_f32.cc for why oneDNN's is not used there).
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>

namespace keel::nmt::detail {

// Rows up to which Linear uses the hand kernel: decode steps (greedy's batch, beam's batch ×
// beam). Longer inputs (the encoder's sentences) go to oneDNN, which blocks rows for the cache.
constexpr std::int64_t kF32KernelMaxRows = 256;

// Whether M rows of K inputs, the panel being computed and the one being prefetched fit in 3/4 of
// this core's L2 (sysconf; 1 MB when unknown). Beyond that the prefetch evicts the rows the
// panel needs next (128 × 2048 measured ~10 % slower here) and oneDNN, which blocks for the
// cache, does better.
bool f32_kernel_fits(std::int64_t M, std::int64_t K);

// Whether this build has the kernel and `weights` is the layout it reads: fp32 [K, N] in
// oneDNN's "BA16a64b" (panels of 64 columns, each K rows of 64 contiguous floats, K padded to
// 16), no offset.
bool f32_kernel_reads(const dnnl::memory::desc& weights);

// y[m, j] = Σ_k x[m, k] · W[k, n0 + j] (+ bias[n0 + j]) (ReLU) for j < nc, with W as above
// (`w` its first element, `N` all its columns) and n0 a multiple of 64. Each output's sum runs in
// oneDNN 2.6's order: k ascending with fused multiply-adds in runs of 512 (K ≤ 1024) or 1024
// columns, the runs' sums added in order, then the bias.
void gemm_f32_panels(const float* x, std::int64_t M, std::int64_t K, const float* w, std::int64_t N,
                     std::int64_t n0, std::int64_t nc, const float* bias, bool relu, float* y,
                     std::int64_t ldy);

// False while a test routes every fp32 call to oneDNN (detail::use_f32_kernel_for_tests).
bool f32_kernel_enabled();

}  // namespace keel::nmt::detail
