#pragma once
// Text in, text out: pre-tokenized lines (space-separated vocabulary tokens, as CTranslate2
// takes them without a SentencePiece model) translated in length-sorted batches, returned in
// input order.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/nmt/transformer.h"

namespace keel::nmt {

struct TranslateOptions {
  DecodeOptions decode;
  int max_batch_size = 32;     // sentences per batch
  std::int64_t max_batch_tokens = 0;  // batch size x longest source in it (padding counted); 0 = off
  int streams = 1;             // batches translated in parallel, one std::thread each
  int threads_per_stream = 1;  // OpenMP threads inside each stream (GEMMs, attention)
  // Pin stream i (and its OpenMP threads) to cores [i·T, (i+1)·T) of the cores this process may
  // use, when streams × threads fit in them: no migrations, caches stay warm.
  bool pin_cores = true;
};

// Sentence indices grouped into batches: sorted by length (stable), then packed greedily while
// a batch has at most max_batch_size sentences and, when max_batch_tokens > 0, at most that many
// tokens counting padding (sentences x longest length). A sentence longer than the budget gets a
// batch of its own.
std::vector<std::vector<std::size_t>> make_batches(const std::vector<std::size_t>& lengths,
                                                   int max_batch_size,
                                                   std::int64_t max_batch_tokens);

// Cores this process may use (its affinity mask), ascending.
std::vector<int> allowed_cores();
// Pins the calling thread, and the OpenMP threads it starts afterwards, to cores[first, first +
// count) of `cores`.
void pin_thread(const std::vector<int>& cores, int first, int count);

// Ids of one pre-tokenized line: tokens split on spaces/tabs, unknown ones mapped to <unk>, EOS
// appended.
Ids tokens_to_ids(const Vocabulary& vocab, const ModelConfig& config, std::string_view line);

class Translator {
 public:
  Translator(const Model& model, Compute compute);
  // Releases the model's tensors as the weights are prepared (lower peak memory).
  Translator(Model&& model, Compute compute);

  // Source ids of one line: tokens split on spaces/tabs, unknown ones mapped to <unk>, EOS
  // appended.
  Ids source_ids(std::string_view line) const;
  std::string target_text(const Ids& ids) const;

  // Translates `lines`; `progress(done)` is called after each batch with the sentences done
  // (from the stream that finished it, serialized by a mutex).
  std::vector<std::string> translate(const std::vector<std::string>& lines,
                                     const TranslateOptions& options,
                                     const std::function<void(std::size_t)>& progress = {}) const;

  // Log-probability (natural log) of each `targets[i]` (pre-tokenized, as translate() returns
  // it) given `lines[i]`, EOS included unless the target reached `max_length` tokens (decoding
  // stopped there without EOS): one teacher-forced decoder pass per sentence.
  std::vector<double> score(const std::vector<std::string>& lines,
                            const std::vector<std::string>& targets, int max_length) const;

  const Vocabulary& source_vocabulary() const { return src_vocab_; }
  const Transformer& model() const { return transformer_; }

 private:
  Transformer transformer_;
  Vocabulary src_vocab_, tgt_vocab_;
};

}  // namespace keel::nmt
