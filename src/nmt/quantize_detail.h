#pragma once
// Rounding and scale rules shared by the reference and the optimized quantizers, so both give
// bit-identical int8 values.
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace keel::nmt::detail {

// 127 / amax, or 1 for an all-zero row (any scale quantizes zeros to zero).
inline float row_scale(float amax) { return amax > 0.f ? 127.f / amax : 1.f; }

// Clamp to [-127, 127] (|x·scale| ≤ 127 up to float rounding), then round half away from zero.
// Branch-free so that loops over it vectorize.
inline std::int32_t round_q(float v) {
  v = std::min(127.f, std::max(-127.f, v));
  return static_cast<std::int32_t>(v + std::copysign(0.5f, v));
}

// Unsigned static quantization (inputs known to be ≥ 0): clamp to [0, 255], round half up.
inline std::int32_t round_u(float v) {
  v = std::min(255.f, std::max(0.f, v));
  return static_cast<std::int32_t>(v + 0.5f);
}

}  // namespace keel::nmt::detail
