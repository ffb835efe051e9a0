// Reading a Linear's weights back out of oneDNN's blocked layout (tied embeddings).
#include <cassert>

#include "gemm_impl.h"
#include "keel/core/error.h"

namespace keel::nmt {

namespace detail {

// Element offsets of indices 0..size-1 along dimension `dim` of a blocked oneDNN memory
// descriptor, the other indices held at 0. oneDNN 2.6 has no public call for a logical index's
// offset, so this follows its blocking rules: outer blocks by strides[dim], inner blocks
// (innermost last) as mixed-radix digits. Every term depends on one dimension only, so
// offset(k, n) = off_k[k] + off_n[n] − offset0.
std::vector<std::int64_t> blocked_offsets(const dnnl::memory::desc& desc, int dim,
                                          std::int64_t size) {
  const dnnl_memory_desc_t& md = desc.data;
  if (md.format_kind != dnnl_blocked) throw core::Error("weights are not in a blocked layout");
  const auto& b = md.format_desc.blocking;
  std::vector<std::int64_t> off(static_cast<std::size_t>(size));
  for (std::int64_t i = 0; i < size; ++i) {
    std::int64_t pos = i, phys = md.offset0, blk_stride = 1;
    for (int j = b.inner_nblks - 1; j >= 0; --j) {
      if (b.inner_idxs[j] == dim) {
        phys += (pos % b.inner_blks[j]) * blk_stride;
        pos /= b.inner_blks[j];
      }
      blk_stride *= b.inner_blks[j];
    }
    off[static_cast<std::size_t>(i)] = phys + pos * b.strides[dim];
  }
  return off;
}

}  // namespace detail

void Linear::weight_row(std::int64_t n, float* out) const {
  assert(impl_ && n >= 0 && n < n_);
  const Impl& im = *impl_;
  const std::int64_t base = im.n_off[static_cast<std::size_t>(n)];
  const std::int64_t* k_off = im.k_off.data();
  if (compute_ == Compute::fp32) {
    const auto* w = static_cast<const float*>(im.weights.get_data_handle()) + base;
    for (std::int64_t k = 0; k < k_; ++k) out[k] = w[k_off[k]];
  } else {
    const auto* w = static_cast<const std::int8_t*>(im.weights.get_data_handle()) + base;
    const float inv = im.w_inv[static_cast<std::size_t>(n)];
    for (std::int64_t k = 0; k < k_; ++k) out[k] = static_cast<float>(w[k_off[k]]) * inv;
  }
}

}  // namespace keel::nmt
