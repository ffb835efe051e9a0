#pragma once
// The per-batch decoding state, shared by transformer.cc (steps) and decoding.cc (search).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "keel/nmt/transformer.h"

namespace keel::nmt {

// Everything one batch needs while decoding.
struct Transformer::State {
  std::int64_t batch = 0, max_steps = 0;
  std::int64_t slots_per_sentence = 1;       // beam size: slot i decodes sentence i / beam
  std::vector<std::int64_t> offset, length;  // source rows of sentence b in the packed memory
  // K/V caches hold fp32 for Compute::fp32 and binary16 (half.h) in the int8 modes: half the
  // memory and traffic. Left uninitialized: every entry is written before it is read, and
  // zeroing ~90 MB per Transformer-base batch showed up in profiles.
  bool half = false;
  std::vector<std::unique_ptr<std::byte[]>> cross_kv;  // per layer [Σ L_b, 2d]: rows [k | v], once
  std::vector<std::unique_ptr<std::byte[]>> self_kv;   // per layer [slots, max_steps, 2d]: KV cache
  // Beam search only: [slots, max_steps], the slot whose cached row j slot b's hypothesis reads
  // (its history lives where its ancestors wrote it; reordering copies these, not the rows).
  // Empty: every slot reads its own rows.
  std::vector<std::int32_t> history;
  std::int64_t kv_bytes() const { return half ? 2 : 4; }  // per element
  // Scratch reused across steps.
  std::vector<float> x, h, big, ctx, tmp;
  std::vector<std::int32_t> positions;
  std::vector<std::int64_t> self_rows;  // per query row of a step: its cache rows (history)
};

}  // namespace keel::nmt
