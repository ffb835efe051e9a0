#pragma once
// Transformer encoder–decoder built from a Model (weights looked up by name) for one compute
// type. Sentences are packed row after row (no padding): a batch of B source sentences of
// lengths L_b is a [Σ L_b, d] matrix. All methods are const and may run from several threads.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "keel/nmt/gemm.h"
#include "keel/nmt/layers.h"
#include "keel/nmt/model.h"

namespace keel::nmt {

using Ids = std::vector<std::uint32_t>;

struct DecodeOptions {
  int max_length = 256;        // target tokens, EOS not counted
  int min_length = 0;          // EOS is forbidden before this many tokens
  int beam_size = 1;           // 1 = greedy
  float length_penalty = 1.f;  // beam search ranks finished hypotheses by logprob / length^this
  // > 0: a sentence's target is also bounded by this × its source tokens (EOS not counted),
  // rounded up, as Marian's --max-length-factor; never below min_length. 0 = off.
  float max_length_factor = 0.f;
  // > 0: no n-gram of this many tokens occurs twice in an output (a token that would repeat
  // one is never chosen), as CTranslate2 / Hugging Face. 0 = off.
  int no_repeat_ngram_size = 0;
  // > 1: before normalizing, the logit of every token already in the hypothesis is divided by
  // this when positive and multiplied when negative (CTRL's penalty, as CTranslate2). 1 = off.
  float repetition_penalty = 1.f;

  bool operator==(const DecodeOptions&) const = default;
};

// The target bound of one sentence with `source_ids` ids (its EOS included) under `o`.
int sentence_max_length(const DecodeOptions& o, std::size_t source_ids);
// The same for every sentence of a batch (each ending with EOS).
std::vector<int> sentence_max_lengths(const DecodeOptions& o, const std::vector<Ids>& src);
// Throws core::InputError naming the flag when `o` is out of range.
void check_decode_options(const DecodeOptions& o);

namespace detail {
// Tests only: beam search ranks every row whole, as it does a row whose chunked scan cannot be
// shown exact (RowScan::finish), so that rare path can be compared with the usual one.
void rescan_every_row_for_tests(bool on);
}  // namespace detail

class Transformer {
 public:
  Transformer(const Model& model, Compute compute);
  // Same, releasing each tensor of `model` once its layer is built, so that peak memory is
  // about one copy of the weights rather than two.
  Transformer(Model&& model, Compute compute);
  ~Transformer();
  Transformer(Transformer&&) noexcept;

  const ModelConfig& config() const { return config_; }
  Compute compute() const { return compute_; }

  // Encoder output [Σ L_b, d] for source ids (each sentence already ending with EOS).
  std::vector<float> encode(const std::vector<Ids>& src) const;

  // Greedy decoding of a batch: target ids per sentence, without BOS and EOS. A sentence leaves
  // the batch (its rows stop being computed) as soon as it emits EOS.
  std::vector<Ids> greedy(const std::vector<Ids>& src, const DecodeOptions& options) const;

  // Beam search with options.beam_size hypotheses per sentence. A sentence stops when beam_size
  // hypotheses have ended (or at its length bound); the best by length-normalized logprob is
  // returned. Only live hypotheses are fed (one per sentence at the first step); the output
  // projection runs over all of them a chunk of columns at a time, each chunk folded into every
  // row's online log-sum-exp and the few entries that can still rank (RowScan); a hypothesis's
  // self-attention history is a table of where its ancestors cached their rows: reordering
  // copies no rows, and a sentence's hypotheses read their shared rows once.
  std::vector<Ids> beam_search(const std::vector<Ids>& src, const DecodeOptions& options) const;
  // The same search written plainly (beam_reference.cc): double log-softmax of every row, a
  // heap over every (hypothesis, token), whole caches copied between two halves of 2K slots.
  // Tests compare the two.
  std::vector<Ids> beam_search_reference(const std::vector<Ids>& src,
                                         const DecodeOptions& options) const;

  // greedy() for beam_size 1, else beam_search().
  std::vector<Ids> decode(const std::vector<Ids>& src, const DecodeOptions& options) const;

  // Teacher-forced decoder logits: for every sentence b, row t of a [T+1, V] matrix holds the
  // logits after feeding BOS, tgt[b][0], ..., tgt[b][t-1]. All tgt[b] have the same length T.
  std::vector<std::vector<float>> forced_logits(const std::vector<Ids>& src,
                                                const std::vector<Ids>& tgt) const;

  // Every dense layer with the model scopes its weights came from (q/k/v fused: three scopes;
  // the output projection: "decoder.output"), for calibration observers and reports.
  void for_each_linear(
      const std::function<void(const std::vector<std::string>& scopes, Linear& linear)>& f);
  void for_each_linear(const std::function<void(const std::vector<std::string>& scopes,
                                                const Linear& linear)>& f) const;

 private:
  struct State;
  struct EncoderLayer;
  struct DecoderLayer;
  void build(Model& model, bool consume);
  State start(const std::vector<Ids>& src, int max_steps, int slots_per_sentence = 1) const;
  // Copies the cached rows [0, steps) of slot `from` into slot `to` (beam reordering).
  void copy_cache(State& s, std::int64_t from, std::int64_t to, int steps) const;
  // Slots first + j take the histories (State::history, positions [0, steps)) that slots
  // first + parent[j] held, for all j < n at once (a permutation with repeats).
  void reorder_cache(State& s, std::int64_t first, const std::vector<int>& parent, int n,
                     int steps) const;
  // One decoder step for the sentences `active` (indices into the batch) fed `tokens` at
  // position t; writes logits [active.size(), V].
  void step(State& s, const std::vector<int>& active, const std::uint32_t* tokens, int t,
            float* logits) const;
  // The same step up to the output projection: the final hidden rows [active.size(), d] (held by
  // `s` until its next step); project() then writes logits for any run of them.
  const float* step_hidden(State& s, const std::vector<int>& active, const std::uint32_t* tokens,
                           int t) const;
  void project(const float* hidden, std::int64_t rows, float* logits) const;

  ModelConfig config_;
  Compute compute_;
  Embeddings src_embed_, tgt_embed_;
  std::vector<std::unique_ptr<EncoderLayer>> encoder_;
  std::vector<std::unique_ptr<DecoderLayer>> decoder_;
  LayerNorm encoder_norm_, decoder_norm_;  // pre-norm only
  std::shared_ptr<Linear> output_;         // [V, d]; tied embeddings read its rows
  std::vector<std::pair<std::vector<std::string>, Linear*>> named_;  // for_each_linear
};

}  // namespace keel::nmt
