// logsumexp_blocks (AVX-512 + libmvec, or the scalar loop) against a plain double reference.
#include "keel/nmt/logsumexp.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

namespace keel::nmt {
namespace {

// float sums of up to 32 000 terms against a double sum: a few float ulps of the result.
constexpr double kLseTol = 2e-6;

std::vector<float> random_row(std::int64_t n, float spread, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, spread);
  std::vector<float> x(static_cast<std::size_t>(n));
  for (float& v : x) v = dist(rng);
  return x;
}

void expect_matches_reference(const std::vector<float>& x, std::int64_t block) {
  const auto n = static_cast<std::int64_t>(x.size());
  std::vector<float> block_max(static_cast<std::size_t>((n + block - 1) / block), 12345.f);
  const float lse = logsumexp_blocks(x.data(), n, block, block_max.data());
  const double ref = logsumexp_ref(x.data(), n);
  EXPECT_NEAR(lse, ref, kLseTol * std::max(1.0, std::abs(ref))) << "n " << n << " block " << block;
  for (std::int64_t b = 0; b * block < n; ++b) {
    const auto first = x.begin() + b * block;
    const auto last = x.begin() + std::min(n, (b + 1) * block);
    EXPECT_EQ(block_max[static_cast<std::size_t>(b)], *std::max_element(first, last))
        << "block " << b << " of " << block << ", n " << n;
  }
}

TEST(LogSumExp, MatchesTheDoubleReferenceAndGivesExactBlockMaxima) {
  // A vocabulary row, tails that end mid-vector and mid-block, and a block size that takes the
  // scalar loop (not a multiple of 16).
  for (const std::int64_t n : {32000, 1000, 7, 1, 17})
    for (const std::int64_t block : {64, 48, 16, 10}) expect_matches_reference(random_row(n, 4.f, 7u), block);
}

TEST(LogSumExp, LargeLogitsDoNotOverflowAndMaskedEntriesCountForNothing) {
  std::vector<float> x = random_row(4096, 3.f, 11u);
  for (float& v : x) v += 200.f;  // exp(200) overflows float: only exp(x - max) may be taken
  expect_matches_reference(x, 64);
  const double with_all = logsumexp_ref(x.data(), 4096);
  // -inf entries (tokens a model never emits) add nothing: the same as leaving them out.
  std::vector<float> masked = x;
  for (std::size_t i = 0; i < masked.size(); i += 3) masked[i] = -std::numeric_limits<float>::infinity();
  std::vector<float> kept;
  for (std::size_t i = 0; i < x.size(); ++i)
    if (i % 3 != 0) kept.push_back(x[i]);
  std::vector<float> bm(64);
  const float lse = logsumexp_blocks(masked.data(), 4096, 64, bm.data());
  EXPECT_NEAR(lse, logsumexp_ref(kept.data(), static_cast<std::int64_t>(kept.size())), kLseTol * 200);
  EXPECT_LT(lse, with_all);
}

}  // namespace
}  // namespace keel::nmt
