// Trainer data path (no LibTorch): files, vocabulary, batches, detokenization, schedule.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>

#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/nmt_train/data.h"
#include "keel/train/schedule.h"
#include "../support/corruption.h"
#include "toy.h"

using namespace keel::nmt;
namespace fs = std::filesystem;

TEST(NmtTrainData, VocabularyIsSpecialsThenPiecesByCount) {
  ParallelText t{{"b a a", "c"}, {"a b", "<unk> b"}};
  Vocabulary v = build_vocabulary(t, ModelConfig{});
  ASSERT_EQ(v.size(), 7u);
  EXPECT_EQ(v.token(0), "<pad>");
  EXPECT_EQ(v.token(1), "<s>");
  EXPECT_EQ(v.token(2), "</s>");
  EXPECT_EQ(v.token(3), "<unk>");
  EXPECT_EQ(v.token(4), "a");  // 3 times
  EXPECT_EQ(v.token(5), "b");  // 3 times, after "a" in byte order
  EXPECT_EQ(v.token(6), "c");
  EXPECT_EQ(vocabulary_hash(v), vocabulary_hash(build_vocabulary(t, ModelConfig{})));
  ParallelText other{{"a b"}, {"d"}};
  EXPECT_NE(vocabulary_hash(v), vocabulary_hash(build_vocabulary(other, ModelConfig{})));
}

TEST(NmtTrainData, GivenPiecesMustHoldTheSpecialsAtTheirIds) {
  ModelConfig c;
  Vocabulary v = vocabulary_from_pieces({"<pad>", "<s>", "</s>", "<unk>", "x"}, c, "spm.model");
  EXPECT_EQ(v.id("x", c.unk_id), 4u);
  try {
    vocabulary_from_pieces({"<unk>", "<s>", "</s>", "x"}, c, "spm.model");
    ADD_FAILURE() << "wrong specials accepted";
  } catch (const keel::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("spm.model: piece 0 is '<unk>'"), std::string::npos)
        << e.what();
  }
}

TEST(NmtTrainData, SentencePiecePiecesAreReadFromTheModelFile) {
  // A ModelProto by hand: pieces (field 1: piece, score, type) and a trainer_spec to skip.
  auto piece = [](const std::string& p) {
    std::string inner = "\x0a" + std::string(1, static_cast<char>(p.size())) + p +
                        std::string("\x15\0\0\0\0\x18\x01", 7);
    return "\x0a" + std::string(1, static_cast<char>(inner.size())) + inner;
  };
  auto dir = keel::testing::nmt_temp("spm_pieces");
  fs::create_directories(dir);
  std::ofstream(dir / "spm.model", std::ios::binary)
      << piece("<pad>") << piece("<s>") << std::string("\x12\x02\x08\x01", 4)
      << piece("\xe2\x96\x81x");
  EXPECT_EQ(read_sentencepiece_pieces(dir / "spm.model"),
            (std::vector<std::string>{"<pad>", "<s>", "\xe2\x96\x81x"}));
  std::ofstream(dir / "text.model") << "this is not a model\n";
  EXPECT_THROW(read_sentencepiece_pieces(dir / "text.model"), keel::core::InputError);
  EXPECT_THROW(read_sentencepiece_pieces(dir / "missing.model"), keel::core::InputError);
  fs::remove_all(dir);
}

TEST(NmtTrainData, IdPairsAppendEosToSourceAndDropEmptyOrLong) {
  ParallelText t{{"a b", "", "a a a a", "b"}, {"b", "a", "a", "zz"}};
  ModelConfig c;
  Vocabulary v = build_vocabulary(t, c);
  IdPairs p = to_id_pairs(t, v, c, 3, true);
  ASSERT_EQ(p.src.size(), 2u);
  EXPECT_EQ(p.skipped, 2u);
  EXPECT_EQ(p.src[0].back(), c.eos_id);
  EXPECT_EQ(p.src[0].size(), 3u);
  EXPECT_EQ(p.tgt[0].size(), 1u);
  EXPECT_EQ(p.tgt[1][0], v.id("zz", c.unk_id));
  Vocabulary small({"<pad>", "<s>", "</s>", "<unk>", "a"});
  EXPECT_EQ(to_ids("a q", small, c, false), (Ids{4, c.unk_id}));
}

TEST(NmtTrainData, TokenBatchesCoverEveryPairOnceWithinTheBudget) {
  IdPairs p;
  std::mt19937 rng(3);
  for (int i = 0; i < 500; ++i) {
    p.src.push_back(Ids(1 + rng() % 30, 5));
    p.tgt.push_back(Ids(rng() % 30, 5));
  }
  p.src.push_back(Ids(300, 5));  // longer than the budget alone
  p.tgt.push_back(Ids(2, 5));
  const std::int64_t budget = 256;
  auto a = token_batches(p, budget, 7, 0);
  std::vector<int> seen(p.src.size(), 0);
  for (const auto& b : a) {
    std::size_t longest = 0;
    for (auto i : b) {
      ++seen[i];
      longest = std::max({longest, p.src[i].size(), p.tgt[i].size() + 1});
    }
    if (b.size() > 1) {
      EXPECT_LE(static_cast<std::int64_t>(b.size() * longest), budget);
    }
  }
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
  EXPECT_EQ(token_batches(p, budget, 7, 0), a);  // a pure function of its arguments
  EXPECT_NE(token_batches(p, budget, 7, 1), a);  // another epoch, another order
  EXPECT_NE(token_batches(p, budget, 8, 0), a);
}

TEST(NmtTrainData, DetokenizeJoinsPiecesAtWordMarks) {
  EXPECT_EQ(detokenize_pieces("\xe2\x96\x81Hel lo \xe2\x96\x81world ."), "Hello world.");
  EXPECT_EQ(detokenize_pieces(""), "");
  EXPECT_EQ(detokenize_pieces("\xe2\x96\x81"), "");
}

TEST(NmtTrainData, BadFilesAreInputErrorsNamingTheFile) {
  auto dir = keel::testing::nmt_temp("bad_files");
  fs::create_directories(dir);
  std::ofstream(dir / "a") << "x\ny\n";
  std::ofstream(dir / "b") << "x\n";
  std::ofstream(dir / "empty");
  auto message = [&](const fs::path& s, const fs::path& t) -> std::string {
    try {
      read_parallel(s, t);
    } catch (const keel::core::InputError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message(dir / "a", dir / "b").find("2 lines here but 1"), std::string::npos);
  EXPECT_NE(message(dir / "empty", dir / "b").find("file is empty"), std::string::npos);
  EXPECT_NE(message(dir / "missing", dir / "b").find("file not found"), std::string::npos);
  EXPECT_NE(message(dir / "a", dir / "missing").find((dir / "missing").string()),
            std::string::npos);
  fs::remove_all(dir);
}

// A corpus directory lists its files in DIR/checksums (keel nmt corpus writes it): a damaged
// training file is refused. 100 single-byte flips and 20 truncations: all refused.
TEST(NmtTrainData, CorpusFilesListedWithChecksumsAreVerified) {
  auto dir = keel::testing::nmt_temp("corpus_sums");
  fs::create_directories(dir);
  std::string text;
  for (int i = 0; i < 300; ++i) text += "\xe2\x96\x81w" + std::to_string(i % 17) + " x y\n";
  std::ofstream(dir / "train.src.sp", std::ios::binary) << text;
  keel::core::write_manifest(dir, {"train.src.sp"});
  EXPECT_EQ(read_lines(dir / "train.src.sp").size(), 300u);
  auto write = [&](const std::string& b) { std::ofstream(dir / "train.src.sp", std::ios::binary) << b; };
  const auto n = keel::testing::corrupt_each(text, 100, 20, 9, write,
                                             [&] { read_lines(dir / "train.src.sp"); },
                                             "corrupt (checksum mismatch)");
  EXPECT_EQ(n.flips_with_message, 100);
  EXPECT_EQ(n.cuts_refused, 20);
  fs::remove_all(dir);
}

TEST(TrainSchedule, InverseSqrtRampsThenDecays) {
  keel::train::InverseSqrtSchedule s{1e-3, 100};
  EXPECT_DOUBLE_EQ(s.at(1), 1e-5);
  EXPECT_DOUBLE_EQ(s.at(50), 5e-4);
  EXPECT_DOUBLE_EQ(s.at(100), 1e-3);
  EXPECT_DOUBLE_EQ(s.at(400), 5e-4);  // sqrt(100 / 400) = 1/2
  EXPECT_LT(s.at(401), s.at(400));
  keel::train::InverseSqrtSchedule none{1e-3, 0};
  EXPECT_DOUBLE_EQ(none.at(1), 1e-3);
  EXPECT_DOUBLE_EQ(none.at(4), 5e-4);
}
