#pragma once
// Private to gemm.cc and gemm_layout.cc: a Linear's prepared weights.
#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
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
};

namespace detail {
// Element offsets of indices 0..size-1 along dimension `dim` of a blocked oneDNN memory
// descriptor, the other indices held at 0. oneDNN 2.6 has no public call for a logical index's
// offset, so this follows its blocking rules: outer blocks by strides[dim], inner blocks
// (innermost last) as mixed-radix digits. Every term depends on one dimension only, so
// offset(k, n) = off_k[k] + off_n[n] − offset0.
std::vector<std::int64_t> blocked_offsets(const dnnl::memory::desc& desc, int dim,
                                          std::int64_t size);
}  // namespace detail

}  // namespace keel::nmt
