// SentencePiece wrapper: training (reproducible, keel's special ids), encode/decode round trips,
// clear errors, and the model directory layout.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "keel/core/error.h"
#include "keel/nmt/model.h"
#include "keel/nmt/sentencepiece.h"

using namespace keel::nmt;
namespace fs = std::filesystem;

namespace {

// A few hundred distinct English sentences from word lists.
std::vector<std::string> small_text() {
  const char* subj[] = {"The cat",   "A tall stranger", "My old friend", "Every teacher",
                        "The river", "Her brother",     "This machine",  "Our neighbours"};
  const char* verb[] = {"quickly reads", "never forgets",   "slowly crosses",  "carefully paints",
                        "often visits",  "gladly explains", "silently watches"};
  const char* obj[] = {"the long letter.",      "a quiet village.",   "the broken bridge.",
                       "every question asked.", "the morning light.", "two green apples."};
  std::vector<std::string> out;
  for (auto s : subj)
    for (auto v : verb)
      for (auto o : obj) out.push_back(std::string(s) + " " + v + " " + o);
  return out;
}

const std::string& trained_model() {
  static const std::string model = [] {
    SentencePieceTrainOptions o;
    o.vocab_size = 80;
    return train_sentencepiece(small_text(), o);
  }();
  return model;
}

fs::path spm_temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / (std::to_string(::getpid()) + "_spm_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

}  // namespace

TEST(SentencePiece, TrainsWithKeelsSpecialIds) {
  auto sp = SentencePiece::from_bytes(trained_model(), "test");
  EXPECT_EQ(sp.size(), 80u);
  auto pieces = sp.pieces();
  EXPECT_EQ(pieces[0], "<pad>");
  EXPECT_EQ(pieces[1], "<s>");
  EXPECT_EQ(pieces[2], "</s>");
  EXPECT_EQ(pieces[3], "<unk>");
}

TEST(SentencePiece, SameSeedSameModel) {
  SentencePieceTrainOptions o;
  o.vocab_size = 80;
  EXPECT_EQ(train_sentencepiece(small_text(), o), trained_model());
}

TEST(SentencePiece, EncodeDecodeRoundTrip) {
  auto sp = SentencePiece::from_bytes(trained_model(), "test");
  for (const std::string text : {"The cat never forgets the broken bridge.",
                                 "A quiet river visits every village.", "Twelve green letters."}) {
    auto pieces = sp.encode(text);
    EXPECT_GT(pieces.size(), 1u);
    for (const auto& p : pieces) EXPECT_EQ(p.find(' '), std::string::npos);
    EXPECT_EQ(sp.decode(pieces), text);
    const std::string line = sp.encode_line(text);
    EXPECT_EQ(std::count(line.begin(), line.end(), ' ') + 1, static_cast<long>(pieces.size()));
    EXPECT_EQ(sp.decode_line(line), text);
  }
  // Pieces start words with U+2581, so text spacing survives the space-joined form.
  EXPECT_EQ(sp.encode("The cat")[0].rfind("\xE2\x96\x81", 0), 0u);
}

TEST(SentencePiece, VocabularyTooLargeForTheTextIsAnInputError) {
  SentencePieceTrainOptions o;
  o.vocab_size = 50000;
  EXPECT_THROW(train_sentencepiece(small_text(), o), keel::core::InputError);
  EXPECT_THROW(train_sentencepiece({}, o), keel::core::InputError);
}

TEST(SentencePiece, MissingOrCorruptModelIsAnInputError) {
  auto d = spm_temp_dir("bad");
  try {
    SentencePiece::load(d / "nope.model");
    FAIL() << "no exception";
  } catch (const keel::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("nope.model"), std::string::npos) << e.what();
  }
  std::ofstream(d / "bad.model") << "this is not a protobuf model";
  EXPECT_THROW(SentencePiece::load(d / "bad.model"), keel::core::InputError);
  // Truncated: half of a real model.
  const auto& m = trained_model();
  std::ofstream(d / "half.model", std::ios::binary) << m.substr(0, m.size() / 2);
  EXPECT_THROW(SentencePiece::load(d / "half.model"), keel::core::InputError);
  fs::remove_all(d);
}

TEST(ModelDirectory, ResolvesFilesJointAndSeparateModels) {
  auto d = spm_temp_dir("layout");
  std::ofstream(d / "model.keel") << "x";
  EXPECT_THROW(resolve_model_paths(d), keel::core::InputError);  // no SentencePiece model
  EXPECT_THROW(resolve_model_paths(d / "missing"), keel::core::InputError);

  auto file = resolve_model_paths(d / "model.keel");
  EXPECT_EQ(file.model, d / "model.keel");
  EXPECT_FALSE(file.has_sentencepiece());
  TextCodec identity(file);
  EXPECT_FALSE(identity.active());
  EXPECT_EQ(identity.encode("w1 w2"), "w1 w2");

  std::ofstream(d / "source.spm", std::ios::binary) << trained_model();
  std::ofstream(d / "target.spm", std::ios::binary) << trained_model();
  auto separate = resolve_model_paths(d);
  EXPECT_EQ(separate.source_spm, d / "source.spm");
  EXPECT_EQ(separate.target_spm, d / "target.spm");

  std::ofstream(d / "spm.model", std::ios::binary) << trained_model();
  auto joint = resolve_model_paths(d);  // spm.model wins
  EXPECT_EQ(joint.source_spm, d / "spm.model");
  EXPECT_EQ(joint.target_spm, d / "spm.model");
  TextCodec codec(joint);
  EXPECT_TRUE(codec.active());
  const std::string text = "My old friend gladly explains two green apples.";
  EXPECT_EQ(codec.decode(codec.encode(text)), text);

  fs::remove(d / "model.keel");
  EXPECT_THROW(resolve_model_paths(d), keel::core::InputError);
  fs::remove_all(d);
}

TEST(ModelDirectory, VocabularyMustHoldThePieces) {
  auto d = spm_temp_dir("vocab");
  std::ofstream(d / "model.keel") << "x";
  std::ofstream(d / "spm.model", std::ios::binary) << trained_model();
  TextCodec codec(resolve_model_paths(d));
  const auto pieces = SentencePiece::from_bytes(trained_model(), "t").pieces();
  Vocabulary good(pieces);
  EXPECT_NO_THROW(codec.check_vocabulary(good, good));
  const Model synthetic = random_model(preset_config(Preset::tiny), 1);  // "w4", "w5", ...
  EXPECT_THROW(codec.check_vocabulary(synthetic.src_vocab, synthetic.tgt_vocab),
               keel::core::InputError);
  fs::remove_all(d);
}
