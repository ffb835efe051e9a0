// Greedy decoding over a batch, dropping sentences from the batch as they finish.
#include <limits>

#include "keel/core/error.h"
#include "keel/nmt/transformer.h"
#include "state.h"

namespace keel::nmt {

std::vector<Ids> Transformer::greedy(const std::vector<Ids>& src,
                                     const DecodeOptions& options) const {
  if (options.max_length < 0 || options.min_length < 0 || options.min_length > options.max_length)
    throw core::InputError("decoding lengths: need 0 <= min <= max", {},
                           "check --min-decoding-length and --max-decoding-length");
  const auto B = static_cast<std::int64_t>(src.size());
  std::vector<Ids> out(static_cast<std::size_t>(B));
  if (B == 0 || options.max_length == 0) return out;
  const std::int64_t V = config_.tgt_vocab;
  const std::uint32_t eos = config_.eos_id;
  // The step that would emit token max_length+1 never runs, so max_length steps suffice.
  State s = start(src, options.max_length);
  std::vector<int> active(static_cast<std::size_t>(B));
  for (int b = 0; b < B; ++b) active[b] = b;
  std::vector<std::uint32_t> tokens(static_cast<std::size_t>(B), config_.bos_id), next;
  std::vector<float> logits;
  for (int t = 0; t < options.max_length && !active.empty(); ++t) {
    const auto A = static_cast<std::int64_t>(active.size());
    logits.resize(static_cast<std::size_t>(A * V));
    step(s, active, tokens.data(), t, logits.data());
    const bool allow_eos = t >= options.min_length;
    next.assign(static_cast<std::size_t>(A), 0);
#pragma omp parallel for schedule(static) if (A * V > (1 << 16))
    for (std::int64_t r = 0; r < A; ++r) {
      const float* row = logits.data() + r * V;
      float best = -std::numeric_limits<float>::infinity();
      std::uint32_t arg = 0;
      for (std::int64_t v = 0; v < V; ++v)
        if (row[v] > best && (allow_eos || v != eos)) {
          best = row[v];
          arg = static_cast<std::uint32_t>(v);
        }
      next[r] = arg;
    }
    // Keep the unfinished sentences (in order); their next input is the token just chosen.
    std::size_t kept = 0;
    for (std::int64_t r = 0; r < A; ++r) {
      if (next[r] == eos) continue;
      out[active[r]].push_back(next[r]);
      active[kept] = active[r];
      tokens[kept] = next[r];
      ++kept;
    }
    active.resize(kept);
  }
  return out;
}

}  // namespace keel::nmt
