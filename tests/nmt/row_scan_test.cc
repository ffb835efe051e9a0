// RowScan (a row's log-sum-exp and its best entries, a chunk of columns at a time) against the
// whole row ranked plainly: every score in float from the scan's log-sum-exp, sorted by
// (score desc, token asc) as the reference beam search orders one hypothesis's continuations.
#include "keel/nmt/row_scan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "keel/nmt/logsumexp.h"

namespace keel::nmt {
namespace {

// An online float/double log-sum-exp against the double reference: a few float ulps.
constexpr double kRowScanLseTol = 2e-6;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

std::vector<ScoredToken> scan(const std::vector<float>& x, std::int64_t cols, std::size_t want,
                              float base, const std::vector<std::uint32_t>& excluded, bool* exact,
                              float* lse) {
  RowScan s;
  s.reset(want, base, excluded.data(), excluded.size());
  std::vector<float> chunk;
  const auto n = static_cast<std::int64_t>(x.size());
  for (std::int64_t n0 = 0; n0 < n; n0 += cols) {
    chunk.assign(x.begin() + n0, x.begin() + std::min(n, n0 + cols));  // the GEMM's own buffer
    s.add(n0, chunk.data(), static_cast<std::int64_t>(chunk.size()));
  }
  std::vector<ScoredToken> out;
  *exact = s.finish(out);
  *lse = s.lse();
  return out;
}

// The best `want` of the whole row by (score desc, token asc).
std::vector<ScoredToken> best_of_row(const std::vector<float>& x, std::size_t want, float base,
                                     float lse, const std::vector<std::uint32_t>& excluded) {
  std::vector<ScoredToken> all;
  for (std::size_t v = 0; v < x.size(); ++v) {
    const auto t = static_cast<std::uint32_t>(v);
    if (x[v] == kNegInf || std::find(excluded.begin(), excluded.end(), t) != excluded.end())
      continue;
    all.push_back({base + (x[v] - lse), t});
  }
  std::sort(all.begin(), all.end(), [](const ScoredToken& a, const ScoredToken& b) {
    return a.score != b.score ? a.score > b.score : a.token < b.token;
  });
  all.resize(std::min(want, all.size()));
  return all;
}

// The survivors hold the row's best `want` with their exact scores, in token order, and nothing
// that ranks below the want-th best.
void expect_same_best(const std::vector<float>& x, std::int64_t cols, std::size_t want, float base,
                      const std::vector<std::uint32_t>& excluded, const std::string& what) {
  bool exact = false;
  float lse = 0.f;
  const auto got = scan(x, cols, want, base, excluded, &exact, &lse);
  ASSERT_TRUE(exact) << what;
  const double ref = logsumexp_ref(x.data(), static_cast<std::int64_t>(x.size()));
  EXPECT_NEAR(lse, ref, kRowScanLseTol * std::max(1.0, std::abs(ref))) << what;
  ASSERT_TRUE(std::is_sorted(got.begin(), got.end(), [](auto& a, auto& b) {
    return a.token < b.token;
  })) << what;
  auto ranked = got;
  std::sort(ranked.begin(), ranked.end(), [](const ScoredToken& a, const ScoredToken& b) {
    return a.score != b.score ? a.score > b.score : a.token < b.token;
  });
  const auto want_best = best_of_row(x, want, base, lse, excluded);
  ASSERT_GE(ranked.size(), want_best.size()) << what;
  for (std::size_t i = 0; i < want_best.size(); ++i) {
    EXPECT_EQ(ranked[i].token, want_best[i].token) << what << " rank " << i;
    EXPECT_EQ(ranked[i].score, want_best[i].score) << what << " rank " << i;
  }
  if (want_best.size() == want) {
    for (const ScoredToken& c : got) EXPECT_GE(c.score, want_best.back().score) << what;
  }
}

std::vector<float> normal_row(std::size_t n, float spread, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, spread);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

TEST(RowScan, KeepsTheWholeRowsBestInEveryChunking) {
  for (unsigned seed = 1; seed <= 3; ++seed) {
    const auto x = normal_row(32000, 3.f, seed);
    for (std::int64_t cols : {1, 7, 64, 512, 1000, 32000})
      for (std::size_t want : {1u, 8u, 40u})
        for (float base : {0.f, -37.25f})
          expect_same_best(x, cols, want, base, {},
                           "seed " + std::to_string(seed) + " cols " + std::to_string(cols) +
                               " want " + std::to_string(want));
  }
}

TEST(RowScan, TiesExclusionsAndMinusInfinityRankAsTheReferenceDoes) {
  // Few distinct values: long runs of exact ties, broken by token.
  std::vector<float> ties(5000);
  for (std::size_t i = 0; i < ties.size(); ++i) ties[i] = static_cast<float>((i * 7919) % 5);
  expect_same_best(ties, 64, 8, -3.f, {}, "exact ties");
  // Neighbouring floats: different logits whose scores may round to the same value.
  auto near = normal_row(4096, 0.01f, 9);
  for (std::size_t i = 0; i < near.size(); i += 2) near[i + 1] = std::nextafter(near[i], 1.f);
  expect_same_best(near, 100, 8, -1000.f, {}, "neighbouring floats");
  // The best entries excluded (padding, BOS, banned n-grams) still count in the sum only.
  auto x = normal_row(3000, 2.f, 4);
  std::vector<std::uint32_t> top(3000);
  for (std::uint32_t i = 0; i < 3000; ++i) top[i] = i;
  std::sort(top.begin(), top.end(), [&](auto a, auto b) { return x[a] > x[b]; });
  expect_same_best(x, 128, 8, 0.f, {top[0], top[2], top[5]}, "excluded best");
  // -inf entries (masked tokens) are never kept; a row that is all -inf keeps nothing.
  std::vector<float> masked(1000, kNegInf);
  masked[17] = 1.f;
  masked[900] = 2.f;
  expect_same_best(masked, 64, 8, 0.f, {}, "mostly -inf");
  bool exact = false;
  float lse = 0.f;
  EXPECT_TRUE(scan(std::vector<float>(100, kNegInf), 16, 4, 0.f, {}, &exact, &lse).empty());
  EXPECT_EQ(lse, kNegInf);
}

TEST(RowScan, SaysWhenWhatItDroppedMightTieAfterRounding) {
  // Thirty logits of 2.99 and four of 3.0 first, small ones after, one huge one last: the
  // threshold settles just under 2.99, but base + (x - lse) with lse ~ 1e7 (float ulp 1) rounds
  // 2.99 and 3.0 to the same score, where ties rank by token: the scan cannot show that what it
  // set aside ranks below what it kept, and says so.
  std::vector<float> x(2048);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.001f * static_cast<float>(i % 100);
  for (std::size_t i = 0; i < 30; ++i) x[i] = 2.99f;
  for (std::size_t i = 30; i < 34; ++i) x[i] = 3.f;
  x.back() = 1e7f;
  bool exact = true;
  float lse = 0.f;
  scan(x, 256, 4, 0.f, {}, &exact, &lse);
  EXPECT_FALSE(exact);
  // Without the huge logit the same row's survivors are shown exact.
  x.back() = 1.5f;
  expect_same_best(x, 256, 4, 0.f, {}, "no huge logit");
}

}  // namespace
}  // namespace keel::nmt
