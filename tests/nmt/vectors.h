#pragma once
// Small numeric helpers shared by the nmt tests: seeded normal vectors and error measures.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace keel::nmt::testing {

inline std::vector<float> randn(std::size_t n, std::uint32_t seed, float scale = 1.f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> d(0.f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(gen);
  return v;
}

inline float max_abs(const std::vector<float>& v) {
  float m = 0.f;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

inline float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0.f;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// rms(a - ref) / rms(ref).
inline double rel_rms(const std::vector<float>& a, const std::vector<float>& ref) {
  double se = 0, ss = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    se += double(a[i] - ref[i]) * (a[i] - ref[i]);
    ss += double(ref[i]) * ref[i];
  }
  return std::sqrt(se / ss);
}

}  // namespace keel::nmt::testing
