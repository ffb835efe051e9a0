// The LibTorch Transformer of the trainer against keel's fp32 engine on the same random weights:
// encoder output, decoder logits and greedy tokens, pre-norm and post-norm.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "keel/core/error.h"
#include "keel/nmt/model.h"
#include "keel/nmt/transformer.h"
#include "keel/nmt_train/torch_transformer.h"
#include "keel/train/torch_train.h"

using namespace keel::nmt;

namespace {

// oneDNN and LibTorch sum in different orders: fp32 rounding only (measured ~1e-6 on these
// O(1) values), with a 10x margin.
constexpr float kEncoderTol = 1e-5f;
constexpr float kLogitTol = 2e-5f;

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float m = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

std::vector<Ids> random_sentences(const ModelConfig& c, int n, int max_len, unsigned seed,
                                  bool eos) {
  std::mt19937 rng(seed);
  std::vector<Ids> out;
  for (int i = 0; i < n; ++i) {
    Ids s(1 + rng() % static_cast<unsigned>(max_len));
    for (auto& id : s) id = 4 + static_cast<std::uint32_t>(rng() % (c.src_vocab - 4));
    if (eos) s.push_back(c.eos_id);
    out.push_back(std::move(s));
  }
  return out;
}

class Parity : public ::testing::TestWithParam<bool> {};

}  // namespace

TEST_P(Parity, EncoderDecoderAndGreedyMatchTheEngine) {
  keel::train::set_torch_threads(1);
  ModelConfig c = preset_config(Preset::tiny);
  c.pre_norm = GetParam();
  const Model m = random_model(c, 11);
  TorchTransformer torch_model(c, 1);
  torch_model.load(m);
  const Transformer engine(m, Compute::fp32);

  const auto src = random_sentences(c, 5, 9, 2, true);
  EXPECT_LT(max_abs_diff(torch_model.encode(src), engine.encode(src)), kEncoderTol);

  // One decoder step (BOS only), then six teacher-forced steps.
  std::mt19937 rng(3);
  for (int T : {0, 6}) {
    std::vector<Ids> tgt(src.size(), Ids(static_cast<std::size_t>(T)));
    for (auto& t : tgt)
      for (auto& id : t) id = 4 + static_cast<std::uint32_t>(rng() % (c.tgt_vocab - 4));
    auto a = torch_model.forced_logits(src, tgt), b = engine.forced_logits(src, tgt);
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
      EXPECT_LT(max_abs_diff(a[i], b[i]), kLogitTol) << "sentence " << i << ", T " << T;
  }

  DecodeOptions d;
  d.max_length = 12;
  const auto ours = torch_model.greedy(src, d.max_length), theirs = engine.greedy(src, d);
  EXPECT_EQ(ours, theirs);
  std::size_t tokens = 0;
  for (const auto& s : ours) tokens += s.size();
  EXPECT_GT(tokens, 0u);
}

INSTANTIATE_TEST_SUITE_P(Norm, Parity, ::testing::Values(true, false),
                         [](const auto& p) { return p.param ? "PreNorm" : "PostNorm"; });

TEST(NmtTrainParity, ExportIsANameByNameCopy) {
  ModelConfig c = preset_config(Preset::tiny);
  c.shared_embeddings = false;
  c.tgt_vocab = 40;
  c.tied_output = false;
  const Model m = random_model(c, 5);
  TorchTransformer t(c, 2);
  t.load(m);
  const Model back = t.to_model(m.src_vocab, m.tgt_vocab);
  ASSERT_EQ(back.tensors.size(), m.tensors.size());
  for (const auto& [name, tensor] : m.tensors) {
    ASSERT_TRUE(back.has(name)) << name;
    EXPECT_EQ(back.tensors.at(name).shape, tensor.shape) << name;
    EXPECT_EQ(back.tensors.at(name).f32, tensor.f32) << name;
  }
  // Every name the engine requires is there with its shape, and the file round-trips.
  for (const auto& [name, shape] : expected_tensors(c)) EXPECT_NO_THROW(back.get(name, shape));
  EXPECT_EQ(serialize_model(parse_model(serialize_model(back), "mem")), serialize_model(back));

  Model wrong = m;
  wrong.tensors.erase("encoder.layers.0.ffn.fc1.weight");
  EXPECT_THROW(t.load(wrong), keel::core::InputError);
}
