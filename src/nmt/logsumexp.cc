// Written by hand: oneDNN's logsoftmax writes the normalized row (a third pass) and costs a
// primitive call per row; beam search needs only the sum and the block maxima.
#include "keel/nmt/logsumexp.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#if defined(__AVX512F__)
#include <immintrin.h>
// glibc's libmvec: expf on 16 lanes (the x86_64 vector function ABI's AVX-512 variant).
extern "C" __m512 _ZGVeN16v_expf(__m512);
#endif

namespace keel::nmt {

namespace {

float logsumexp_scalar(const float* x, std::int64_t n, std::int64_t block, float* block_max) {
  float m = -std::numeric_limits<float>::infinity();
  for (std::int64_t b0 = 0; b0 < n; b0 += block) {
    float bm = -std::numeric_limits<float>::infinity();
    for (std::int64_t i = b0; i < std::min(n, b0 + block); ++i) bm = std::max(bm, x[i]);
    block_max[b0 / block] = bm;
    m = std::max(m, bm);
  }
  double sum = 0.0;  // one accumulator: double keeps 32 000 terms as close as the vector lanes
  for (std::int64_t i = 0; i < n; ++i) sum += std::exp(x[i] - m);
  return m + static_cast<float>(std::log(sum));
}

}  // namespace

// GCC 12 flags _mm512_undefined_*() inside its own reduction intrinsics as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
float logsumexp_blocks(const float* x, std::int64_t n, std::int64_t block, float* block_max) {
  assert(n > 0 && block > 0);
#if defined(__AVX512F__)
  if (block % 16 != 0) return logsumexp_scalar(x, n, block, block_max);
  const __m512 neg_inf = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  auto tail_mask = [n](std::int64_t i) {
    return static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
  };
  __m512 m = neg_inf;
  for (std::int64_t b0 = 0; b0 < n; b0 += block) {
    __m512 bm = neg_inf;
    for (std::int64_t i = b0; i < std::min(n, b0 + block); i += 16)
      bm = _mm512_max_ps(bm, _mm512_mask_loadu_ps(neg_inf, tail_mask(i), x + i));
    block_max[b0 / block] = _mm512_reduce_max_ps(bm);
    m = _mm512_max_ps(m, bm);
  }
  const float mx = _mm512_reduce_max_ps(m);
  const __m512 vm = _mm512_set1_ps(mx);
  // Four accumulators: the adds do not wait on each other.
  __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
  std::int64_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_add_ps(s0, _ZGVeN16v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + i), vm)));
    s1 = _mm512_add_ps(s1, _ZGVeN16v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), vm)));
    s2 = _mm512_add_ps(s2, _ZGVeN16v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + i + 32), vm)));
    s3 = _mm512_add_ps(s3, _ZGVeN16v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + i + 48), vm)));
  }
  for (; i < n; i += 16)  // masked-off lanes read -inf: exp gives 0
    s0 = _mm512_add_ps(
        s0, _ZGVeN16v_expf(_mm512_sub_ps(_mm512_mask_loadu_ps(neg_inf, tail_mask(i), x + i), vm)));
  const float sum = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  return mx + std::log(sum);
#else
  return logsumexp_scalar(x, n, block, block_max);
#endif
}
#pragma GCC diagnostic pop

double logsumexp_ref(const float* x, std::int64_t n) {
  double m = -std::numeric_limits<double>::infinity();
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, static_cast<double>(x[i]));
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - m);
  return m + std::log(sum);
}

}  // namespace keel::nmt
