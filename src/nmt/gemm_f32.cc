// The fp32 GEMM of a decode step, written by hand. A step multiplies a few dozen to a few hundred
// rows by every weight of the decoder, so the weights arrive from memory, not cache. oneDNN 2.6's
// brgemm waits for each cold panel of weights and then computes on it: measured on this VM with
// 160 MB of weights cycled, 128 rows ran at 93-133 GFLOP/s (hot: ~145) and 32 rows at 66-90.
// This kernel computes one panel of 64 columns for all rows while prefetching the next panel
// into L2, spread over the panel's work, so the stream and the arithmetic overlap (same test:
// 130-155 and 104-127 GFLOP/s; docs/benchmarks.md). No library exposes that prefetch; the sums
// follow oneDNN's order (header), so on the machine measured both give the same bits.
#include "gemm_f32.h"

#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cassert>

#include "keel/nmt/gemm.h"

namespace keel::nmt {

namespace {
std::atomic<bool> kernel_on{true};
}  // namespace

void detail::use_f32_kernel_for_tests(bool on) {
  kernel_on = on;
}

namespace detail {

bool f32_kernel_enabled() {
  return kernel_on;
}

bool f32_kernel_fits(std::int64_t M, std::int64_t K) {
  static const std::int64_t budget = [] {
    const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return (l2 > 0 ? std::int64_t{l2} : std::int64_t{1} << 20) * 3 / 4;
  }();
  return 4 * M * K + 2 * 4 * K * 64 <= budget;
}

#if defined(__AVX512F__)

// GCC 12 flags _mm512_undefined_ps() inside its own intrinsics as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

constexpr int kPanel = 64;  // columns per panel (the layout's inner block)
constexpr int kRows = 6;    // rows per register block: 6 × 4 accumulators + 4 weight vectors

// Spreads the next panel's cache lines over the current panel's k-iterations (Bresenham), so
// the prefetches never come in a burst that stalls on the fill buffers.
struct Prefetcher {
  const char* next = nullptr;  // the next panel, or null
  std::int64_t lines = 0, iterations = 1, err = 0, line = 0;
  void step() {
    if (!next) return;
    err += lines;
    while (err >= iterations) {
      _mm_prefetch(next + line * 64, _MM_HINT_T1);
      ++line;
      err -= iterations;
    }
  }
};

// Rows [0, R) of x times one panel, k in [k0, k1), from zero.
template <int R>
inline void run(const float* x, std::int64_t ldx, const float* panel, std::int64_t k0,
                std::int64_t k1, __m512 (&acc)[R][4], Prefetcher& state) {
  Prefetcher pf = state;  // in registers for the loop, not behind a reference
  for (int r = 0; r < R; ++r)
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm512_setzero_ps();
  for (std::int64_t k = k0; k < k1; ++k) {
    const float* p = panel + k * kPanel;
    const __m512 b0 = _mm512_loadu_ps(p), b1 = _mm512_loadu_ps(p + 16),
                 b2 = _mm512_loadu_ps(p + 32), b3 = _mm512_loadu_ps(p + 48);
    for (int r = 0; r < R; ++r) {
      const __m512 a = _mm512_set1_ps(x[r * ldx + k]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
      acc[r][2] = _mm512_fmadd_ps(a, b2, acc[r][2]);
      acc[r][3] = _mm512_fmadd_ps(a, b3, acc[r][3]);
    }
    pf.step();
  }
  state = pf;
}

// R rows of one panel: the runs of k summed in order, then bias and ReLU, stored (masked to
// `cols` valid columns).
template <int R>
void rows_of_panel(const float* x, std::int64_t K, std::int64_t run_len, const float* panel,
                   const float* bias, bool relu, int cols, float* y, std::int64_t ldy,
                   Prefetcher& pf) {
  __m512 acc[R][4], sum[R][4];
  for (std::int64_t k0 = 0; k0 < K; k0 += run_len) {
    run<R>(x, K, panel, k0, std::min(K, k0 + run_len), acc, pf);
    for (int r = 0; r < R; ++r)
      for (int j = 0; j < 4; ++j)
        sum[r][j] = k0 == 0 ? acc[r][j] : _mm512_add_ps(sum[r][j], acc[r][j]);
  }
  const __m512 zero = _mm512_setzero_ps();
  for (int j = 0; j < 4 && j * 16 < cols; ++j) {
    const int left = cols - j * 16;
    const __mmask16 mask = left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(mask, bias + j * 16) : zero;
    for (int r = 0; r < R; ++r) {
      __m512 v = bias ? _mm512_add_ps(sum[r][j], b) : sum[r][j];
      if (relu) v = _mm512_max_ps(v, zero);
      _mm512_mask_storeu_ps(y + r * ldy + j * 16, mask, v);
    }
  }
}

// The last rows (fewer than kRows), by count.
using RowsFn = void (*)(const float*, std::int64_t, std::int64_t, const float*, const float*, bool,
                        int, float*, std::int64_t, Prefetcher&);
constexpr RowsFn kTail[kRows] = {nullptr,          rows_of_panel<1>, rows_of_panel<2>,
                                 rows_of_panel<3>, rows_of_panel<4>, rows_of_panel<5>};

}  // namespace

bool f32_kernel_reads(const dnnl::memory::desc& weights) {
  if (weights.data.ndims != 2 || weights.data.data_type != dnnl_f32) return false;
  const dnnl::memory::dims dims{weights.data.dims[0], weights.data.dims[1]};
  return weights ==
         dnnl::memory::desc(dims, dnnl::memory::data_type::f32, dnnl::memory::format_tag::BA16a64b);
}

void gemm_f32_panels(const float* x, std::int64_t M, std::int64_t K, const float* w, std::int64_t N,
                     std::int64_t n0, std::int64_t nc, const float* bias, bool relu, float* y,
                     std::int64_t ldy) {
  assert(n0 % kPanel == 0 && n0 + nc <= N && M > 0);
  const std::int64_t Kp = (K + 15) / 16 * 16, panel_size = Kp * kPanel;
  const std::int64_t panels = (N + kPanel - 1) / kPanel;
  const std::int64_t run_len = K <= 512 ? K : K <= 1024 ? 512 : 1024;
  const std::int64_t first = n0 / kPanel, last = (n0 + nc + kPanel - 1) / kPanel;
  // Register blocks of 6 rows; a tail of 1 or 2 would read the panel from L2 for too little
  // arithmetic (bandwidth-bound), so the last 7 or 8 rows go as 4 + 3 or 4 + 4 instead.
  std::int64_t full = M / kRows;
  int tail = static_cast<int>(M % kRows);
  if (tail > 0 && tail < 3 && full > 0) --full, tail += kRows;
  const std::int64_t blocks = full + (tail == 0 ? 0 : tail < kRows ? 1 : 2);
  // Threads (a stream with several) split the panels: worth it from 256 KB of weights on, since
  // even one row's call is then a memory stream both cores can share.
#pragma omp parallel for schedule(static) if (nc * K >= (std::int64_t{1} << 16) && last - first > 1)
  for (std::int64_t p = first; p < last; ++p) {
    const float* panel = w + p * panel_size;
    // The next panel of the whole matrix, also past this call's columns: a caller walking the
    // columns in chunks finds the next chunk's first panel on its way.
    Prefetcher pf;
    if (p + 1 < panels) {
      pf.next = reinterpret_cast<const char*>(panel + panel_size);
      pf.lines = K * kPanel * 4 / 64;
      pf.iterations = blocks * K;
    }
    const auto cols = static_cast<int>(std::min<std::int64_t>(kPanel, n0 + nc - p * kPanel));
    const float* b = bias ? bias + p * kPanel : nullptr;
    float* out = y + (p * kPanel - n0);
    std::int64_t m = 0;
    for (; m < full * kRows; m += kRows)
      rows_of_panel<kRows>(x + m * K, K, run_len, panel, b, relu, cols, out + m * ldy, ldy, pf);
    if (tail > kRows) {
      rows_of_panel<4>(x + m * K, K, run_len, panel, b, relu, cols, out + m * ldy, ldy, pf);
      m += 4;
    }
    if (m < M) kTail[M - m](x + m * K, K, run_len, panel, b, relu, cols, out + m * ldy, ldy, pf);
  }
}

#pragma GCC diagnostic pop

#else  // no AVX-512 in this build: oneDNN does every GEMM

bool f32_kernel_reads(const dnnl::memory::desc&) {
  return false;
}

void gemm_f32_panels(const float*, std::int64_t, std::int64_t, const float*, std::int64_t,
                     std::int64_t, std::int64_t, const float*, bool, float*, std::int64_t) {
  assert(false && "gemm_f32_panels without AVX-512");
}

#endif

}  // namespace detail

}  // namespace keel::nmt
