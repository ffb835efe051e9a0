#pragma once
// The per-batch decoding state, shared by transformer.cc (steps) and decoding.cc (search).
#include <cstdint>
#include <vector>

#include "keel/nmt/transformer.h"

namespace keel::nmt {

// Everything one batch needs while decoding.
struct Transformer::State {
  std::int64_t batch = 0, max_steps = 0;
  std::vector<std::int64_t> offset, length;  // source rows of sentence b in the packed memory
  std::vector<std::vector<float>> cross_kv;  // per layer [Σ L_b, 2d]: rows [k | v], computed once
  std::vector<std::vector<float>> self_kv;   // per layer [B, max_steps, 2d]: the KV cache
  // Scratch reused across steps.
  std::vector<float> x, h, big, ctx, tmp;
  std::vector<std::int32_t> positions;
};

}  // namespace keel::nmt
