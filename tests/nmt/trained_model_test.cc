// The en→es model trained by `make model` (models/en-es-int8/: KL-calibrated int8, ≤ 20 MB) on
// real held-out test sentences committed beside it: translations are real Spanish (BLEU against
// the Apertium references well above chance), int8 stays close to fp32 of the same weights, and
// the model directory round-trips raw text.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "../support/run_keel.h"
#include "keel/nmt/bleu.h"

namespace {

const std::string kDir = std::string(KEEL_SOURCE_DIR) + "/models/en-es-int8";
const std::string kData = std::string(KEEL_SOURCE_DIR) + "/tests/data/nmt/";

// BLEU floor on the 100-sentence sample (the full test set's score is in docs/benchmarks.md).
constexpr double kMinBleu = 15.0;
// int8 static vs fp32 of the same (dequantized) weights on the sample: sentence-level noise on
// 100 sentences is a few BLEU, the full test set's drop is in docs/benchmarks.md.
constexpr double kMaxInt8Drop = 3.0;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

double bleu_of(const std::string& compute) {
  // run_shell gives the command /dev/null as stdin: a subshell pipes the input in instead.
  auto r = keel::testing::run_shell("(cat " + kData + "sample.en | " + std::string(KEEL_BINARY) +
                                    " nmt translate --quiet --model " + kDir + " --compute " +
                                    compute + ")");
  EXPECT_EQ(r.rc, 0) << r.err;
  auto hyp = lines(r.out);
  auto ref = lines(keel::testing::read_all(kData + "sample.es"));
  EXPECT_EQ(hyp.size(), ref.size());
  if (hyp.size() != ref.size()) return 0;
  return keel::nmt::corpus_bleu(hyp, {ref}).score;
}

TEST(TrainedModel, TranslatesHeldOutSentencesAndInt8StaysClose) {
  const double fp32 = bleu_of("fp32"), int8 = bleu_of("int8"), dyn = bleu_of("int8-dynamic");
  EXPECT_GE(fp32, kMinBleu);
  EXPECT_GE(int8, fp32 - kMaxInt8Drop) << "fp32 " << fp32;
  EXPECT_GE(dyn, fp32 - kMaxInt8Drop) << "fp32 " << fp32;
}

}  // namespace
