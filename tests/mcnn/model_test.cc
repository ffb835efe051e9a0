// M-CNN module: shapes at small inputs, parameter count against the closed formula, layout
// independence. The only LibTorch translation unit among the mcnn tests.
#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>

#include "../../src/mcnn/net.h"
#include "../../src/mcnn/sparse_pool.h"
#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/train/torch_train.h"
#include "../support/corruption.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

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

// bf16 keeps 8 mantissa bits (relative rounding 2^-9 per value); through 5 layers of sums (up to
// 81 920 terms at full size) the outputs drift by about 1 % of their scale. Measured at 128x256,
// random init: max |bf16 - fp32| / max |fp32| = 0.0075 (logits), 0.0043 (features).
constexpr double kBf16ForwardTolerance = 0.03;  // relative to the largest fp32 logit/feature

double rel_max_diff(const torch::Tensor& a, const torch::Tensor& ref) {
  return (a.to(torch::kFloat) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

TEST(McnnPrecision, ParseNamesBothAndRejectsOthers) {
  EXPECT_EQ(parse_precision("fp32"), Precision::fp32);
  EXPECT_EQ(parse_precision("bf16"), Precision::bf16);
  EXPECT_STREQ(precision_name(Precision::bf16), "bf16");
  EXPECT_THROW(parse_precision("fp16"), core::InputError);
}

TEST(McnnPrecision, Bf16ForwardIsCloseToFp32) {
  torch::manual_seed(7);
  McnnNetImpl net({128, 256, 13});
  to_channels_last(net);
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 128, 256});
  auto ref = net.forward(x.contiguous(torch::MemoryFormat::ChannelsLast));
  auto ref_f = net.features(x.contiguous(torch::MemoryFormat::ChannelsLast));
  torch::Tensor out, feat;
  {
    PrecisionScope scope(Precision::bf16);
    auto xb = model_input(x.data_ptr<float>(), 2, 3, 128, 256, true, Precision::bf16);
    EXPECT_EQ(xb.scalar_type(), torch::kBFloat16);
    EXPECT_TRUE(xb.is_contiguous(torch::MemoryFormat::ChannelsLast));
    out = net.forward(xb);
    feat = net.features(xb);
  }
  EXPECT_EQ(out.scalar_type(), torch::kBFloat16);  // autocast did run the layers in bf16
  const double d = rel_max_diff(out, ref), df = rel_max_diff(feat, ref_f);
  EXPECT_LT(d, kBf16ForwardTolerance);
  EXPECT_LT(df, kBf16ForwardTolerance);
  EXPECT_GT(d, 0.0);                             // not silently fp32
  EXPECT_FALSE(at::autocast::is_cpu_enabled());  // the scope restored the state
  std::printf("bf16 vs fp32: logits %.3g, features %.3g (relative max diff)\n", d, df);
}

TEST(McnnPrecision, ScopeDropsCachedBf16WeightsSoUpdatesAreSeen) {
  torch::manual_seed(8);
  torch::nn::Linear lin(16, 16);
  auto x = torch::randn({2, 16});
  {
    PrecisionScope scope(Precision::bf16);
    EXPECT_GT(lin->forward(x).abs().max().item<float>(), 0.0f);
  }
  {
    torch::NoGradGuard no_grad;
    for (auto& p : lin->parameters()) p.zero_();  // an "optimizer step" in place
  }
  PrecisionScope scope(Precision::bf16);
  // A stale cached bf16 copy of the weights would still give non-zero outputs.
  EXPECT_EQ(lin->forward(x).abs().max().item<float>(), 0.0f);
}

TEST(McnnPrecision, Bf16TrainingStepsReduceTheLossWithFp32MasterWeights) {
  torch::manual_seed(9);
  McnnNetImpl net({128, 128, 13});
  to_channels_last(net);
  torch::optim::SGD opt(net.parameters(),
                        torch::optim::SGDOptions(0.01).momentum(0.9).nesterov(true));
  auto x = torch::randn({8, 3, 128, 128});
  auto y = torch::randint(0, 13, {8}, torch::kLong);
  std::vector<double> losses;
  for (int step = 0; step < 6; ++step) {
    opt.zero_grad();
    torch::Tensor logits;
    {
      PrecisionScope scope(Precision::bf16);
      logits = net.forward(model_input(x.data_ptr<float>(), 8, 3, 128, 128, true, Precision::bf16))
                   .to(torch::kFloat);
    }
    auto loss = torch::nn::functional::cross_entropy(logits, y);
    loss.backward();
    for (const auto& p : net.parameters()) {
      ASSERT_EQ(p.scalar_type(), torch::kFloat);
      ASSERT_EQ(p.grad().scalar_type(), torch::kFloat);
    }
    opt.step();
    losses.push_back(loss.item<double>());
  }
  EXPECT_LT(losses.back(), 0.8 * losses.front()) << losses.front() << " -> " << losses.back();
}

}  // namespace
}  // namespace keel::mcnn

// The sparse backward of conv → ReLU → max-pool against LibTorch's dense autograd.
namespace {
// fp32: the same sums in another order.
constexpr double kSparsePoolFp32RelTol = 1e-5;
// bf16: both paths round their bf16 outputs once; 2^-8 relative per element.
constexpr double kSparsePoolBf16RelTol = 2e-2;

double rel_max_err(const torch::Tensor& a, const torch::Tensor& b) {
  const auto fa = a.to(torch::kFloat), fb = b.to(torch::kFloat);
  return (fa - fb).abs().max().item<double>() / std::max(1e-12, fb.abs().max().item<double>());
}
}  // namespace

TEST(SparsePool, GradientsEqualTheDenseBackward) {
  torch::manual_seed(3);
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    for (auto [cin, cout, k] : {std::tuple{3, 4, 4}, {5, 8, 8}, {16, 16, 16}}) {
      const double tol = dtype == torch::kFloat ? kSparsePoolFp32RelTol : kSparsePoolBf16RelTol;
      auto x0 = torch::randn({2, cin, 32, 48}).contiguous(torch::MemoryFormat::ChannelsLast);
      auto w0 =
          (0.3 * torch::randn({cout, cin, 5, 5})).contiguous(torch::MemoryFormat::ChannelsLast);
      auto b0 = 0.1 * torch::randn({cout});
      auto leaf = [&](const torch::Tensor& t) { return t.to(dtype).detach().requires_grad_(true); };
      auto xs = leaf(x0), ws = leaf(w0), bs = leaf(b0), xr = leaf(x0), wr = leaf(w0), br = leaf(b0);
      auto ys = keel::mcnn::conv_relu_maxpool(xs, ws, bs, k);
      auto yr = keel::mcnn::conv_relu_maxpool_ref(xr, wr, br, k);
      ASSERT_EQ(ys.sizes(), yr.sizes());
      EXPECT_TRUE(torch::equal(ys, yr)) << "forward runs the same kernels";
      auto g = torch::randn(ys.sizes()).to(dtype);
      (ys * g).sum().backward();
      (yr * g).sum().backward();
      const std::string what = std::string(dtype == torch::kFloat ? "fp32" : "bf16") + " cin " +
                               std::to_string(cin) + " k " + std::to_string(k);
      EXPECT_LE(rel_max_err(ws.grad(), wr.grad()), tol) << what;
      EXPECT_LE(rel_max_err(bs.grad(), br.grad()), tol) << what;
      EXPECT_LE(rel_max_err(xs.grad(), xr.grad()), tol) << what;
      EXPECT_GT(wr.grad().abs().max().item<double>(), 0.0);
    }
  }
}

// The two-convolution block against LibTorch's dense autograd: weights and biases of both convs
// and the input gradient, fp32 and bf16, pools from 8 (dense-ish rows) to 32 (sparse).
TEST(SparsePool, TwoConvolutionGradientsEqualTheDenseBackward) {
  torch::manual_seed(4);
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    for (auto [cin, cmid, cout, k] : {std::tuple{3, 4, 4, 8}, {5, 8, 6, 16}, {16, 16, 16, 32}}) {
      const double tol = dtype == torch::kFloat ? kSparsePoolFp32RelTol : kSparsePoolBf16RelTol;
      auto cl = [](torch::Tensor t) { return t.contiguous(torch::MemoryFormat::ChannelsLast); };
      auto x0 = cl(torch::randn({2, cin, 64, 96}));
      auto w10 = cl(0.3 * torch::randn({cmid, cin, 5, 5})), w20 = cl(0.3 * torch::randn({cout, cmid, 5, 5}));
      auto b10 = 0.1 * torch::randn({cmid}), b20 = 0.1 * torch::randn({cout});
      auto leaf = [&](const torch::Tensor& t) { return t.to(dtype).detach().requires_grad_(true); };
      auto xs = leaf(x0), w1s = leaf(w10), b1s = leaf(b10), w2s = leaf(w20), b2s = leaf(b20);
      auto xr = leaf(x0), w1r = leaf(w10), b1r = leaf(b10), w2r = leaf(w20), b2r = leaf(b20);
      auto ys = keel::mcnn::conv_relu_conv_relu_maxpool(xs, w1s, b1s, w2s, b2s, k);
      auto yr = keel::mcnn::conv_relu_conv_relu_maxpool_ref(xr, w1r, b1r, w2r, b2r, k);
      ASSERT_EQ(ys.sizes(), yr.sizes());
      EXPECT_TRUE(torch::equal(ys, yr)) << "forward runs the same kernels";
      auto g = torch::randn(ys.sizes()).to(dtype);
      (ys * g).sum().backward();
      (yr * g).sum().backward();
      const std::string what = std::string(dtype == torch::kFloat ? "fp32" : "bf16") + " cin " +
                               std::to_string(cin) + " k " + std::to_string(k);
      for (auto [s, r, name] : {std::tuple{w1s, w1r, "w1"}, {b1s, b1r, "b1"}, {w2s, w2r, "w2"},
                                {b2s, b2r, "b2"}, {xs, xr, "x"}}) {
        EXPECT_LE(rel_max_err(s.grad(), r.grad()), tol) << what << " " << name;
        EXPECT_GT(r.grad().abs().max().item<double>(), 0.0) << what << " " << name;
      }
    }
  }
  // No input gradient is made when the input needs none.
  auto x = torch::randn({1, 3, 32, 32});
  auto w1 = torch::randn({4, 3, 5, 5}).requires_grad_(true), w2 = torch::randn({4, 4, 5, 5});
  keel::mcnn::conv_relu_conv_relu_maxpool(x, w1, torch::zeros({4}), w2, torch::zeros({4}), 16)
      .sum()
      .backward();
  EXPECT_TRUE(w1.grad().defined());
  EXPECT_FALSE(x.grad().defined());
}

TEST(SparsePool, PyramidPoolEqualsLibTorchsMaxPool) {
  torch::manual_seed(6);
  for (auto dtype : {torch::kFloat, torch::kBFloat16}) {
    auto x = torch::randn({2, 3, 64, 96}).to(dtype).contiguous(torch::MemoryFormat::ChannelsLast);
    x.index_put_({0, 1, 10, 20}, std::numeric_limits<float>::quiet_NaN());
    x.index_put_({1, 2, 7, 7}, -std::numeric_limits<float>::infinity());
    const auto got = keel::mcnn::pyramid_pool2(x), want = torch::max_pool2d(x, {2, 2}, {2, 2});
    EXPECT_TRUE(got.is_contiguous(torch::MemoryFormat::ChannelsLast));
    EXPECT_TRUE(torch::equal(got.nan_to_num(7), want.nan_to_num(7)));
    EXPECT_TRUE(std::isnan(got[0][1][5][10].item<float>()));
    // Not channels_last: LibTorch's own kernel.
    EXPECT_TRUE(torch::equal(keel::mcnn::pyramid_pool2(x.contiguous()).nan_to_num(7), want.nan_to_num(7)));
  }
}

TEST(SparsePool, NoInputGradientWhenTheInputNeedsNone) {
  auto x = torch::randn({1, 3, 16, 16});
  auto w = torch::randn({4, 3, 5, 5}).requires_grad_(true);
  auto b = torch::zeros({4}).requires_grad_(true);
  keel::mcnn::conv_relu_maxpool(x, w, b, 8).sum().backward();
  EXPECT_TRUE(w.grad().defined());
  EXPECT_FALSE(x.grad().defined());
}

TEST(SparsePool, WholeNetworkGradientsEqualTheDenseBackward) {
  torch::manual_seed(5);
  keel::mcnn::McnnNet sparse(keel::mcnn::ModelShape{128, 256, 13}),
      dense(keel::mcnn::ModelShape{128, 256, 13});
  dense->set_sparse_backward(false);
  {
    torch::NoGradGuard no_grad;
    auto ps = sparse->parameters(), pd = dense->parameters();
    for (std::size_t i = 0; i < ps.size(); ++i) pd[i].copy_(ps[i]);
  }
  auto x = torch::randn({2, 3, 128, 256});
  auto y = torch::tensor({1, 7});
  torch::nn::functional::cross_entropy(sparse->forward(x), y).backward();
  torch::nn::functional::cross_entropy(dense->forward(x), y).backward();
  auto ps = sparse->named_parameters(), pd = dense->named_parameters();
  for (const auto& p : ps) {
    const auto& q = pd[p.key()];
    EXPECT_LE(rel_max_err(p.value().grad(), q.grad()), kSparsePoolFp32RelTol) << p.key();
  }
}

// The fused SGD step against LibTorch's own torch::optim::SGD: same updates, same state.
TEST(FusedSgd, FollowsLibTorchSgdAndSharesItsState) {
  // fp32 rounding of the same fused multiply-adds in another grouping, over a few steps.
  constexpr double kFusedSgdRelTol = 1e-6;
  torch::manual_seed(9);
  keel::mcnn::McnnNet a(keel::mcnn::ModelShape{128, 128, 13}),
      b(keel::mcnn::ModelShape{128, 128, 13});
  keel::mcnn::to_channels_last(*a);
  keel::mcnn::to_channels_last(*b);
  {
    torch::NoGradGuard no_grad;
    auto pa = a->parameters(), pb = b->parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) pb[i].copy_(pa[i]);
  }
  keel::train::SgdConfig cfg;
  cfg.lr = 0.05;
  auto fused = keel::train::make_sgd(*a, cfg);
  cfg.fused = false;
  auto plain = keel::train::make_sgd(*b, cfg);
  auto step = [&](int seed) {
    torch::manual_seed(seed);
    auto x = torch::randn({2, 3, 128, 128});
    auto y = torch::tensor({3, 11});
    for (auto* net : {&a, &b}) {
      (*net)->zero_grad();
      torch::nn::functional::cross_entropy((*net)->forward(x), y).backward();
    }
    fused->step();
    plain->step();
  };
  auto compare = [&](const std::string& when) {
    auto pa = a->named_parameters(), pb = b->named_parameters();
    for (const auto& p : pa)
      EXPECT_LE(rel_max_err(p.value(), pb[p.key()]), kFusedSgdRelTol) << when << " " << p.key();
  };
  for (int s = 0; s < 4; ++s) step(100 + s);
  compare("after 4 steps");
  EXPECT_EQ(keel::train::sgd_fallbacks(*fused), 0) << "every parameter takes the fused pass";
  EXPECT_EQ(keel::train::sgd_fallbacks(*plain), -1);
  // The momentum buffers are LibTorch's: the fused optimizer's state loads into a plain SGD.
  torch::serialize::OutputArchive out;
  fused->save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  plain->load(in);
  {
    torch::NoGradGuard no_grad;
    auto pa = a->parameters(), pb = b->parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) pb[i].copy_(pa[i]);
  }
  step(200);
  compare("after loading the fused state into LibTorch's SGD");
  EXPECT_GT(a->parameters()[0].abs().sum().item<double>(), 0.0);
}

// One weight stepped by the fused SGD and by LibTorch's with the same gradients; the fused
// optimizer's fallback count after each step.
struct SgdPair {
  torch::Tensor w1, w2;
  torch::nn::Module m1, m2;
  std::unique_ptr<torch::optim::Optimizer> fused, plain;
  explicit SgdPair(const torch::Tensor& w)
      : w1(w.detach().clone().requires_grad_(true)), w2(w.detach().clone().requires_grad_(true)) {
    m1.register_parameter("w", w1);
    m2.register_parameter("w", w2);
    keel::train::SgdConfig cfg;
    fused = keel::train::make_sgd(m1, cfg);
    cfg.fused = false;
    plain = keel::train::make_sgd(m2, cfg);
  }
  std::int64_t step(const torch::Tensor& g) {
    w1.mutable_grad() = g.clone();
    w2.mutable_grad() = g.clone();
    fused->step();
    plain->step();
    return keel::train::sgd_fallbacks(*fused);
  }
};

TEST(FusedSgd, ParametersItCannotFuseGetLibTorchsStep) {
  // A channels_last weight whose gradient is contiguous: strides differ, no fused pass.
  SgdPair p(torch::randn({4, 3, 5, 5}).contiguous(torch::MemoryFormat::ChannelsLast));
  std::int64_t fallbacks = 0;
  for (int s = 0; s < 3; ++s) fallbacks = p.step(torch::randn({4, 3, 5, 5}));  // NCHW
  EXPECT_EQ(fallbacks, 1);
  EXPECT_TRUE(torch::equal(p.w1, p.w2)) << "the whole step was LibTorch's";
}

// A 1x1 convolution's weight [8,6,1,1]: contiguous and channels_last strides differ only on the
// size-1 dimensions, so the memory order is the same and the fused pass takes it (oneDNN hands
// M-CNN's fuse layer its gradient that way; it used to send every step to LibTorch's SGD).
TEST(FusedSgd, StridesOfSizeOneDimensionsDoNotMatter) {
  SgdPair p(torch::randn({8, 6, 1, 1}));
  for (int s = 0; s < 3; ++s) {
    auto g = torch::empty_strided({8, 6, 1, 1}, {6, 1, 6, 6});  // as oneDNN returns it
    g.copy_(torch::randn({8, 6, 1, 1}));
    ASSERT_NE(g.strides(), p.w1.strides());
    EXPECT_EQ(p.step(g), 0);
  }
  EXPECT_TRUE(torch::allclose(p.w1, p.w2, 1e-6, 1e-7));
}

// A checkpoint with one byte flipped anywhere, or cut short anywhere, is refused with one clear
// error, never loaded as garbage weights (it used to load: eval printed 7.7 % from noise).
TEST(Checkpoint, EveryFlippedByteAndEveryTruncationIsRefused) {
  namespace fs = std::filesystem;
  torch::manual_seed(3);
  keel::mcnn::McnnNet net(keel::mcnn::ModelShape{128, 128, 13});
  keel::train::SgdConfig cfg;
  auto opt = keel::train::make_sgd(*net, cfg);
  const fs::path file = fs::temp_directory_path() / ("keel_ckpt_" + std::to_string(::getpid()));
  keel::train::save_checkpoint(file, *net, *opt, {2, 10, 7, "{\"x\": 1}"});
  std::string good;
  {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    good = ss.str();
  }
  auto write = [&](const std::string& bytes) { std::ofstream(file, std::ios::binary) << bytes; };
  keel::mcnn::McnnNet back(keel::mcnn::ModelShape{128, 128, 13});
  EXPECT_EQ(keel::train::load_checkpoint(file, *back, nullptr).step, 10);
  const auto n = keel::testing::corrupt_each(good, 100, 20, 11, write,
                                             [&] { keel::train::load_checkpoint(file, *back, nullptr); });
  EXPECT_EQ(n.flips_with_message, 100);
  EXPECT_EQ(n.cuts_refused, 20);
  write(good);
  EXPECT_EQ(keel::train::read_checkpoint_meta(file).seed, 7u);
  // A checkpoint of a keel before checksums (the archive alone, ending in the zip's end record)
  // still loads (with a warning); the same bytes with any trailer byte damaged do not.
  write(good.substr(0, good.size() - keel::core::kSealSize));
  EXPECT_EQ(keel::train::load_checkpoint(file, *back, nullptr).step, 10);
  for (std::size_t k = good.size() - keel::core::kSealSize; k < good.size(); ++k) {
    std::string bad = good;
    bad[k] = static_cast<char>(bad[k] ^ 0x20);
    write(bad);
    EXPECT_THROW(keel::train::read_checkpoint_meta(file), keel::core::InputError) << k;
  }
  fs::remove(file);
}
