// Beam search, the fast path (the plain one is beam_reference.cc; tests compare them). Where the
// reference spent its time (docs/benchmarks.md): a double exp per vocabulary entry of every
// hypothesis, a heap test per entry, and every hypothesis's whole cache copied every step.
// Here: only live hypotheses are fed (one per sentence at the first step), the logits arrive one
// row at a time (int8: dequantized into a cached row), one pass finds the row's block maxima and
// a second its log-sum-exp (logsumexp.h; the row is never rewritten normalized), a scan of the
// blocks that can still qualify finds its best 2K, a sentence merges its rows', and a hypothesis
// reads its history where its ancestors cached it (State::history): nothing is copied, and a
// sentence's hypotheses read the rows they share once.
#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "decode_controls.h"
#include "keel/nmt/gemm.h"
#include "keel/nmt/logsumexp.h"
#include "keel/nmt/transformer.h"
#include "state.h"

namespace keel::nmt {

namespace {

struct Candidate {
  float score;
  std::int32_t beam;  // parent hypothesis
  std::uint32_t token;
};
// Higher score first; ties by parent then token, as the reference orders them.
bool better(const Candidate& a, const Candidate& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.beam != b.beam) return a.beam < b.beam;
  return a.token < b.token;
}

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr std::int64_t kBlock = 64;
// Rows of logits a beam step holds at once (beam_search). Each run re-reads the whole output
// projection (32 000 x d: 64 MB in fp32, 16 MB in int8), so fewer, larger runs save memory
// traffic; each holds rows x V floats (fp32 logits, int8 s32 accumulators). fp32: 64 rows (beam 4
// / greedy 2.05-2.13x time at 1.44x peak RSS, against 2.81x at 32 rows; 128 rows reached 1.50x
// RSS; docs/benchmarks.md);
// int8, whose weights are a quarter of the bytes: 32 rows, a greedy batch's worth.
constexpr std::int64_t kProjectRowsFp32 = 64, kProjectRowsInt8 = 32;

// Adds hypothesis `beam`'s continuations to its sentence's heap `top` of the best `want` (worst
// on top), scored base + (row[token] - lse) from its row of logits and their log-sum-exp,
// skipping `skip` tokens and `banned` ones. A sentence's rows are fed in (beam, token) order into
// one heap, so a later candidate that only ties the worst kept one never displaces it: the strict
// test on the score alone selects exactly what the reference's heap does.
void add_candidates(const float* row, std::int64_t V, float base, float lse,
                    const float* block_max, int beam, const std::vector<std::uint32_t>& banned,
                    const std::uint32_t* skip, int nskip, std::size_t want,
                    std::vector<Candidate>& top) {
  float worst = top.size() < want ? kNegInf : top.front().score;
  for (std::int64_t v0 = 0; v0 < V; v0 += kBlock) {
    // Once the heap is full, blocks whose best score cannot beat the worst kept one are skipped
    // (almost all of them): rounding is monotone, so no score in the block beats it either.
    if (top.size() >= want && !(base + (block_max[v0 / kBlock] - lse) > worst)) continue;
    for (std::int64_t v = v0; v < std::min(V, v0 + kBlock); ++v) {
      const float score = base + (row[v] - lse);
      if (!(score > worst) && top.size() >= want) continue;
      if (top.size() < want && score == kNegInf) continue;  // nothing to rank
      const auto tok = static_cast<std::uint32_t>(v);
      if (std::find(skip, skip + nskip, tok) != skip + nskip) continue;
      if (std::find(banned.begin(), banned.end(), tok) != banned.end()) continue;
      const Candidate c{score, beam, tok};
      if (top.size() < want) {
        top.push_back(c);
        std::push_heap(top.begin(), top.end(), better);  // worst on top
      } else {
        std::pop_heap(top.begin(), top.end(), better);
        top.back() = c;
        std::push_heap(top.begin(), top.end(), better);
      }
      if (top.size() >= want) worst = top.front().score;
    }
  }
}

}  // namespace

std::vector<Ids> Transformer::beam_search(const std::vector<Ids>& src,
                                          const DecodeOptions& options) const {
  check_decode_options(options);
  const auto B = static_cast<std::int64_t>(src.size());
  const int K = options.beam_size;
  const std::int64_t V = config_.tgt_vocab;
  const std::uint32_t eos = config_.eos_id;
  std::vector<Ids> out(static_cast<std::size_t>(B));
  if (B == 0) return out;
  const std::vector<int> limit = sentence_max_lengths(options, src);
  const int steps = *std::max_element(limit.begin(), limit.end());
  if (steps == 0) return out;
  State s = start(src, steps, K);  // slot b·K + k: hypothesis k of sentence b
  s.history.assign(static_cast<std::size_t>(B * K * s.max_steps), 0);
  auto normalized = [&](float score, std::size_t len) {
    return score / std::pow(static_cast<float>(len), options.length_penalty);
  };

  // Live hypotheses of sentence b are k < live[b]; all others are gone (the reference's -inf).
  std::vector<int> live(static_cast<std::size_t>(B), 1);
  std::vector<float> score(static_cast<std::size_t>(B * K), 0.f),
      new_score(static_cast<std::size_t>(K));
  std::vector<Ids> hyp(static_cast<std::size_t>(B * K)), new_hyp(static_cast<std::size_t>(K));
  std::vector<std::uint32_t> last(static_cast<std::size_t>(B * K), config_.bos_id);
  std::vector<std::vector<std::pair<float, Ids>>> finished(static_cast<std::size_t>(B));
  std::vector<char> done(static_cast<std::size_t>(B), 0);
  for (std::int64_t b = 0; b < B; ++b) done[b] = limit[b] == 0;
  std::vector<int> active, parent(static_cast<std::size_t>(K));
  std::vector<std::int64_t> running, first_row;
  std::vector<std::uint32_t> tokens, seen;
  // A run holds run_rows rows, or one sentence's K when more, or all there are when fewer;
  // only fp32 writes their logits (the int8 modes hand over one dequantized row at a time).
  const bool fp32_logits = output_->compute() == Compute::fp32;
  const std::int64_t run_rows = fp32_logits ? kProjectRowsFp32 : kProjectRowsInt8;
  std::vector<float> logits;
  if (fp32_logits)
    logits.resize(
        static_cast<std::size_t>(std::min(std::max<std::int64_t>(run_rows, K), B * K) * V));
  std::vector<std::vector<Candidate>> sentence_top;  // per sentence of a run: its best 2K
  std::vector<std::uint32_t> banned_row;
  std::vector<float> block_max(static_cast<std::size_t>((V + kBlock - 1) / kBlock));
  const bool penalty = options.repetition_penalty != 1.f;
  for (int t = 0; t < steps; ++t) {
    active.clear();
    tokens.clear();
    running.clear();
    first_row.clear();
    for (std::int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      running.push_back(b);
      first_row.push_back(static_cast<std::int64_t>(active.size()));
      for (int k = 0; k < live[b]; ++k) {
        active.push_back(static_cast<int>(b * K + k));
        tokens.push_back(last[b * K + k]);
      }
    }
    if (running.empty()) break;
    const auto A = static_cast<std::int64_t>(active.size());
    const float* hidden = step_hidden(s, active, tokens.data(), t);
    // Padding and BOS are inputs, never outputs; EOS waits for min_length.
    const std::uint32_t skip[3] = {config_.pad_id, config_.bos_id, eos};
    const int nskip = t >= options.min_length ? 2 : 3;
    // The output projection, log-sum-exp and top-k run over runs of whole sentences of at most
    // run_rows rows (one sentence at least), and the logits reach the search one row at a
    // time (project_rows): summed and ranked while the row is in cache, never all K x batch
    // of them at once (4x greedy's, the largest buffers of a beam step). Rows are independent,
    // so the scores are those of one projection over all of them.
    auto end_of = [&](std::size_t j) { return j + 1 < running.size() ? first_row[j + 1] : A; };
    for (std::size_t i = 0; i < running.size();) {
      const std::int64_t chunk_row = first_row[i];
      std::size_t last_sentence = i;
      while (last_sentence + 1 < running.size() &&
             end_of(last_sentence + 1) - chunk_row <= run_rows)
        ++last_sentence;
      const std::int64_t chunk_rows = end_of(last_sentence) - chunk_row;
      const std::size_t first_sentence = i;
      if (sentence_top.size() <= last_sentence - first_sentence)
        sentence_top.resize(last_sentence - first_sentence + 1);
      std::size_t current = first_sentence;  // rows arrive in order, sentence by sentence
      project_rows(hidden + chunk_row * config_.d_model, chunk_rows, logits.data(),
                   [&](std::int64_t r, float* row) {
                     while (chunk_row + r >= end_of(current)) ++current;
                     auto& heap = sentence_top[current - first_sentence];
                     if (chunk_row + r == first_row[current]) heap.clear();
                     const auto slot = static_cast<std::size_t>(active[chunk_row + r]);
                     if (penalty)
                       detail::penalize_repeats(row, hyp[slot], options.repetition_penalty, seen);
                     const float lse = logsumexp_blocks(row, V, kBlock, block_max.data());
                     banned_row.clear();
                     detail::ngram_bans(hyp[slot], options.no_repeat_ngram_size, banned_row);
                     add_candidates(row, V, score[slot], lse, block_max.data(),
                                    static_cast<int>(slot % static_cast<std::size_t>(K)),
                                    banned_row, skip, nskip, static_cast<std::size_t>(2 * K), heap);
                   });
      for (; i <= last_sentence; ++i) {
        const std::int64_t b = running[i];
        const bool final_step = t + 1 == limit[b];
        std::vector<Candidate>& top = sentence_top[i - first_sentence];
        std::sort(top.begin(), top.end(), better);
        int kept = 0;
        for (const Candidate& c : top) {
          if (kept == K) break;
          const Ids& from = hyp[b * K + c.beam];
          if (c.token == eos) {
            finished[b].push_back({normalized(c.score, from.size() + 1), from});
            continue;
          }
          parent[kept] = c.beam;
          new_hyp[kept] = from;
          new_hyp[kept].push_back(c.token);
          new_score[kept] = c.score;
          ++kept;
        }
        reorder_cache(s, b * K, parent, kept, t + 1);
        for (int k = 0; k < kept; ++k) {
          hyp[b * K + k] = std::move(new_hyp[k]);
          score[b * K + k] = new_score[k];
          last[b * K + k] = hyp[b * K + k].back();
        }
        live[b] = kept;
        if (final_step)
          for (int k = 0; k < kept; ++k)
            finished[b].push_back(
                {normalized(score[b * K + k], hyp[b * K + k].size()), hyp[b * K + k]});
        if (static_cast<int>(finished[b].size()) >= K || final_step || kept == 0) done[b] = 1;
      }
    }
  }
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& f = finished[b];
    auto best = std::max_element(f.begin(), f.end(),
                                 [](const auto& x, const auto& y) { return x.first < y.first; });
    if (best != f.end()) out[b] = best->second;
  }
  return out;
}

void Transformer::reorder_cache(State& s, std::int64_t first, const std::vector<int>& parent, int n,
                                int steps) const {
  // Histories are tables of slots (State::history): a hypothesis takes its parent's table, and
  // the cached rows stay where they were written (a slot writes only its step's row, so no row
  // that a history names is ever overwritten).
  assert(!s.history.empty());
  thread_local std::vector<std::int32_t> taken;
  const auto len = static_cast<std::size_t>(steps);
  taken.resize(static_cast<std::size_t>(n) * len);
  auto history = [&](std::int64_t slot) {
    return s.history.begin() + static_cast<std::ptrdiff_t>((first + slot) * s.max_steps);
  };
  for (int j = 0; j < n; ++j)
    std::copy_n(history(parent[j]), len, taken.begin() + static_cast<std::ptrdiff_t>(j * len));
  for (int j = 0; j < n; ++j)
    std::copy_n(taken.begin() + static_cast<std::ptrdiff_t>(j * len), len, history(j));
}

}  // namespace keel::nmt
