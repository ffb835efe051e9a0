#pragma once
// SentencePiece (libsentencepiece) for keel nmt: a loaded model that turns raw text into pieces
// and back, the trainer the corpus command uses, and the model directory layout
// (docs/nmt_model_format.md) that pairs a model file with its SentencePiece models.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace keel::nmt {

class Vocabulary;

class SentencePiece {
 public:
  // Throws core::InputError naming the file when it is missing or not a SentencePiece model.
  static SentencePiece load(const std::filesystem::path& path);
  // From a serialized model (the bytes of a .model file); `source` names it in errors.
  static SentencePiece from_bytes(std::string_view bytes, const std::string& source);

  SentencePiece(SentencePiece&&) noexcept;
  SentencePiece& operator=(SentencePiece&&) noexcept;
  ~SentencePiece();

  std::vector<std::string> encode(std::string_view text) const;
  // Pieces joined by single spaces (pieces never hold a space: SentencePiece writes it "▁").
  std::string encode_line(std::string_view text) const;
  std::string decode(const std::vector<std::string>& pieces) const;
  // Splits `line` on spaces into pieces, then decodes them.
  std::string decode_line(std::string_view line) const;
  // The vocabulary in id order (id i = piece i).
  std::vector<std::string> pieces() const;
  // The pieces encoding can emit: control symbols (<s>, </s>, <pad>) left out.
  std::vector<std::string> text_pieces() const;
  std::size_t size() const;

 private:
  SentencePiece();
  std::unique_ptr<sentencepiece::SentencePieceProcessor> sp_;
};

struct SentencePieceTrainOptions {
  int vocab_size = 8000;
  std::uint32_t seed = 1;
  int threads = 1;  // the unigram EM sums per-thread counts, so more threads can change the model
  std::string model_type = "unigram";
  double character_coverage = 1.0;
};
// Trains a SentencePiece model on `sentences` and returns it serialized (a .model file's bytes).
// Special ids follow keel's model config: <pad> 0, <s> 1, </s> 2, <unk> 3. Throws
// core::InputError when training fails (e.g. a vocabulary larger than the text allows).
std::string train_sentencepiece(const std::vector<std::string>& sentences,
                                const SentencePieceTrainOptions& options);

// Where `keel nmt translate --model M` finds its files: M a model file (input is pre-tokenized),
// or a directory holding model.keel plus either spm.model (joint) or source.spm and target.spm.
struct ModelPaths {
  std::filesystem::path model;
  std::filesystem::path source_spm, target_spm;  // empty for a model file
  std::filesystem::path decoding;  // the directory's decoding.json (decoding_file.h), if any
  bool has_sentencepiece() const { return !source_spm.empty(); }
};
// Throws core::InputError when M does not exist or a directory lacks what it must hold.
ModelPaths resolve_model_paths(const std::filesystem::path& model_or_dir);

// Raw text <-> the pre-tokenized lines the Translator takes, for a model directory; the identity
// for a model file.
class TextCodec {
 public:
  explicit TextCodec(const ModelPaths& paths);
  std::string encode(std::string_view text) const;
  std::string decode(std::string_view pieces) const;
  bool active() const { return source_ != nullptr; }
  // Throws core::InputError when a SentencePiece piece is missing from the model's vocabulary
  // (the model was trained with another SentencePiece model). No-op for a model file.
  void check_vocabulary(const Vocabulary& source, const Vocabulary& target) const;

 private:
  std::shared_ptr<const SentencePiece> source_, target_;
};

}  // namespace keel::nmt
