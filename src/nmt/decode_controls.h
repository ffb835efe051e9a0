#pragma once
// Decoding controls of the fast paths (greedy in decoding.cc, beam search in beam.cc): the
// repetition penalty and the n-gram ban. The reference beam search has its own.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "keel/nmt/transformer.h"

namespace keel::nmt::detail {

// The hypothesis's distinct tokens, sorted, into `seen` (what the repetition penalty touches).
inline void distinct_tokens(const Ids& hyp, std::vector<std::uint32_t>& seen) {
  seen.assign(hyp.begin(), hyp.end());
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
}

// Divides positive / multiplies negative logits by `penalty` for the tokens of `seen` (sorted)
// within columns [n0, n0 + n) of a row, x[0] being column n0.
inline void penalize_range(float* x, std::int64_t n0, std::int64_t n,
                           const std::vector<std::uint32_t>& seen, float penalty) {
  auto it = std::lower_bound(seen.begin(), seen.end(), static_cast<std::uint64_t>(n0));
  for (; it != seen.end() && static_cast<std::int64_t>(*it) < n0 + n; ++it) {
    float& l = x[static_cast<std::int64_t>(*it) - n0];
    l = l < 0 ? l * penalty : l / penalty;
  }
}

// Divides positive / multiplies negative logits of the tokens in `hyp` by `penalty`, once per
// distinct token (`seen` is scratch).
inline void penalize_repeats(float* logits, const Ids& hyp, float penalty,
                             std::vector<std::uint32_t>& seen) {
  if (penalty == 1.f || hyp.empty()) return;
  distinct_tokens(hyp, seen);
  penalize_range(logits, 0, std::numeric_limits<std::int64_t>::max() / 2, seen, penalty);
}

// Appends to `banned` every token that, appended to `hyp`, would repeat one of its n-grams.
inline void ngram_bans(const Ids& hyp, int n, std::vector<std::uint32_t>& banned) {
  const auto len = static_cast<std::int64_t>(hyp.size());
  if (n <= 0 || len + 1 < n) return;
  // The last n-1 tokens are the prefix every earlier n-gram is matched against.
  const std::int64_t p = n - 1;
  for (std::int64_t i = 0; i + p < len; ++i)
    if (std::equal(hyp.begin() + i, hyp.begin() + i + p, hyp.end() - p))
      banned.push_back(hyp[i + p]);
}

}  // namespace keel::nmt::detail
