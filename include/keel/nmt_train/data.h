#pragma once
// Training data for `keel nmt train`: line-aligned files of space-separated pieces
// (SentencePiece output), the vocabulary built from them, and token-budget batches.
// No LibTorch here.

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "keel/nmt/model.h"
#include "keel/nmt/transformer.h"

namespace keel::nmt {

// Lines of one file, without their newline (a final '\r' is dropped too). Throws InputError
// naming the file when it is missing or unreadable.
std::vector<std::string> read_lines(const std::filesystem::path& file);

// Two line-aligned sides. Throws InputError when a file is missing or empty, or when the line
// counts differ.
struct ParallelText {
  std::vector<std::string> src, tgt;
};
ParallelText read_parallel(const std::filesystem::path& src_file,
                           const std::filesystem::path& tgt_file);

// Space/tab separated tokens of a line.
std::vector<std::string_view> split_pieces(std::string_view line);

// The shared vocabulary of both sides: the config's specials (<pad>, <s>, </s>, <unk> at
// pad_id, bos_id, eos_id, unk_id), then every piece of `text` by descending count, ties in byte
// order, so the same text always gives the same ids.
Vocabulary build_vocabulary(const ParallelText& text, const ModelConfig& specials);

// The pieces of a SentencePiece model file in id order. Throws InputError naming the file when
// it is missing or not a SentencePiece model.
std::vector<std::string> read_sentencepiece_pieces(const std::filesystem::path& file);

// A given piece list (a SentencePiece model's, in id order) as the vocabulary. Throws InputError
// naming `source` when the specials are not <pad>, <s>, </s>, <unk> at the config's ids.
Vocabulary vocabulary_from_pieces(std::vector<std::string> pieces, const ModelConfig& config,
                                  const std::string& source);

// Ids of a line's pieces (unknown ones -> unk_id); `append_eos` adds eos_id.
Ids to_ids(std::string_view line, const Vocabulary& vocab, const ModelConfig& config,
           bool append_eos);

// Sentence pairs as ids: source ends with EOS, target holds neither BOS nor EOS.
struct IdPairs {
  std::vector<Ids> src, tgt;
  std::size_t skipped = 0;  // pairs left out (an empty side, or longer than max_length)
};
// `max_length` > 0 drops pairs with a side longer than that many pieces (training only).
IdPairs to_id_pairs(const ParallelText& text, const Vocabulary& vocab, const ModelConfig& config,
                    std::size_t max_length, bool drop_empty);

// Token-budget batches for one epoch: pairs in a seeded random order, stably sorted by length
// (so equal lengths stay shuffled), cut into runs whose padded size, sentences x (longest source
// or target + 1), stays within max_tokens, and the batches shuffled. A pair over the budget
// alone gets its own batch. The result is a pure function of (lengths, max_tokens, seed, epoch).
std::vector<std::vector<std::size_t>> token_batches(const IdPairs& pairs, std::int64_t max_tokens,
                                                    std::uint64_t seed, std::int64_t epoch);

// SentencePiece pieces back to text: pieces joined, U+2581 ("▁") turned into spaces, the
// leading space dropped. This is what SentencePiece's decoder does for a model without byte
// fallback; written here so BLEU on dev needs no SentencePiece model.
std::string detokenize_pieces(std::string_view pieces);

// 64-bit FNV-1a of the vocabulary's tokens in order: resume checks it is the same vocabulary.
std::uint64_t vocabulary_hash(const Vocabulary& vocab);

}  // namespace keel::nmt
