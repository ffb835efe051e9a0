// Greedy decoding over a batch, dropping sentences from the batch as they finish; the
// decoding options' checks and per-sentence length bound.
#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "keel/core/error.h"
#include "keel/nmt/transformer.h"
#include "decode_controls.h"
#include "state.h"

namespace keel::nmt {

void check_decode_options(const DecodeOptions& o) {
  if (o.max_length < 0 || o.min_length < 0)
    throw core::InputError("decoding lengths must be >= 0", {},
                           "check --min-decoding-length and --max-decoding-length");
  if (o.min_length > o.max_length)
    throw core::InputError(fmt::format("min decoding length {} exceeds max decoding length {}",
                                       o.min_length, o.max_length),
                           {}, "lower --min-decoding-length or raise --max-decoding-length");
  if (o.beam_size < 1)
    throw core::InputError("beam size must be >= 1", {}, "check --beam-size");
  if (!(o.max_length_factor >= 0.f) || o.max_length_factor > 1000.f)
    throw core::InputError("max length factor must be in [0, 1000] (0: off)", {},
                           "check --max-length-factor");
  if (o.no_repeat_ngram_size < 0)
    throw core::InputError("no-repeat n-gram size must be >= 0 (0: off)", {},
                           "check --no-repeat-ngram-size");
  if (!(o.repetition_penalty >= 1.f) || o.repetition_penalty > 100.f)
    throw core::InputError("repetition penalty must be in [1, 100] (1: off)", {},
                           "check --repetition-penalty");
}

std::vector<int> sentence_max_lengths(const DecodeOptions& o, const std::vector<Ids>& src) {
  std::vector<int> out;
  out.reserve(src.size());
  for (const Ids& s : src) out.push_back(sentence_max_length(o, s.size()));
  return out;
}

int sentence_max_length(const DecodeOptions& o, std::size_t source_ids) {
  if (o.max_length_factor <= 0.f) return o.max_length;
  const double tokens = static_cast<double>(source_ids > 0 ? source_ids - 1 : 0);  // EOS off
  const double bound = std::ceil(static_cast<double>(o.max_length_factor) * std::max(1.0, tokens));
  return std::max(o.min_length, static_cast<int>(std::min<double>(o.max_length, bound)));
}

std::vector<Ids> Transformer::greedy(const std::vector<Ids>& src,
                                     const DecodeOptions& options) const {
  check_decode_options(options);
  const auto B = static_cast<std::int64_t>(src.size());
  std::vector<Ids> out(static_cast<std::size_t>(B));
  if (B == 0) return out;
  const std::int64_t V = config_.tgt_vocab;
  const std::uint32_t eos = config_.eos_id;
  // Padding and BOS are inputs, never outputs: a model (random, or undertrained) that scores
  // them highest must not emit them.
  const std::int64_t pad = config_.pad_id, bos = config_.bos_id;
  const std::vector<int> limit = sentence_max_lengths(options, src);
  const int steps = *std::max_element(limit.begin(), limit.end());
  if (steps == 0) return out;
  // The step that would emit token limit+1 never runs, so the longest limit is enough steps.
  State s = start(src, steps);
  std::vector<int> active;
  for (int b = 0; b < B; ++b)
    if (limit[b] > 0) active.push_back(b);
  std::vector<std::uint32_t> tokens(static_cast<std::size_t>(B), config_.bos_id), next;
  std::vector<float> logits;
  const bool controls = options.repetition_penalty != 1.f || options.no_repeat_ngram_size > 0;
  for (int t = 0; t < steps && !active.empty(); ++t) {
    const auto A = static_cast<std::int64_t>(active.size());
    logits.resize(static_cast<std::size_t>(A * V));
    step(s, active, tokens.data(), t, logits.data());
    const bool allow_eos = t >= options.min_length;
    next.assign(static_cast<std::size_t>(A), 0);
#pragma omp parallel for schedule(static) if (A * V > (1 << 16))
    for (std::int64_t r = 0; r < A; ++r) {
      float* row = logits.data() + r * V;
      thread_local std::vector<std::uint32_t> banned, seen;
      banned.clear();
      if (controls) {
        const Ids& hyp = out[active[r]];
        detail::penalize_repeats(row, hyp, options.repetition_penalty, seen);
        detail::ngram_bans(hyp, options.no_repeat_ngram_size, banned);
        for (std::uint32_t id : banned) row[id] = -std::numeric_limits<float>::infinity();
      }
      float best = -std::numeric_limits<float>::infinity();
      std::uint32_t arg = 0;
      bool found = false;
      for (std::int64_t v = 0; v < V; ++v)
        if (row[v] > best && (allow_eos || v != eos) && v != pad && v != bos) {
          best = row[v];
          arg = static_cast<std::uint32_t>(v);
          found = true;
        }
      // Every token banned (a tiny vocabulary under a 1-gram ban): the sentence ends.
      next[r] = found ? arg : eos;
    }
    // Keep the unfinished sentences (in order); their next input is the token just chosen.
    std::size_t kept = 0;
    for (std::int64_t r = 0; r < A; ++r) {
      if (next[r] == eos) continue;
      Ids& y = out[active[r]];
      y.push_back(next[r]);
      if (static_cast<int>(y.size()) >= limit[active[r]]) continue;  // at its bound: done
      active[kept] = active[r];
      tokens[kept] = next[r];
      ++kept;
    }
    active.resize(kept);
  }
  return out;
}

}  // namespace keel::nmt

namespace keel::nmt {

std::vector<Ids> Transformer::decode(const std::vector<Ids>& src,
                                     const DecodeOptions& options) const {
  return options.beam_size <= 1 ? greedy(src, options) : beam_search(src, options);
}

}  // namespace keel::nmt
