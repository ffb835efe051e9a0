#pragma once
// Private to gemm.cc, gemm_layout.cc and gemm_chunks.cc: a Linear's prepared weights and the
// oneDNN plumbing they share.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "keel/nmt/gemm.h"

namespace keel::nmt {

struct Linear::Impl {
  dnnl::memory weights;  // reordered, opaque blocked layout
  dnnl::memory::desc weights_desc;
  std::vector<float> bias;                 // [N] or empty
  std::vector<float> w_scales;             // [N] int8: 127 / max|W[n,:]|
  std::vector<float> w_inv;                // [N] int8: 1 / w_scales
  std::vector<std::int32_t> comp;          // [N] int8: 128 · Σ_k Wq[n,k], undoes the u8 shift
  std::vector<std::int64_t> k_off, n_off;  // weight_row: element offsets (blocked_offsets)
  bool f32_kernel = false;                 // fp32 in the layout gemm_f32_panels reads
};

namespace detail {
dnnl::engine& cpu_engine();
// One stream per thread: parallel translation streams must not share one.
dnnl::stream& thread_stream();

struct Key {
  std::int64_t m, n, k;
  bool int8, relu, bias;
  // The weights' layout the primitive must read; empty: oneDNN's choice (format_tag::any). The
  // choice depends on the shape and on the number of threads (oneDNN 2.6 picked BA16a32b4a at 5
  // or more threads where it picked BA16a64b4a at fewer): weights reordered once must be named.
  dnnl::memory::desc weights{};
  bool operator==(const Key&) const = default;
};
struct Cached {
  dnnl::matmul prim;
  dnnl::memory::desc weights_desc;
};

// The matmul primitive for `key`, built once per thread.
const Cached& cached_primitive(const Key& key);

// Per-thread scratch reused across calls (sizes only grow), so decoding allocates nothing.
template <typename T>
T* scratch(std::vector<T>& v, std::int64_t n) {
  if (v.size() < static_cast<std::size_t>(n)) v.resize(static_cast<std::size_t>(n));
  return v.data();
}

constexpr std::int64_t kParallelMin = 1 << 15;  // elements below which threading costs more

// One pass over the s32 result: (acc − comp[n]) · x_inv[m] · w_inv[n] + bias[n], ReLU, then
// `store(m, n, value)`. The compensation is subtracted in int32: |acc| can exceed float's 24-bit
// exact range for K ≥ 520. x_inv is per row (dynamic) or one value (static: x_inv_stride 0).
template <typename Store>
void dequantize(const std::int32_t* acc, std::int64_t M, std::int64_t N, const float* x_inv,
                std::int64_t x_inv_stride, const float* w_inv, const std::int32_t* comp,
                const float* bias, bool relu, Store store) {
#pragma omp parallel for schedule(static) if (M * N > kParallelMin)
  for (std::int64_t m = 0; m < M; ++m) {
    const float a_inv = x_inv[m * x_inv_stride];
    const std::int32_t* a = acc + m * N;
    const float floor = relu ? 0.f : -std::numeric_limits<float>::infinity();
    if (bias) {
#pragma omp simd
      for (std::int64_t n = 0; n < N; ++n)
        store(m, n,
              std::max(floor, static_cast<float>(a[n] - comp[n]) * (a_inv * w_inv[n]) + bias[n]));
    } else {
#pragma omp simd
      for (std::int64_t n = 0; n < N; ++n)
        store(m, n, std::max(floor, static_cast<float>(a[n] - comp[n]) * (a_inv * w_inv[n])));
    }
  }
}

// Element offsets of indices 0..size-1 along dimension `dim` of a blocked oneDNN memory
// descriptor, the other indices held at 0. oneDNN 2.6 has no public call for a logical index's
// offset, so this follows its blocking rules: outer blocks by strides[dim], inner blocks
// (innermost last) as mixed-radix digits. Every term depends on one dimension only, so
// offset(k, n) = off_k[k] + off_n[n] − offset0.
std::vector<std::int64_t> blocked_offsets(const dnnl::memory::desc& desc, int dim,
                                          std::int64_t size);
}  // namespace detail

}  // namespace keel::nmt
