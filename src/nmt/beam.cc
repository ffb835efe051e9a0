// Beam search, the fast path (the plain one is beam_reference.cc; tests compare them). Where the
// reference spent its time (docs/benchmarks.md): a double exp per vocabulary entry of every
// hypothesis, a heap test per entry, and every hypothesis's whole cache copied every step.
// Here: only live hypotheses are fed (one per sentence at the first step); the output
// projection runs over all of them a chunk of columns at a time (Linear::forward_chunks), each
// chunk folded into every row's online log-sum-exp and its few entries that can still rank
// (RowScan) while it is in cache; a sentence merges its rows' survivors; and a hypothesis reads
// its history where its ancestors cached it (State::history): nothing is copied, and a
// sentence's hypotheses read the rows they share once.
#include <algorithm>
#include <atomic>
#include <cassert>
#include <cmath>
#include <limits>

#include "decode_controls.h"
#include "keel/nmt/gemm.h"
#include "keel/nmt/logsumexp.h"
#include "keel/nmt/row_scan.h"
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
// The output projection's shape per call (forward_chunks): up to kPassRows hypotheses × 512
// columns, so a chunk's weights (1 MB fp32) and results (256 KB at 128 rows) stay in L2 while
// the scoring reads them. Against 64-row calls over all 32 000 columns that wrote the logits
// out: ~20 % less time per row for the projection and its log-sum-exp (docs/benchmarks.md).
constexpr std::int64_t kPassRows = 256, kChunkCols = 512;

// Offers candidate c to a sentence's heap `top` of the best `want` (worst on top). A sentence's
// candidates arrive in (beam, token) order, so a later one that only ties the worst kept one
// never displaces it: the strict test on the score alone selects exactly what the reference's
// heap does.
void offer(std::vector<Candidate>& top, std::size_t want, const Candidate& c) {
  if (top.size() < want) {
    if (c.score == kNegInf) return;  // nothing to rank
    top.push_back(c);
    std::push_heap(top.begin(), top.end(), better);  // worst on top
  } else if (c.score > top.front().score) {
    std::pop_heap(top.begin(), top.end(), better);
    top.back() = c;
    std::push_heap(top.begin(), top.end(), better);
  }
}

// The whole row at once, for a row whose RowScan could not be shown exact: hypothesis `beam`'s
// continuations offered to `top`, scored base + (row[token] - lse) from its row of logits and
// their log-sum-exp, skipping `skip` tokens and `banned` ones, in token order.
void add_candidates(const float* row, std::int64_t V, float base, float lse, const float* block_max,
                    int beam, const std::vector<std::uint32_t>& banned, const std::uint32_t* skip,
                    int nskip, std::size_t want, std::vector<Candidate>& top) {
  for (std::int64_t v0 = 0; v0 < V; v0 += kBlock) {
    // Once the heap is full, blocks whose best score cannot beat the worst kept one are skipped
    // (almost all of them): rounding is monotone, so no score in the block beats it either.
    if (top.size() >= want && !(base + (block_max[v0 / kBlock] - lse) > top.front().score))
      continue;
    for (std::int64_t v = v0; v < std::min(V, v0 + kBlock); ++v) {
      const float score = base + (row[v] - lse);
      if (top.size() >= want && !(score > top.front().score)) continue;
      const auto tok = static_cast<std::uint32_t>(v);
      if (std::find(skip, skip + nskip, tok) != skip + nskip) continue;
      if (std::find(banned.begin(), banned.end(), tok) != banned.end()) continue;
      offer(top, want, Candidate{score, beam, tok});
    }
  }
}

std::atomic<bool> rescan_every_row{false};

}  // namespace

void detail::rescan_every_row_for_tests(bool on) {
  rescan_every_row = on;
}

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
  std::vector<std::uint32_t> tokens;
  const auto want = static_cast<std::size_t>(2 * K);  // the best 2K: K may end in EOS
  std::vector<RowScan> scans;
  std::vector<std::vector<std::uint32_t>> repeats;  // per row: its tokens, for the penalty
  std::vector<std::vector<ScoredToken>> survivors;  // per row: what may rank, token order
  std::vector<Candidate> top;
  std::vector<std::uint32_t> excluded, banned, seen;
  std::vector<float> row, block_max;  // the whole-row fallback
  const bool penalty = options.repetition_penalty != 1.f;
  const std::int64_t d = config_.d_model;
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
    auto banned_of = [&](std::size_t slot) -> const std::vector<std::uint32_t>& {
      banned.clear();
      detail::ngram_bans(hyp[slot], options.no_repeat_ngram_size, banned);
      return banned;
    };
    if (scans.size() < static_cast<std::size_t>(A)) {
      scans.resize(static_cast<std::size_t>(A));
      repeats.resize(static_cast<std::size_t>(A));
      survivors.resize(static_cast<std::size_t>(A));
    }
    for (std::int64_t r = 0; r < A; ++r) {
      const auto slot = static_cast<std::size_t>(active[r]);
      excluded.assign(skip, skip + nskip);
      const auto& ban = banned_of(slot);
      excluded.insert(excluded.end(), ban.begin(), ban.end());
      scans[r].reset(want, score[slot], excluded.data(), excluded.size());
      if (penalty) detail::distinct_tokens(hyp[slot], repeats[r]);
    }
    // All rows' logits, a chunk of columns at a time, each chunk scored while in cache. Rows are
    // independent, so the scores are those of one projection over all of them.
    for (std::int64_t r0 = 0; r0 < A; r0 += kPassRows) {
      const std::int64_t rows = std::min(kPassRows, A - r0);
      output_->forward_chunks(
          hidden + r0 * d, rows, kChunkCols, [&](std::int64_t n0, std::int64_t nc, float* values) {
            for (std::int64_t m = 0; m < rows; ++m) {
              float* x = values + m * nc;
              if (penalty)
                detail::penalize_range(x, n0, nc, repeats[r0 + m], options.repetition_penalty);
              scans[r0 + m].add(n0, x, nc);
            }
          });
    }
    const bool rescan_all = rescan_every_row;
    for (std::int64_t r = 0; r < A; ++r) {
      if (scans[r].finish(survivors[r]) && !rescan_all) continue;
      // Dropped entries might tie the kept ones after rounding (logits far apart in magnitude):
      // this row's logits again, whole, ranked as the reference does.
      const auto slot = static_cast<std::size_t>(active[r]);
      row.resize(static_cast<std::size_t>(V));
      block_max.resize(static_cast<std::size_t>((V + kBlock - 1) / kBlock));
      output_->forward(hidden + r * d, 1, row.data());
      if (penalty)
        detail::penalize_repeats(row.data(), hyp[slot], options.repetition_penalty, seen);
      const float lse = logsumexp_blocks(row.data(), V, kBlock, block_max.data());
      top.clear();
      add_candidates(row.data(), V, score[slot], lse, block_max.data(), 0, banned_of(slot), skip,
                     nskip, want, top);
      survivors[r].clear();
      for (const Candidate& c : top) survivors[r].push_back({c.score, c.token});
      std::sort(survivors[r].begin(), survivors[r].end(),
                [](const ScoredToken& x, const ScoredToken& y) { return x.token < y.token; });
    }
    for (std::size_t i = 0; i < running.size(); ++i) {
      const std::int64_t b = running[i];
      const bool final_step = t + 1 == limit[b];
      // The sentence's rows in hypothesis order, each in token order: the reference's order.
      top.clear();
      const std::int64_t end = i + 1 < running.size() ? first_row[i + 1] : A;
      for (std::int64_t r = first_row[i]; r < end; ++r)
        for (const ScoredToken& c : survivors[r])
          offer(top, want, Candidate{c.score, static_cast<std::int32_t>(active[r] % K), c.token});
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
