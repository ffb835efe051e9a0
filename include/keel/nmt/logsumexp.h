#pragma once
// log Σ exp over one row of scores. Beam search ranks a hypothesis's continuations by
// base + (x[v] − logsumexp(x)) without writing the normalized row, and skips whole blocks whose
// maximum cannot beat the worst score it keeps.

#include <cstdint>

namespace keel::nmt {

// log Σ_i exp(x[i]) over n > 0 floats, in two passes over the row (it stays in cache): the
// maximum m, also written per `block` entries into block_max[⌈n / block⌉], then
// m + log Σ exp(x[i] − m). AVX-512 with glibc's vector expf (libmvec) when compiled for it and
// `block` is a multiple of 16; a scalar loop otherwise.
float logsumexp_blocks(const float* x, std::int64_t n, std::int64_t block, float* block_max);

// The same sum in double, plainly, for tests.
double logsumexp_ref(const float* x, std::int64_t n);

}  // namespace keel::nmt
