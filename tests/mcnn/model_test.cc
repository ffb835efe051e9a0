// M-CNN module: shapes at small inputs, parameter count against the closed formula, layout
// independence. The only LibTorch translation unit among the mcnn tests.
#include <gtest/gtest.h>

#include "../../src/mcnn/net.h"
#include "keel/core/error.h"

namespace keel::mcnn {
namespace {

std::int64_t count(McnnNetImpl& net) {
  std::int64_t n = 0;
  for (const auto& p : net.parameters()) n += p.numel();
  return n;
}

TEST(McnnModel, FormulaMatchesPaperAtFullSize) {
  EXPECT_EQ(parameter_count({1024, 1280, 13}), 42'577'261);
  EXPECT_NEAR(forward_flops({1024, 1280, 13}) / 1e9, 51.4, 0.1);
}

TEST(McnnModel, ParameterCountMatchesModuleAtSeveralSizes) {
  for (auto [h, w] : {std::pair{128, 128}, std::pair{128, 256}, std::pair{256, 384}}) {
    McnnNetImpl net({h, w, 13});
    EXPECT_EQ(count(net), parameter_count({h, w, 13})) << h << "x" << w;
  }
}

TEST(McnnModel, OutputAndFeatureShapes) {
  torch::manual_seed(1);
  McnnNetImpl net({128, 256, 13});
  auto x = torch::randn({2, 3, 128, 256});
  EXPECT_EQ(net.forward(x).sizes(), (std::vector<std::int64_t>{2, 13}));
  EXPECT_EQ(net.features(x).sizes(), (std::vector<std::int64_t>{2, 512}));
  EXPECT_THROW(net.forward(torch::randn({1, 3, 128, 128})), c10::Error);
}

TEST(McnnModel, RejectsSizesNotDivisibleBy128) {
  EXPECT_THROW(McnnNetImpl({192, 128, 13}), core::InputError);
  EXPECT_THROW(check_input_size(128, 0), core::InputError);
}

TEST(McnnModel, XavierInitAndZeroBias) {
  torch::manual_seed(3);
  McnnNetImpl net({128, 128, 13});
  for (const auto& p : net.named_parameters()) {
    if (p.key().ends_with("bias")) {
      EXPECT_EQ(p.value().abs().max().item<float>(), 0.0f) << p.key();
    } else {
      // Xavier uniform: U(-a, a), a = sqrt(6 / (fan_in + fan_out)).
      auto w = p.value();
      double fan_in = static_cast<double>(w.size(1)), fan_out = static_cast<double>(w.size(0));
      if (w.dim() == 4) {
        fan_in *= static_cast<double>(w.size(2) * w.size(3));
        fan_out *= static_cast<double>(w.size(2) * w.size(3));
      }
      double a = std::sqrt(6.0 / (fan_in + fan_out));
      EXPECT_LE(w.abs().max().item<double>(), a * (1 + 1e-6)) << p.key();
      EXPECT_GT(w.abs().max().item<double>(), a * 0.5) << p.key();
    }
  }
}

TEST(McnnModel, ChannelsLastGivesTheSameOutput) {
  torch::manual_seed(5);
  McnnNetImpl net({128, 128, 13});
  auto x = torch::randn({2, 3, 128, 128});
  auto ref = net.forward(x);
  to_channels_last(net);
  auto cl = net.forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_LT((ref - cl).abs().max().item<float>(), 1e-4f);
}

}  // namespace
}  // namespace keel::mcnn
