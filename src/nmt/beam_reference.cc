// The reference beam search: plain and unoptimized, kept beside the fast one (beam.cc) for
// tests. Per step it takes the log-softmax of every hypothesis's logits in double, scans every
// (hypothesis, token) for the best 2K, and copies every kept hypothesis's whole cache into the
// other half of 2K slots (so no reordering can overwrite a cache still needed).
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "keel/core/error.h"
#include "keel/nmt/transformer.h"
#include "state.h"

namespace keel::nmt {

namespace {
struct Candidate {
  float score;
  std::int64_t beam;  // parent beam k
  std::uint32_t token;
};
// Higher score first; ties by parent then token so results are deterministic (and beam 1
// picks the lowest token id among equal maxima, as greedy does).
bool better(const Candidate& a, const Candidate& b) {
  if (a.score != b.score) return a.score > b.score;
  if (a.beam != b.beam) return a.beam < b.beam;
  return a.token < b.token;
}
}  // namespace

std::vector<Ids> Transformer::beam_search_reference(const std::vector<Ids>& src,
                                                    const DecodeOptions& options) const {
  check_decode_options(options);
  const auto B = static_cast<std::int64_t>(src.size());
  const std::int64_t K = options.beam_size, V = config_.tgt_vocab;
  const std::uint32_t eos = config_.eos_id;
  // Padding and BOS are inputs, never outputs: a model (random, or undertrained) that scores
  // them highest must not emit them.
  const std::int64_t pad = config_.pad_id, bos = config_.bos_id;
  std::vector<Ids> out(static_cast<std::size_t>(B));
  if (B == 0) return out;
  const std::vector<int> limit = sentence_max_lengths(options, src);
  const int steps = *std::max_element(limit.begin(), limit.end());
  if (steps == 0) return out;
  // 2K cache slots per sentence: beams live in one half and are copied into the other when
  // they pick their parents, so a permutation of parents never overwrites a cache still needed.
  State s = start(src, steps, static_cast<int>(2 * K));
  auto slot = [&](std::int64_t b, int half, std::int64_t k) { return b * 2 * K + half * K + k; };
  auto normalized = [&](float score, std::size_t len) {
    return score / std::pow(static_cast<float>(len), options.length_penalty);
  };

  std::vector<float> score(static_cast<std::size_t>(B * K), 0.f);
  for (std::int64_t b = 0; b < B; ++b)  // at step 0 all beams are equal: keep only the first
    for (std::int64_t k = 1; k < K; ++k) score[b * K + k] = -std::numeric_limits<float>::infinity();
  std::vector<Ids> hyp(static_cast<std::size_t>(B * K));
  std::vector<std::uint32_t> last(static_cast<std::size_t>(B * K), config_.bos_id);
  std::vector<std::vector<std::pair<float, Ids>>> finished(static_cast<std::size_t>(B));
  std::vector<char> done(static_cast<std::size_t>(B), 0);
  for (std::int64_t b = 0; b < B; ++b) done[b] = limit[b] == 0;
  int half = 0;
  std::vector<int> active;
  std::vector<std::uint32_t> tokens;
  std::vector<float> logits;
  for (int t = 0; t < steps; ++t) {
    active.clear();
    tokens.clear();
    std::vector<std::int64_t> running;
    for (std::int64_t b = 0; b < B; ++b) {
      if (done[b]) continue;
      running.push_back(b);
      for (std::int64_t k = 0; k < K; ++k) {
        active.push_back(static_cast<int>(slot(b, half, k)));
        tokens.push_back(last[b * K + k]);
      }
    }
    if (running.empty()) break;
    logits.resize(active.size() * static_cast<std::size_t>(V));
    step(s, active, tokens.data(), t, logits.data());
    const bool allow_eos = t >= options.min_length;
    for (std::size_t i = 0; i < running.size(); ++i) {
      const std::int64_t b = running[i];
      const bool final_step = t + 1 == limit[b];
      // Top 2K (parent, token) continuations by total logprob: enough to keep K that are
      // not EOS.
      std::vector<Candidate> top;
      for (std::int64_t k = 0; k < K; ++k) {
        float* row = logits.data() + (static_cast<std::int64_t>(i) * K + k) * V;
        const Ids& mine = hyp[b * K + k];
        if (options.repetition_penalty != 1.f)  // each distinct earlier token once
          for (std::uint32_t id : std::set<std::uint32_t>(mine.begin(), mine.end()))
            row[id] = row[id] < 0 ? row[id] * options.repetition_penalty
                                  : row[id] / options.repetition_penalty;
        // Every n-gram of the hypothesis; a token is banned when the last n-1 tokens and it
        // form one of them.
        const auto n = static_cast<std::size_t>(options.no_repeat_ngram_size);
        std::set<Ids> grams;
        if (n > 0)
          for (std::size_t j = 0; j + n <= mine.size(); ++j)
            grams.insert(Ids(mine.begin() + static_cast<std::ptrdiff_t>(j),
                             mine.begin() + static_cast<std::ptrdiff_t>(j + n)));
        auto banned = [&](std::uint32_t v) {
          if (grams.empty() || mine.size() + 1 < n) return false;
          Ids g(mine.end() - static_cast<std::ptrdiff_t>(n - 1), mine.end());
          g.push_back(v);
          return grams.count(g) > 0;
        };
        float mx = -std::numeric_limits<float>::infinity();
        for (std::int64_t v = 0; v < V; ++v) mx = std::max(mx, row[v]);
        double sum = 0;
        for (std::int64_t v = 0; v < V; ++v) sum += std::exp(double(row[v] - mx));
        const float base = score[b * K + k] - mx - static_cast<float>(std::log(sum));
        for (std::int64_t v = 0; v < V; ++v) {
          if ((!allow_eos && v == eos) || v == pad || v == bos) continue;
          if (banned(static_cast<std::uint32_t>(v))) continue;
          Candidate c{base + row[v], k, static_cast<std::uint32_t>(v)};
          if (static_cast<std::int64_t>(top.size()) < 2 * K) {
            top.push_back(c);
            std::push_heap(top.begin(), top.end(), better);  // worst on top
          } else if (better(c, top.front())) {
            std::pop_heap(top.begin(), top.end(), better);
            top.back() = c;
            std::push_heap(top.begin(), top.end(), better);
          }
        }
      }
      std::sort(top.begin(), top.end(), better);
      std::int64_t kept = 0;
      std::vector<float> new_score(static_cast<std::size_t>(K));
      std::vector<Ids> new_hyp(static_cast<std::size_t>(K));
      for (const Candidate& c : top) {
        if (kept == K) break;
        const Ids& parent = hyp[b * K + c.beam];
        if (c.token == eos) {
          finished[b].push_back({normalized(c.score, parent.size() + 1), parent});
          continue;
        }
        copy_cache(s, slot(b, half, c.beam), slot(b, 1 - half, kept), t + 1);
        new_hyp[kept] = parent;
        new_hyp[kept].push_back(c.token);
        new_score[kept] = c.score;
        last[b * K + kept] = c.token;
        ++kept;
      }
      for (std::int64_t k = 0; k < K; ++k) {
        hyp[b * K + k] = std::move(new_hyp[k]);
        score[b * K + k] = k < kept ? new_score[k] : -std::numeric_limits<float>::infinity();
      }
      if (final_step)
        for (std::int64_t k = 0; k < kept; ++k)
          finished[b].push_back({normalized(score[b * K + k], hyp[b * K + k].size()), hyp[b * K + k]});
      if (static_cast<std::int64_t>(finished[b].size()) >= K || final_step || kept == 0) done[b] = 1;
    }
    half = 1 - half;
  }
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& f = finished[b];
    auto best = std::max_element(f.begin(), f.end(), [](const auto& x, const auto& y) {
      return x.first < y.first;
    });
    if (best != f.end()) out[b] = best->second;
  }
  return out;
}

}  // namespace keel::nmt
