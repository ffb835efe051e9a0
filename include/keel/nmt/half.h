#pragma once
// IEEE binary16 storage for the decoder's K/V caches in the int8 modes: half the memory and half
// the memory traffic of the attention loops, which read the caches once per step. Arithmetic
// stays fp32; values are converted on load (AVX-512 F16C where the CPU has it).

#include <cstdint>

namespace keel::nmt {

using Half = std::uint16_t;  // binary16 bits

// Round to nearest even, overflow to ±inf, NaN kept NaN (as vcvtps2ph with round-to-nearest).
void float_to_half(const float* in, std::int64_t n, Half* out);
void half_to_float(const Half* in, std::int64_t n, float* out);

// Plain bit-level conversions, the reference the vector paths are tested against.
Half float_to_half_ref(float x);
float half_to_float_ref(Half h);

}  // namespace keel::nmt
