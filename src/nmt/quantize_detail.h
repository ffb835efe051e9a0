#pragma once
// Rounding and scale rules shared by the reference and the optimized quantizers, so both give
// bit-identical int8 values.
#include <cstdint>

namespace keel::nmt::detail {

// 127 / amax, or 1 for an all-zero row (any scale quantizes zeros to zero).
inline float row_scale(float amax) { return amax > 0.f ? 127.f / amax : 1.f; }

// Round half away from zero, clamped to [-127, 127] (|x·scale| ≤ 127 up to float rounding).
inline std::int32_t round_q(float v) {
  float r = v >= 0.f ? v + 0.5f : v - 0.5f;
  r = r > 127.f ? 127.f : (r < -127.f ? -127.f : r);
  return static_cast<std::int32_t>(r);
}

}  // namespace keel::nmt::detail
