// Linear::forward_chunks: the output a run of columns at a time, one GEMM per run over a slice
// of the prepared weights. Beam search's output projection is 128 rows × 32 000 × 512: one call
// over all columns streams the 64 MB of fp32 weights once per call and writes 16 MB of logits
// that the scoring reads back; chunks of a few hundred columns keep both in L2
// (docs/benchmarks.md).
#include <algorithm>
#include <cassert>
#include <cstring>
#include <unordered_map>

#include "gemm_f32.h"
#include "gemm_impl.h"
#include "keel/nmt/gemm.h"

namespace keel::nmt {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// Whether a [K, nc] weight layout is the [K, N] one restricted to nc columns: same blocks and
// strides, with the column blocks outermost-independent (what oneDNN 2.6 picks for its brgemm
// kernels, fp32 "BA16a64b" and s8 "BA16a64b4a"). Anything else is not sliced.
bool same_blocking(const dnnl::memory::desc& chunk, const dnnl::memory::desc& full) {
  const dnnl_memory_desc_t &a = chunk.data, &b = full.data;
  if (a.format_kind != dnnl_blocked || b.format_kind != dnnl_blocked || a.ndims != 2 ||
      b.ndims != 2 || a.data_type != b.data_type || a.extra.flags != 0 || b.extra.flags != 0 ||
      a.padded_dims[0] != b.padded_dims[0] || a.offset0 != 0)
    return false;
  const auto &p = a.format_desc.blocking, &q = b.format_desc.blocking;
  if (p.inner_nblks != q.inner_nblks || p.strides[0] != q.strides[0] ||
      p.strides[1] != q.strides[1])
    return false;
  for (int i = 0; i < p.inner_nblks; ++i)
    if (p.inner_blks[i] != q.inner_blks[i] || p.inner_idxs[i] != q.inner_idxs[i]) return false;
  return true;
}

// Columns per inner block of a blocked layout (64 for oneDNN's brgemm weights).
std::int64_t column_block(const dnnl::memory::desc& d) {
  const auto& blk = d.data.format_desc.blocking;
  std::int64_t n = 1;
  for (int i = 0; i < blk.inner_nblks; ++i)
    if (blk.inner_idxs[i] == 1) n *= blk.inner_blks[i];
  return n;
}

thread_local std::vector<float> chunk_buf, full_buf;
thread_local std::vector<std::int32_t> chunk_acc;
thread_local std::vector<std::uint8_t> chunk_xq;
thread_local std::vector<float> chunk_xs;

}  // namespace

void Linear::forward_chunks(const float* x, std::int64_t M, std::int64_t cols,
                            const ChunkFn& chunk) const {
  assert(impl_ && M >= 0 && cols > 0);
  if (M == 0) return;
  const std::int64_t N = n_, K = k_;
  const bool int8 = compute_ != Compute::fp32, has_bias = !impl_->bias.empty();
  const std::int64_t block = column_block(impl_->weights_desc);
  cols = std::max(block, cols / block * block);
  float* out = detail::scratch(chunk_buf, M * std::min(cols, N));

  // A chunk as wide as the layer is the whole output; a layout that cannot be sliced gets the
  // whole output handed over in the same chunks.
  auto sliceable = [&](std::int64_t nc) {
    const detail::Key key{M, nc, K, int8, false, has_bias && !int8};
    return same_blocking(detail::cached_primitive(key).weights_desc, impl_->weights_desc);
  };
  if (cols >= N) {  // one chunk: the whole output
    forward(x, M, out);
    chunk(0, N, out);
    return;
  }
  if (uses_f32_kernel(M)) {
    if (observer_) observer_(x, M, K);
    const auto* w = static_cast<const float*>(impl_->weights.get_data_handle());
    for (std::int64_t n0 = 0; n0 < N; n0 += cols) {
      const std::int64_t nc = std::min(cols, N - n0);
      detail::gemm_f32_panels(x, M, K, w, N, n0, nc, has_bias ? impl_->bias.data() : nullptr,
                              false, out, nc);
      chunk(n0, nc, out);
    }
    return;
  }
  if (!sliceable(cols) || (N % cols != 0 && !sliceable(N % cols))) {
    float* y = detail::scratch(full_buf, M * N);
    forward(x, M, y);
    for (std::int64_t n0 = 0; n0 < N; n0 += cols) {
      const std::int64_t nc = std::min(cols, N - n0);
      for (std::int64_t m = 0; m < M; ++m)
        std::memcpy(out + m * nc, y + m * N + n0, sizeof(float) * static_cast<std::size_t>(nc));
      chunk(n0, nc, out);
    }
    return;
  }

  if (observer_) observer_(x, M, K);
  auto& eng = detail::cpu_engine();
  auto& stream = detail::thread_stream();
  // int8: the input quantized once for all chunks (static: the calibrated scale; dynamic: per row).
  const std::uint8_t* xq = nullptr;
  float x_inv = 0.f;
  const float* inv = &x_inv;
  std::int64_t inv_stride = 0;
  if (compute_ == Compute::int8_static) {
    std::uint8_t* q = detail::scratch(chunk_xq, M * K);
    quantize_input(x, M, q);
    xq = q;
    x_inv = 1.f / input_.scale;
  } else if (int8) {
    std::uint8_t* q = detail::scratch(chunk_xq, M * K);
    float* xs = detail::scratch(chunk_xs, M);
    quantize_rows_u8(x, M, K, q, xs);
    for (std::int64_t m = 0; m < M; ++m) xs[m] = 1.f / xs[m];
    xq = q;
    inv = xs;
    inv_stride = 1;
  }
  dnnl::memory src =
      int8 ? dnnl::memory({{M, K}, dt::u8, tag::ab}, eng, const_cast<std::uint8_t*>(xq))
           : dnnl::memory({{M, K}, dt::f32, tag::ab}, eng, const_cast<float*>(x));
  auto* weights = static_cast<std::byte*>(impl_->weights.get_data_handle());
  const std::int64_t elem = int8 ? 1 : 4;
  const std::int64_t origin = impl_->k_off[0];  // element (0, 0), offset0 included
  std::int32_t* acc = int8 ? detail::scratch(chunk_acc, M * std::min(cols, N)) : nullptr;
  for (std::int64_t n0 = 0; n0 < N; n0 += cols) {
    const std::int64_t nc = std::min(cols, N - n0);
    const detail::Cached& c =
        detail::cached_primitive(detail::Key{M, nc, K, int8, false, has_bias && !int8});
    dnnl::memory w(c.weights_desc, eng,
                   weights + (origin + impl_->n_off[static_cast<std::size_t>(n0)]) * elem);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}};
    if (int8)
      args.emplace(DNNL_ARG_DST, dnnl::memory({{M, nc}, dt::s32, tag::ab}, eng, acc));
    else
      args.emplace(DNNL_ARG_DST, dnnl::memory({{M, nc}, dt::f32, tag::ab}, eng, out));
    if (has_bias && !int8)
      args.emplace(DNNL_ARG_BIAS, dnnl::memory({{1, nc}, dt::f32, tag::ab}, eng,
                                               const_cast<float*>(impl_->bias.data() + n0)));
    c.prim.execute(stream, args);
    stream.wait();
    if (int8)
      detail::dequantize(
          acc, M, nc, inv, inv_stride, impl_->w_inv.data() + n0, impl_->comp.data() + n0,
          has_bias ? impl_->bias.data() + n0 : nullptr, false,
          [out, nc](std::int64_t m, std::int64_t n, float v) { out[m * nc + n] = v; });
    chunk(n0, nc, out);
  }
}

}  // namespace keel::nmt
