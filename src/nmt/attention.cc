// Softmax attention over fp32 or binary16 key/value rows: one head, all heads of a few queries
// that share their rows (attention_queries), and queries that each read their own rows of one
// cache (attention_queries_gathered: beam hypotheses that share a history).
#include <immintrin.h>

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <vector>

#include "keel/nmt/layers.h"

namespace keel::nmt {

void attention_head(const float* q, std::int64_t q_stride, const float* k, std::int64_t k_stride,
                    const float* v, std::int64_t v_stride, std::int64_t nq, std::int64_t nk,
                    std::int64_t dh, float* out, std::int64_t out_stride, float* scores) {
  const float scale = 1.f / std::sqrt(static_cast<float>(dh));
  for (std::int64_t i = 0; i < nq; ++i) {
    const float* qi = q + i * q_stride;
    float mx = -std::numeric_limits<float>::infinity();
    for (std::int64_t j = 0; j < nk; ++j) {
      const float* kj = k + j * k_stride;
      float dot = 0.f;
#pragma omp simd reduction(+ : dot)
      for (std::int64_t c = 0; c < dh; ++c) dot += qi[c] * kj[c];
      scores[j] = dot * scale;
      mx = std::max(mx, scores[j]);
    }
    float sum = 0.f;
    for (std::int64_t j = 0; j < nk; ++j) {
      scores[j] = std::exp(scores[j] - mx);
      sum += scores[j];
    }
    const float inv = 1.f / sum;
    float* oi = out + i * out_stride;
    for (std::int64_t c = 0; c < dh; ++c) oi[c] = 0.f;
    for (std::int64_t j = 0; j < nk; ++j) {
      const float p = scores[j] * inv;
      const float* vj = v + j * v_stride;
#pragma omp simd
      for (std::int64_t c = 0; c < dh; ++c) oi[c] += p * vj[c];
    }
  }
}

namespace {
// The row itself for fp32; for binary16, the row converted into `buf` (d floats).
inline const float* row_f32(const float* row, std::int64_t, float*) {
  return row;
}
inline const float* row_f32(const Half* row, std::int64_t d, float* buf) {
  half_to_float(row, d, buf);
  return buf;
}

// q · k over n floats. GCC reduced the `omp simd` form through the stack, 16 dependent scalar
// adds per dot product (half of attention's time at 32 keys): AVX-512 reduces the 16 lanes with
// shuffles instead (dh a multiple of 16, as in every model keel runs; other sizes take the loop).
// GCC 12 flags _mm512_undefined_*() inside its own reduction intrinsic as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
inline float dot(const float* q, const float* k, std::int64_t n) {
#if defined(__AVX512F__)
  if (n % 16 == 0) {
    __m512 acc = _mm512_setzero_ps();
    for (std::int64_t c = 0; c < n; c += 16)
      acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + c), _mm512_loadu_ps(k + c), acc);
    return _mm512_reduce_add_ps(acc);
  }
#endif
  float sum = 0.f;
  for (std::int64_t c = 0; c < n; ++c) sum += q[c] * k[c];
  return sum;
}

#if defined(__AVX512F__)
// Eight sums of 16 lanes at once, each added in the very order _mm512_reduce_add_ps uses
// (256-bit halves, then 128-bit halves, then (x0 + x2) + (x1 + x3)), so every head's score is
// bit-identical to dot()'s: 10 shuffles and 7 adds for eight heads instead of 8 × 6 steps.
inline void reduce8(const __m512* a, float* out) {
  __m512 t[4], u[2];
  for (int p = 0; p < 4; ++p)  // [a_lo + a_hi | b_lo + b_hi]
    t[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * p], a[2 * p + 1], _MM_SHUFFLE(3, 2, 3, 2)),
                         _mm512_shuffle_f32x4(a[2 * p], a[2 * p + 1], _MM_SHUFFLE(1, 0, 1, 0)));
  for (int p = 0; p < 2; ++p)  // one head per 128-bit lane: heads 4p .. 4p + 3
    u[p] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * p], t[2 * p + 1], _MM_SHUFFLE(3, 1, 3, 1)),
                         _mm512_shuffle_f32x4(t[2 * p], t[2 * p + 1], _MM_SHUFFLE(2, 0, 2, 0)));
  // Per lane [x0 + x2, x1 + x3] of heads L and L + 4, then their sum.
  const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(3, 2, 3, 2)),
                                 _mm512_shuffle_ps(u[0], u[1], _MM_SHUFFLE(1, 0, 1, 0)));
  const __m512 f = _mm512_add_ps(r, _mm512_shuffle_ps(r, r, _MM_SHUFFLE(2, 3, 0, 1)));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, f);
  for (int l = 0; l < 4; ++l) {
    out[l] = lanes[4 * l];
    out[l + 4] = lanes[4 * l + 2];
  }
}
#endif

// scores[h · stride] = (q · k over head h's dh floats) · scale for every head.
inline void head_dots(const float* q, const float* k, std::int64_t heads, std::int64_t dh,
                      float scale, float* scores, std::int64_t stride) {
  std::int64_t h = 0;
#if defined(__AVX512F__)
  if (dh % 16 == 0)
    for (; h + 8 <= heads; h += 8) {
      __m512 acc[8];
      for (int e = 0; e < 8; ++e) {
        const float* qh = q + (h + e) * dh;
        const float* kh = k + (h + e) * dh;
        acc[e] = _mm512_setzero_ps();
        for (std::int64_t c = 0; c < dh; c += 16)
          acc[e] = _mm512_fmadd_ps(_mm512_loadu_ps(qh + c), _mm512_loadu_ps(kh + c), acc[e]);
      }
      float sums[8];
      reduce8(acc, sums);
      for (int e = 0; e < 8; ++e) scores[(h + e) * stride] = sums[e] * scale;
    }
#endif
  for (; h < heads; ++h) scores[h * stride] = dot(q + h * dh, k + h * dh, dh) * scale;
}
#pragma GCC diagnostic pop

// Up to kChunk queries over nk key/value rows each: either rows they share (a sentence's
// hypotheses over its encoder output) or rows of their own in one cache (beam hypotheses over
// their histories, which share a prefix). A row read by several of them is loaded (and, for
// binary16, converted) once for all. Per query the arithmetic and its order are those of a
// single query, so results do not depend on how queries are grouped or where rows live.
constexpr std::int64_t kChunk = 8;

template <typename T>
struct SharedRows {  // row j is the same for every query
  const T* base;
  std::int64_t stride;
  static constexpr bool shared = true;
  const T* operator()(std::int64_t, std::int64_t j) const { return base + j * stride; }
};
template <typename T>
struct GatheredRows {  // row j of query i is base + rows[i·nk + j]·stride
  const T* base;
  std::int64_t stride;
  const std::int64_t* rows;
  std::int64_t nk;
  static constexpr bool shared = false;
  const T* operator()(std::int64_t i, std::int64_t j) const {
    return base + rows[i * nk + j] * stride;
  }
};

template <typename T, typename Rows>
void attention_queries_impl(const float* q, std::int64_t q_stride, std::int64_t nq, Rows k, Rows v,
                            std::int64_t nk, std::int64_t heads, std::int64_t dh, float* out,
                            std::int64_t out_stride, float* scores) {
  assert(nq <= kChunk);
  const float scale = 1.f / std::sqrt(static_cast<float>(dh));
  const std::int64_t d = heads * dh;
  thread_local std::vector<float> buf;
  if (buf.size() < static_cast<std::size_t>(kChunk * d))
    buf.resize(static_cast<std::size_t>(kChunk * d));
  const T* raw[kChunk];
  const float* row[kChunk];
  // Rows are kv_stride apart with the other half ([k | v]) in between, which the hardware
  // prefetcher does not follow well: fetch two rows ahead by hand (the loads were the hot spot).
  auto prefetch = [&](const Rows& rows, std::int64_t j) {
    for (std::int64_t i = 0; i < (Rows::shared ? 1 : nq); ++i) {
      if (i > 0 && rows(i, j) == rows(i - 1, j)) continue;
      const auto* bytes = reinterpret_cast<const char*>(rows(i, j));
      for (std::int64_t c = 0; c < d * static_cast<std::int64_t>(sizeof(T)); c += 64)
        __builtin_prefetch(bytes + c);
    }
  };
  // row[i]: row j of query i in fp32, loaded once per distinct row.
  auto load = [&](const Rows& rows, std::int64_t j) {
    for (std::int64_t i = 0; i < nq; ++i) {
      raw[i] = rows(i, j);
      std::int64_t same = -1;
      if (Rows::shared && i > 0) same = 0;
      for (std::int64_t e = 0; !Rows::shared && e < i && same < 0; ++e)
        if (raw[e] == raw[i]) same = e;
      row[i] = same >= 0 ? row[same] : row_f32(raw[i], d, buf.data() + i * d);
    }
  };
  for (std::int64_t j = 0; j < nk; ++j) {
    if (j + 2 < nk) prefetch(k, j + 2);
    load(k, j);
    for (std::int64_t i = 0; i < nq; ++i)
      head_dots(q + i * q_stride, row[i], heads, dh, scale, scores + i * heads * nk + j, nk);
  }
  for (std::int64_t ih = 0; ih < nq * heads; ++ih) {
    float* s = scores + ih * nk;
    float mx = -std::numeric_limits<float>::infinity();
    for (std::int64_t j = 0; j < nk; ++j) mx = std::max(mx, s[j]);
    float sum = 0.f;
    for (std::int64_t j = 0; j < nk; ++j) sum += (s[j] = std::exp(s[j] - mx));
    const float inv = 1.f / sum;
    for (std::int64_t j = 0; j < nk; ++j) s[j] *= inv;
  }
  for (std::int64_t i = 0; i < nq; ++i)
    for (std::int64_t c = 0; c < d; ++c) out[i * out_stride + c] = 0.f;
  prefetch(v, 0);
  if (nk > 1) prefetch(v, 1);
  for (std::int64_t j = 0; j < nk; ++j) {
    if (j + 2 < nk) prefetch(v, j + 2);
    load(v, j);
    for (std::int64_t i = 0; i < nq; ++i)
      for (std::int64_t h = 0; h < heads; ++h) {
        const float p = scores[(i * heads + h) * nk + j];
        float* oh = out + i * out_stride + h * dh;
        const float* vh = row[i] + h * dh;
#pragma omp simd
        for (std::int64_t c = 0; c < dh; ++c) oh[c] += p * vh[c];
      }
  }
}

template <typename T>
void attention_queries_chunked(const float* q, std::int64_t q_stride, std::int64_t nq, const T* k,
                               const T* v, std::int64_t kv_stride, std::int64_t nk,
                               std::int64_t heads, std::int64_t dh, float* out,
                               std::int64_t out_stride, float* scores) {
  for (std::int64_t i0 = 0; i0 < nq; i0 += kChunk)
    attention_queries_impl<T>(q + i0 * q_stride, q_stride, std::min(kChunk, nq - i0),
                              SharedRows<T>{k, kv_stride}, SharedRows<T>{v, kv_stride}, nk, heads,
                              dh, out + i0 * out_stride, out_stride, scores);
}

template <typename T>
void attention_gathered_chunked(const float* q, std::int64_t q_stride, std::int64_t nq, const T* kv,
                                std::int64_t kv_stride, std::int64_t v_offset,
                                const std::int64_t* rows, std::int64_t nk, std::int64_t heads,
                                std::int64_t dh, float* out, std::int64_t out_stride,
                                float* scores) {
  for (std::int64_t i0 = 0; i0 < nq; i0 += kChunk)
    attention_queries_impl<T>(q + i0 * q_stride, q_stride, std::min(kChunk, nq - i0),
                              GatheredRows<T>{kv, kv_stride, rows + i0 * nk, nk},
                              GatheredRows<T>{kv + v_offset, kv_stride, rows + i0 * nk, nk}, nk,
                              heads, dh, out + i0 * out_stride, out_stride, scores);
}
}  // namespace

void attention_query(const float* q, const float* k, const float* v, std::int64_t kv_stride,
                     std::int64_t nk, std::int64_t heads, std::int64_t dh, float* out,
                     float* scores) {
  attention_queries_chunked(q, 0, 1, k, v, kv_stride, nk, heads, dh, out, 0, scores);
}

void attention_query(const float* q, const Half* k, const Half* v, std::int64_t kv_stride,
                     std::int64_t nk, std::int64_t heads, std::int64_t dh, float* out,
                     float* scores) {
  attention_queries_chunked(q, 0, 1, k, v, kv_stride, nk, heads, dh, out, 0, scores);
}

void attention_queries(const float* q, std::int64_t q_stride, std::int64_t nq, const float* k,
                       const float* v, std::int64_t kv_stride, std::int64_t nk, std::int64_t heads,
                       std::int64_t dh, float* out, std::int64_t out_stride, float* scores) {
  attention_queries_chunked(q, q_stride, nq, k, v, kv_stride, nk, heads, dh, out, out_stride,
                            scores);
}

void attention_queries(const float* q, std::int64_t q_stride, std::int64_t nq, const Half* k,
                       const Half* v, std::int64_t kv_stride, std::int64_t nk, std::int64_t heads,
                       std::int64_t dh, float* out, std::int64_t out_stride, float* scores) {
  attention_queries_chunked(q, q_stride, nq, k, v, kv_stride, nk, heads, dh, out, out_stride,
                            scores);
}

void attention_queries_gathered(const float* q, std::int64_t q_stride, std::int64_t nq,
                                const float* kv, std::int64_t kv_stride, std::int64_t v_offset,
                                const std::int64_t* rows, std::int64_t nk, std::int64_t heads,
                                std::int64_t dh, float* out, std::int64_t out_stride,
                                float* scores) {
  attention_gathered_chunked(q, q_stride, nq, kv, kv_stride, v_offset, rows, nk, heads, dh, out,
                             out_stride, scores);
}

void attention_queries_gathered(const float* q, std::int64_t q_stride, std::int64_t nq,
                                const Half* kv, std::int64_t kv_stride, std::int64_t v_offset,
                                const std::int64_t* rows, std::int64_t nk, std::int64_t heads,
                                std::int64_t dh, float* out, std::int64_t out_stride,
                                float* scores) {
  attention_gathered_chunked(q, q_stride, nq, kv, kv_stride, v_offset, rows, nk, heads, dh, out,
                             out_stride, scores);
}

void attention_head_ref(const float* q, std::int64_t q_stride, const float* k,
                        std::int64_t k_stride, const float* v, std::int64_t v_stride,
                        std::int64_t nq, std::int64_t nk, std::int64_t dh, float* out,
                        std::int64_t out_stride) {
  std::vector<double> s(static_cast<std::size_t>(nk));
  for (std::int64_t i = 0; i < nq; ++i) {
    double mx = -1e300, sum = 0;
    for (std::int64_t j = 0; j < nk; ++j) {
      double dot = 0;
      for (std::int64_t c = 0; c < dh; ++c)
        dot += double(q[i * q_stride + c]) * k[j * k_stride + c];
      s[j] = dot / std::sqrt(static_cast<double>(dh));
      mx = std::max(mx, s[j]);
    }
    for (auto& e : s) sum += (e = std::exp(e - mx));
    for (std::int64_t c = 0; c < dh; ++c) {
      double acc = 0;
      for (std::int64_t j = 0; j < nk; ++j) acc += s[j] / sum * v[j * v_stride + c];
      out[i * out_stride + c] = static_cast<float>(acc);
    }
  }
}

}  // namespace keel::nmt
