// binary16 conversions: the vector paths against the bit-level reference, and the reference
// against exact facts about binary16.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "keel/nmt/half.h"

using namespace keel::nmt;

namespace {

TEST(Half, ReferenceKnownValues) {
  EXPECT_EQ(float_to_half_ref(1.f), 0x3c00);
  EXPECT_EQ(float_to_half_ref(-2.f), 0xc000);
  EXPECT_EQ(float_to_half_ref(65504.f), 0x7bff);  // largest finite
  EXPECT_EQ(float_to_half_ref(65520.f), 0x7c00);  // halfway to 65536: rounds to even = inf
  EXPECT_EQ(float_to_half_ref(65519.f), 0x7bff);
  EXPECT_EQ(float_to_half_ref(std::ldexp(1.f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(float_to_half_ref(std::ldexp(1.f, -25)), 0x0000);  // halfway: rounds to even 0
  EXPECT_EQ(float_to_half_ref(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(float_to_half_ref(std::ldexp(1.f, -14)), 0x0400);        // smallest normal
  EXPECT_EQ(float_to_half_ref(1.f + std::ldexp(1.f, -11)), 0x3c00);  // tie: to even
  EXPECT_EQ(float_to_half_ref(1.f + 3 * std::ldexp(1.f, -11)), 0x3c02);
  EXPECT_EQ(float_to_half_ref(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_TRUE(std::isnan(half_to_float_ref(float_to_half_ref(std::nanf("")))));
  for (int h = 0; h < 0x7c00; ++h)  // every finite half survives a round trip exactly
    ASSERT_EQ(float_to_half_ref(half_to_float_ref(static_cast<Half>(h))), h) << h;
  EXPECT_EQ(half_to_float_ref(0x0001), std::ldexp(1.f, -24));
  EXPECT_EQ(half_to_float_ref(0x03ff), std::ldexp(1023.f, -24));
}

TEST(Half, VectorPathsMatchReference) {
  std::mt19937 gen(7);
  std::vector<float> x;
  std::uniform_int_distribution<std::uint32_t> bits;
  std::normal_distribution<float> normal(0.f, 3.f);
  for (int i = 0; i < 100000; ++i) x.push_back(std::bit_cast<float>(bits(gen)));
  for (int i = 0; i < 100000; ++i) x.push_back(normal(gen));
  for (int i = 0; i < 1000; ++i) x.push_back(std::ldexp(normal(gen), -20));  // subnormal halves
  x.push_back(65520.f);
  x.push_back(-0.f);
  x.resize(x.size() + 5, 1.f / 3.f);  // a scalar tail
  std::vector<Half> h(x.size());
  float_to_half(x.data(), static_cast<std::int64_t>(x.size()), h.data());
  for (std::size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      ASSERT_TRUE(std::isnan(half_to_float_ref(h[i]))) << i;
      continue;
    }
    ASSERT_EQ(h[i], float_to_half_ref(x[i])) << "x = " << x[i];
  }
  std::vector<float> back(x.size());
  half_to_float(h.data(), static_cast<std::int64_t>(h.size()), back.data());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const float ref = half_to_float_ref(h[i]);
    if (std::isnan(ref))
      ASSERT_TRUE(std::isnan(back[i]));
    else
      ASSERT_EQ(back[i], ref) << i;
  }
}

}  // namespace
