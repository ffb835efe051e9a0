// keel's thin layer over libsentencepiece: errors as core::InputError, keel's special ids, and
// the model directory layout.
#include "keel/nmt/sentencepiece.h"

#include <fmt/format.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <sstream>
#include <unordered_map>

#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/nmt/model.h"

namespace keel::nmt {

namespace fs = std::filesystem;

SentencePiece::SentencePiece() : sp_(std::make_unique<sentencepiece::SentencePieceProcessor>()) {}
SentencePiece::SentencePiece(SentencePiece&&) noexcept = default;
SentencePiece& SentencePiece::operator=(SentencePiece&&) noexcept = default;
SentencePiece::~SentencePiece() = default;

SentencePiece SentencePiece::load(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || fs::is_directory(path))
    throw core::InputError("cannot read SentencePiece model",
                           core::Location{path.string(), 0, 0, {}},
                           "check the path (keel nmt corpus writes DIR/spm.model)");
  std::stringstream ss;
  ss << in.rdbuf();
  return from_bytes(ss.str(), path.string());
}

SentencePiece SentencePiece::from_bytes(std::string_view bytes, const std::string& source) {
  SentencePiece s;
  const auto status = s.sp_->LoadFromSerializedProto(bytes);
  if (!status.ok() || s.sp_->GetPieceSize() == 0)
    throw core::InputError(
        // (A parse failure's message is the library's source line, of no use to the user.)
        status.ok() ? "not a SentencePiece model (no pieces)"
                    : status.code() == sentencepiece::util::StatusCode::kInternal
                        ? "not a SentencePiece model (cannot be parsed)"
                        : fmt::format("not a SentencePiece model ({})", status.message()),
        core::Location{source, 0, 0, {}}, "re-create it with keel nmt corpus or spm_train");
  return s;
}

std::vector<std::string> SentencePiece::encode(std::string_view text) const {
  std::vector<std::string> pieces;
  if (const auto st = sp_->Encode(text, &pieces); !st.ok())
    throw core::InputError(fmt::format("SentencePiece cannot encode: {}", st.message()));
  return pieces;
}

std::string SentencePiece::encode_line(std::string_view text) const {
  std::string line;
  for (const auto& p : encode(text)) {
    if (!line.empty()) line += ' ';
    line += p;
  }
  return line;
}

std::string SentencePiece::decode(const std::vector<std::string>& pieces) const {
  std::string text;
  if (const auto st = sp_->Decode(pieces, &text); !st.ok())
    throw core::InputError(fmt::format("SentencePiece cannot decode: {}", st.message()));
  return text;
}

std::string SentencePiece::decode_line(std::string_view line) const {
  std::vector<std::string> pieces;
  for (std::size_t i = 0; i < line.size();) {
    auto j = line.find(' ', i);
    if (j == std::string_view::npos) j = line.size();
    if (j > i) pieces.emplace_back(line.substr(i, j - i));
    i = j + 1;
  }
  return decode(pieces);
}

std::vector<std::string> SentencePiece::pieces() const {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(sp_->GetPieceSize()));
  for (int i = 0; i < sp_->GetPieceSize(); ++i) out.push_back(sp_->IdToPiece(i));
  return out;
}

std::vector<std::string> SentencePiece::text_pieces() const {
  std::vector<std::string> out;
  for (int i = 0; i < sp_->GetPieceSize(); ++i)
    if (!sp_->IsControl(i)) out.push_back(sp_->IdToPiece(i));
  return out;
}

std::size_t SentencePiece::size() const {
  return static_cast<std::size_t>(sp_->GetPieceSize());
}

namespace {

// Feeds in-memory sentences to the trainer (no temporary input file).
class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorIterator(const std::vector<std::string>& s) : s_(s) {}
  bool done() const override { return i_ >= s_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return s_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& s_;
  std::size_t i_ = 0;
};

}  // namespace

std::string train_sentencepiece(const std::vector<std::string>& sentences,
                                const SentencePieceTrainOptions& o) {
  if (sentences.empty())
    throw core::InputError("no sentences to train SentencePiece on", {}, "check the corpus");
  // The trainer's global RNG (sentence sampling) is seeded, and its thread count fixed, so the
  // same text and options give the same model bytes.
  sentencepiece::SetRandomGeneratorSeed(o.seed);
  const std::unordered_map<std::string, std::string> args = {
      {"model_prefix", ""},
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", fmt::format("{}", o.character_coverage)},
      {"num_threads", std::to_string(o.threads)},
      {"pad_id", "0"},
      {"bos_id", "1"},
      {"eos_id", "2"},
      {"unk_id", "3"},
      {"input_sentence_size", "0"},
      {"minloglevel", "1"},  // its INFO lines would bury keel's progress
  };
  VectorIterator it(sentences);
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &model);
  if (!status.ok()) {
    // Its messages start with the library's source line: "./src/x.cc(660) [check] What to do."
    std::string_view m = status.message();
    if (const auto at = m.find(") [");
        at != std::string_view::npos && m.find("] ", at) != std::string_view::npos)
      m.remove_prefix(m.find("] ", at) + 2);
    throw core::InputError(fmt::format("SentencePiece training failed: {}", m), {},
                           "a smaller --vocab-size fits a small corpus");
  }
  return model;
}

ModelPaths resolve_model_paths(const fs::path& m) {
  ModelPaths p;
  if (!fs::exists(m))
    throw core::InputError("no such model file or directory", core::Location{m.string(), 0, 0, {}},
                           "pass a model file or a directory with model.keel and spm.model");
  if (!fs::is_directory(m)) {
    p.model = m;
    return p;
  }
  p.model = m / "model.keel";
  if (!fs::is_regular_file(p.model))
    throw core::InputError("model directory has no model.keel",
                           core::Location{m.string(), 0, 0, {}},
                           "see docs/nmt_model_format.md for the directory layout");
  if (fs::is_regular_file(m / "spm.model")) {
    p.source_spm = p.target_spm = m / "spm.model";
    core::verify_listed(p.source_spm);  // model.keel checks itself when loaded
  } else if (fs::is_regular_file(m / "source.spm") && fs::is_regular_file(m / "target.spm")) {
    p.source_spm = m / "source.spm";
    p.target_spm = m / "target.spm";
    core::verify_listed(p.source_spm);
    core::verify_listed(p.target_spm);
  } else {
    throw core::InputError("model directory has neither spm.model nor source.spm + target.spm",
                           core::Location{m.string(), 0, 0, {}},
                           "copy the corpus's spm.model next to model.keel");
  }
  if (fs::is_regular_file(m / "decoding.json")) {
    p.decoding = m / "decoding.json";
    core::verify_listed(p.decoding);
  }
  return p;
}

TextCodec::TextCodec(const ModelPaths& paths) {
  if (!paths.has_sentencepiece()) return;
  source_ = std::make_shared<SentencePiece>(SentencePiece::load(paths.source_spm));
  target_ = paths.target_spm == paths.source_spm
                ? source_
                : std::make_shared<SentencePiece>(SentencePiece::load(paths.target_spm));
}

std::string TextCodec::encode(std::string_view text) const {
  return source_ ? source_->encode_line(text) : std::string(text);
}

std::string TextCodec::decode(std::string_view pieces) const {
  return target_ ? target_->decode_line(pieces) : std::string(pieces);
}

void TextCodec::check_vocabulary(const Vocabulary& source, const Vocabulary& target) const {
  if (!source_) return;
  auto check = [](const SentencePiece& sp, const Vocabulary& vocab, const char* side) {
    std::size_t missing = 0;
    std::string first;
    // Control symbols never come out of encoding: a vocabulary need not hold them (Marian's
    // vocabularies have </s> but not <s>).
    for (const auto& p : sp.text_pieces())
      if (vocab.id(p, static_cast<std::uint32_t>(-1)) == static_cast<std::uint32_t>(-1)) {
        if (missing++ == 0) first = p;
      }
    if (missing > 0)
      throw core::InputError(
          fmt::format("the model's {} vocabulary lacks {} of {} SentencePiece pieces (first: '{}')",
                      side, missing, sp.size(), first),
          {}, "use the spm.model the model was trained with");
  };
  check(*source_, source, "source");
  check(*target_, target, "target");
}

}  // namespace keel::nmt
