// Written by hand: a streaming top-k with an online log-sum-exp over a GEMM's column chunks is
// specific to beam search's scoring (no library offers it); the whole-row version it replaces is
// logsumexp.cc + beam.cc's add_candidates, which remains the fallback.
#include "keel/nmt/row_scan.h"

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
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
}

void RowScan::reset(std::size_t want, float base, const std::uint32_t* excluded,
                    std::size_t n_excluded) {
  assert(want >= 1);
  want_ = want;
  cap_ = std::max<std::size_t>(4 * want, want + 16);
  base_ = base;
  max_ = kNegInf;
  threshold_ = kNegInf;
  sum_ = 0.0;
  excluded_.assign(excluded, excluded + n_excluded);
  kept_.clear();
}

bool RowScan::excluded(std::uint32_t token) const {
  return std::find(excluded_.begin(), excluded_.end(), token) != excluded_.end();
}

// Keeps the entries at or above the want-th largest x less a margin: x values closer than that
// might round to the same score once lse and base are known (finish() checks that they do not).
void RowScan::compact() {
  assert(kept_.size() >= want_);
  const auto nth = kept_.begin() + static_cast<std::ptrdiff_t>(want_ - 1);
  std::nth_element(kept_.begin(), nth, kept_.end(),
                   [](const Entry& a, const Entry& b) { return a.x > b.x; });
  const float xw = nth->x;
  const float margin =
      1e-5f * (16.f + std::fabs(base_) + 2.f * std::fabs(xw) + 2.f * std::fabs(max_));
  threshold_ = std::max(threshold_, xw - margin);
  std::erase_if(kept_, [this](const Entry& e) { return e.x < threshold_; });
  if (kept_.size() * 2 > cap_)
    cap_ *= 2;  // many near-equal entries: room, not a compaction per add
}

// GCC 12 flags _mm512_undefined_*() inside its own reduction intrinsics as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
void RowScan::add(std::int64_t n0, const float* x, std::int64_t n) {
  if (n <= 0) return;
  auto keep = [this](float v, std::int64_t token) {
    if (!(v >= threshold_) || v == kNegInf) return;
    const auto t = static_cast<std::uint32_t>(token);
    if (excluded(t)) return;
    kept_.push_back({v, t});
    if (kept_.size() >= cap_) compact();
  };
#if defined(__AVX512F__)
  const __m512 neg_inf = _mm512_set1_ps(kNegInf);
  auto tail_mask = [n](std::int64_t i) {
    return static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
  };
  __m512 vmax = neg_inf;
  for (std::int64_t i = 0; i < n; i += 16)
    vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(neg_inf, tail_mask(i), x + i));
  const float chunk_max = _mm512_reduce_max_ps(vmax);
#else
  float chunk_max = kNegInf;
  for (std::int64_t i = 0; i < n; ++i) chunk_max = std::max(chunk_max, x[i]);
#endif
  if (chunk_max > max_) {
    if (max_ != kNegInf) sum_ *= std::exp(static_cast<double>(max_) - chunk_max);
    max_ = chunk_max;
  }
  if (max_ == kNegInf) return;  // only -inf so far: no mass, nothing to keep
#if defined(__AVX512F__)
  // One pass: the exponentials' sum, and the lanes at or above the threshold (rarely any).
  const __m512 vm = _mm512_set1_ps(max_);
  __m512 s0 = _mm512_setzero_ps(), s1 = s0;
  __m512 vt = _mm512_set1_ps(threshold_);
  for (std::int64_t i = 0; i < n; i += 16) {
    const __m512 v = _mm512_mask_loadu_ps(neg_inf, tail_mask(i), x + i);
    const __m512 e = _ZGVeN16v_expf(_mm512_sub_ps(v, vm));  // masked-off lanes: exp(-inf) = 0
    if ((i / 16) % 2 == 0)
      s0 = _mm512_add_ps(s0, e);
    else
      s1 = _mm512_add_ps(s1, e);
    __mmask16 hits = _mm512_mask_cmp_ps_mask(tail_mask(i), v, vt, _CMP_GE_OQ);
    if (hits == 0) continue;
    for (; hits; hits &= static_cast<__mmask16>(hits - 1)) {
      const int lane = __builtin_ctz(hits);
      keep(x[i + lane], n0 + i + lane);
    }
    vt = _mm512_set1_ps(threshold_);
  }
  sum_ += _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
#else
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    s += std::exp(static_cast<double>(x[i]) - max_);
    keep(x[i], n0 + i);
  }
  sum_ += s;
#endif
}
#pragma GCC diagnostic pop

float RowScan::lse() const {
  if (max_ == kNegInf) return kNegInf;
  return static_cast<float>(static_cast<double>(max_) + std::log(sum_));
}

bool RowScan::finish(std::vector<ScoredToken>& out) const {
  out.clear();
  const float lse = this->lse();
  for (const Entry& e : kept_) out.push_back({base_ + (e.x - lse), e.token});
  if (out.size() < want_) {
    std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.token < b.token; });
    return threshold_ == kNegInf;  // nothing dropped: all there is
  }
  const auto nth = out.begin() + static_cast<std::ptrdiff_t>(want_ - 1);
  std::nth_element(out.begin(), nth, out.end(),
                   [](const ScoredToken& a, const ScoredToken& b) { return a.score > b.score; });
  const float worst = nth->score;  // the want-th best
  // Whatever was dropped scored at most base + (threshold − lse): it must stay strictly below.
  if (threshold_ != kNegInf && !(base_ + (threshold_ - lse) < worst)) return false;
  std::erase_if(out, [worst](const ScoredToken& c) { return c.score < worst; });
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.token < b.token; });
  return true;
}

}  // namespace keel::nmt
