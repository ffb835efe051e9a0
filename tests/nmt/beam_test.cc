// The fast beam search (beam.cc) against the plain reference (beam_reference.cc), token for
// token, in fp32 and int8, with and without the decoding controls; the controls' own promises
// (no repeated n-gram, the length bound, fewer repeats under the penalty) on greedy and beam.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "keel/core/error.h"
#include "keel/nmt/transformer.h"

using namespace keel::nmt;

namespace {

// A random model big enough that near-ties between candidates are rare, small enough for CI;
// its 700 target tokens take two column chunks of the output projection (512 and a tail), so
// each row's scan folds several.
Model small_model(float eos_bias, std::uint64_t seed = 5) {
  ModelConfig c = preset_config(Preset::tiny);
  c.d_model = 64;
  c.heads = 4;
  c.ffn = 128;
  c.src_vocab = c.tgt_vocab = 700;
  Model m = random_model(c, seed);
  m.tensors.at("decoder.output.bias").f32[c.eos_id] += eos_bias;
  return m;
}

// 60 sources of 3..20 tokens over the vocabulary's ordinary ids, each ending with EOS.
std::vector<Ids> many_sources(const ModelConfig& c, std::size_t n = 60) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> id(4, static_cast<std::uint32_t>(c.src_vocab - 1));
  std::uniform_int_distribution<int> len(3, 20);
  std::vector<Ids> out(n);
  for (auto& s : out) {
    s.resize(static_cast<std::size_t>(len(rng)));
    for (auto& t : s) t = id(rng);
    s.push_back(c.eos_id);
  }
  return out;
}

bool repeats_ngram(const Ids& y, std::size_t n) {
  std::set<Ids> seen;
  for (std::size_t i = 0; i + n <= y.size(); ++i)
    if (!seen.insert(Ids(y.begin() + static_cast<long>(i), y.begin() + static_cast<long>(i + n)))
             .second)
      return true;
  return false;
}

std::size_t repeated_tokens(const Ids& y) {
  return y.size() - std::set<std::uint32_t>(y.begin(), y.end()).size();
}

}  // namespace

// One case per compute type, so that ctest -j runs them side by side (the whole sweep is CI's
// longest test under ASan).
class BeamFastSweep : public ::testing::TestWithParam<Compute> {};

TEST_P(BeamFastSweep, EqualsTheReferenceTokenForToken) {
  const Compute compute = GetParam();
  int varied_lengths = 0;
  for (float eos_bias : {0.f, 3.f}) {
    Model m = small_model(eos_bias);
    const auto src = many_sources(m.config);
    Transformer t(m, compute);
    for (int beam : {2, 4})
      for (float lp : {1.f, 0.6f})
        for (int min_len : {0, 3}) {
          DecodeOptions o{
              .max_length = 24, .min_length = min_len, .beam_size = beam, .length_penalty = lp};
          const auto fast = t.beam_search(src, o), ref = t.beam_search_reference(src, o);
          ASSERT_EQ(fast.size(), ref.size());
          std::set<std::size_t> lengths;
          for (std::size_t b = 0; b < src.size(); ++b) {
            EXPECT_EQ(fast[b], ref[b])
                << "sentence " << b << ", " << to_string(compute) << ", eos bias " << eos_bias
                << ", beam " << beam << ", length penalty " << lp << ", min " << min_len;
            lengths.insert(fast[b].size());
          }
          varied_lengths += lengths.size() > 3;
        }
  }
  EXPECT_GT(varied_lengths, 0) << "every output had one length: EOS handling went untested";
}

INSTANTIATE_TEST_SUITE_P(BeamFast, BeamFastSweep,
                         ::testing::Values(Compute::fp32, Compute::int8_dynamic),
                         [](const auto& p) { return p.param == Compute::fp32 ? "fp32" : "int8"; });

// The whole-row ranking a row falls back to when its chunked scan cannot be shown exact gives
// what the chunked scan gives, with and without the controls.
TEST(BeamFast, TheWholeRowFallbackEqualsTheChunkedScan) {
  Model m = small_model(3.f);
  const auto src = many_sources(m.config, 30);
  for (Compute compute : {Compute::fp32, Compute::int8_dynamic}) {
    Transformer t(m, compute);
    for (bool controls : {false, true}) {
      DecodeOptions o{.max_length = 24, .min_length = 0, .beam_size = 4};
      if (controls) {
        o.no_repeat_ngram_size = 2;
        o.repetition_penalty = 1.4f;
      }
      const auto chunked = t.beam_search(src, o);
      detail::rescan_every_row_for_tests(true);
      const auto whole = t.beam_search(src, o);
      detail::rescan_every_row_for_tests(false);
      EXPECT_EQ(whole, chunked) << to_string(compute) << (controls ? " with controls" : "");
      EXPECT_EQ(whole, t.beam_search_reference(src, o)) << to_string(compute);
    }
  }
}

TEST(BeamFast, ControlsEqualTheReferenceAndBeamOneIsGreedy) {
  Model m = small_model(2.f);
  const auto src = many_sources(m.config);
  Transformer t(m, Compute::fp32);
  DecodeOptions o{.max_length = 30, .min_length = 0, .beam_size = 4};
  o.max_length_factor = 1.5f;
  o.no_repeat_ngram_size = 2;
  o.repetition_penalty = 1.4f;
  EXPECT_EQ(t.beam_search(src, o), t.beam_search_reference(src, o));
  o.beam_size = 1;
  const auto greedy = t.greedy(src, o);
  EXPECT_EQ(t.beam_search(src, o), greedy);
  EXPECT_EQ(t.beam_search_reference(src, o), greedy);
}

TEST(DecodingControls, NoRepeatedNgramsAndTheLengthBoundHold) {
  // No EOS before the bound: outputs run to it, where repeats are most likely.
  Model m = small_model(-50.f);
  const auto src = many_sources(m.config);
  Transformer t(m, Compute::fp32);
  for (int beam : {1, 4}) {
    DecodeOptions plain{.max_length = 40, .min_length = 0, .beam_size = beam};
    int repeated = 0;
    for (const Ids& y : t.decode(src, plain)) repeated += repeats_ngram(y, 2);
    EXPECT_GT(repeated, 0)
        << "no output repeats a bigram even unconstrained: the test proves nothing";
    DecodeOptions o = plain;
    o.no_repeat_ngram_size = 2;
    o.max_length_factor = 1.5f;
    const auto out = t.decode(src, o);
    for (std::size_t b = 0; b < src.size(); ++b) {
      EXPECT_FALSE(repeats_ngram(out[b], 2)) << "beam " << beam << ", sentence " << b;
      const auto bound =
          static_cast<std::size_t>(std::ceil(1.5 * static_cast<double>(src[b].size() - 1)));
      EXPECT_EQ(out[b].size(), std::min<std::size_t>(bound, 40))
          << "beam " << beam << ", sentence " << b;
    }
  }
}

TEST(DecodingControls, RepetitionPenaltyRepeatsLessAndBadValuesAreRefused) {
  Model m = small_model(-50.f);
  const auto src = many_sources(m.config);
  Transformer t(m, Compute::fp32);
  DecodeOptions o{.max_length = 30, .min_length = 0};
  std::size_t plain = 0, penalized = 0;
  for (const Ids& y : t.greedy(src, o)) plain += repeated_tokens(y);
  o.repetition_penalty = 3.f;
  for (const Ids& y : t.greedy(src, o)) penalized += repeated_tokens(y);
  EXPECT_GT(plain, 0u);
  EXPECT_LT(penalized, plain);
  for (auto bad :
       {DecodeOptions{.repetition_penalty = 0.5f}, DecodeOptions{.no_repeat_ngram_size = -1},
        DecodeOptions{.max_length_factor = -1.f}, DecodeOptions{.beam_size = 0}})
    EXPECT_THROW(t.decode(src, bad), keel::core::InputError);
}
