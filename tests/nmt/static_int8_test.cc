// Static int8: the oneDNN path against the reference kernels, the fused FFN chain, the
// calibration thresholds, and a calibrated Transformer against fp32 — with named tolerances.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "keel/core/error.h"
#include "keel/nmt/calibrate.h"
#include "keel/nmt/gemm.h"
#include "keel/nmt/transformer.h"

using namespace keel::nmt;

#include "vectors.h"

using namespace keel::nmt::testing;

namespace {

// oneDNN static int8 vs the reference: same integers, only the final scaling is ordered
// differently.
constexpr float kStaticGemmTol = 1e-5f;
// Calibrated static int8 vs fp32 on the tiny random model, rms(error) / rms(fp32).
constexpr double kStaticEncoderRelRms = 0.05;
constexpr double kStaticLogitRelRms = 0.05;
// Estimated SQNR vs the SQNR of actually quantizing the samples.
constexpr double kSqnrTolDb = 1.0;

struct Int8Shape {
  std::int64_t m, n, k;
};
const Int8Shape kInt8Shapes[] = {{1, 1, 1},      {1, 7, 5},      {3, 19, 37},   {1, 513, 512},
                                 {17, 1001, 13}, {64, 512, 512}, {2, 2048, 511}};

// The reference result of a static layer: quantize, integer GEMM, scale.
std::vector<float> static_ref(const std::vector<float>& x, const std::vector<float>& w,
                              const std::vector<float>& b, const Int8Shape& s, ActivationQuant q,
                              bool relu) {
  std::vector<std::int32_t> xq(x.size());
  quantize_static_ref(x.data(), std::int64_t(x.size()), q, xq.data());
  std::vector<std::int8_t> wq(w.size());
  std::vector<float> ws(std::size_t(s.n)), y(std::size_t(s.m * s.n));
  quantize_rows_ref(w.data(), s.n, s.k, wq.data(), ws.data());
  gemm_static_ref(xq.data(), q.scale, wq.data(), ws.data(), b.data(), y.data(), s.m, s.n, s.k,
                  relu);
  return y;
}

TEST(StaticInt8, MatchesReferenceOnOddShapesSignedAndUnsigned) {
  for (const Int8Shape& s : kInt8Shapes)
    for (bool is_unsigned : {false, true})
      for (bool relu : {false, true}) {
        auto x = randn(std::size_t(s.m * s.k), 4);
        if (is_unsigned)
          for (auto& v : x) v = std::max(v, 0.f);
        auto w = randn(std::size_t(s.n * s.k), 5, 1.f / std::sqrt(float(s.k)));
        auto b = randn(std::size_t(s.n), 6);
        // A threshold below max|x| so that clamping is exercised too.
        ActivationQuant q{(is_unsigned ? 255.f : 127.f) / (0.8f * max_abs(x) + 1e-3f), is_unsigned};
        Linear lin(w, b, s.n, s.k, Compute::int8_static, q);
        std::vector<float> y(std::size_t(s.m * s.n));
        lin.forward(x.data(), s.m, y.data(), relu);
        auto ref = static_ref(x, w, b, s, q, relu);
        EXPECT_LE(max_diff(y, ref), kStaticGemmTol * (1.f + max_abs(ref)))
            << "M=" << s.m << " N=" << s.n << " K=" << s.k << " unsigned=" << is_unsigned;
      }
}

TEST(StaticInt8, FusedChainEqualsQuantizingTheFp32Intermediate) {
  // fc1 → ReLU → u8 (fc2's scale) → fc2 must equal running fc1 to fp32, then fc2 on it.
  const std::int64_t M = 9, D = 48, F = 130;
  auto x = randn(std::size_t(M * D), 1);
  auto w1 = randn(std::size_t(F * D), 2, 0.2f), b1 = randn(std::size_t(F), 3, 0.1f);
  auto w2 = randn(std::size_t(D * F), 4, 0.1f), b2 = randn(std::size_t(D), 5, 0.1f);
  Linear fc1(w1, b1, F, D, Compute::int8_static, {127.f / 3.f, false});
  Linear fc2(w2, b2, D, F, Compute::int8_static, {255.f / 2.f, true});
  std::vector<std::uint8_t> mid(std::size_t(M * F)), mid_ref(mid.size());
  fc1.forward_to_u8(x.data(), M, mid.data(), fc2.input_quant(), /*relu=*/true);
  std::vector<float> h(std::size_t(M * F));
  fc1.forward(x.data(), M, h.data(), true);
  fc2.quantize_input(h.data(), M, mid_ref.data());
  int off_by_one = 0;
  for (std::size_t i = 0; i < mid.size(); ++i) {
    ASSERT_LE(std::abs(int(mid[i]) - int(mid_ref[i])), 1) << i;  // float rounding at a .5 edge
    off_by_one += mid[i] != mid_ref[i];
  }
  EXPECT_LE(off_by_one, int(mid.size()) / 100);
  std::vector<float> y(std::size_t(M * D)), y_ref(y.size());
  fc2.forward_u8(mid_ref.data(), M, y.data());
  fc2.forward(h.data(), M, y_ref.data());
  EXPECT_EQ(y, y_ref);
}

TEST(StaticInt8, NeedsACalibratedScale) {
  auto w = randn(12, 1);
  EXPECT_THROW(Linear(w, {}, 3, 4, Compute::int8_static), keel::core::Error);
}

AbsHistogram histogram(const std::vector<float>& v, int bins) {
  AbsHistogram h;
  h.range = max_abs(v);
  h.counts.assign(std::size_t(bins), 0.0);
  for (float x : v)
    h.counts[std::min<std::size_t>(std::size_t(std::fabs(x) / h.range * bins), bins - 1)] += 1;
  return h;
}

TEST(Calibration, KlClipsOutliersButNotAUniformRange) {
  // Uniform |x|: every bin matters, so the best threshold is (nearly) the whole range.
  std::mt19937 gen(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> flat(200000);
  for (auto& x : flat) x = u(gen);
  AbsHistogram hf = histogram(flat, 2048);
  EXPECT_GE(kl_threshold(hf, 128), 0.95 * hf.range);
  // Gaussian plus a few far outliers: KL clips well below the outliers.
  auto g = randn(200000, 7);
  g[0] = 40.f;
  g[1] = -35.f;
  AbsHistogram hg = histogram(g, 2048);
  const double t = kl_threshold(hg, 128);
  EXPECT_LT(t, 8.0);
  EXPECT_GT(t, 2.5);
  // Percentile: 99 % of |N(0,1)| lies below 2.576.
  EXPECT_NEAR(percentile_threshold(hg, 99.0), 2.576, 0.05);
}

TEST(Calibration, EstimatedSqnrMatchesQuantizingTheSamples) {
  auto g = randn(100000, 9);
  AbsHistogram h = histogram(g, 2048);
  for (double t : {1.5, 2.5, 3.5, double(h.range)}) {
    double signal = 0, noise = 0;
    const ActivationQuant q{float(127 / t), false};
    std::vector<std::int32_t> qi(g.size());
    quantize_static_ref(g.data(), std::int64_t(g.size()), q, qi.data());
    for (std::size_t i = 0; i < g.size(); ++i) {
      const double back = double(qi[i]) / double(q.scale);
      signal += double(g[i]) * g[i];
      noise += (back - g[i]) * (back - g[i]);
    }
    EXPECT_NEAR(estimated_sqnr_db(h, t, 127), 10 * std::log10(signal / noise), kSqnrTolDb)
        << "threshold " << t;
  }
}

std::vector<Ids> sentences(int n, std::uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<std::uint32_t> tok(4, 49), len(2, 12);  // tiny vocab: 50
  std::vector<Ids> out;
  for (int i = 0; i < n; ++i) {
    Ids s(len(gen));
    for (auto& t : s) t = tok(gen);
    s.push_back(2);
    out.push_back(s);
  }
  return out;
}

TEST(Calibration, CalibratedModelStaysCloseToFp32AndSurvivesTheFile) {
  Model m = random_model(preset_config(Preset::tiny), 11);
  CalibOptions o;
  o.method = CalibMethod::kl;  // the paper's method (the default is a percentile)
  o.bins = 512;  // the KL search is quadratic in bins; 512 keep these tests fast
  o.decode.max_length = 8;
  o.min_sqnr_db = 0;  // everything int8 here; the fallback has its own test
  Calibration cal = calibrate(m, sentences(40, 1), o);
  for (const auto& l : cal.layers) {
    EXPECT_TRUE(l.int8) << l.scopes.front();
    EXPECT_GT(l.values, 0);
    EXPECT_LE(l.threshold, l.max_abs);
  }
  Model q = apply_calibration(m, cal);
  EXPECT_EQ(q.get("encoder.layers.0.ffn.fc1.weight", {64, 32}).dtype, DType::s8);
  EXPECT_EQ(q.get("decoder.layers.1.ffn.fc2.input_range", {2}).f32[0], 0.f);  // ReLU: unsigned
  Model back = parse_model(serialize_model(q), "memory");
  Transformer f(m, Compute::fp32), s(q, Compute::int8_static), s2(back, Compute::int8_static);
  int int8 = 0;
  s.for_each_linear([&](const auto&, Linear& l) { int8 += l.compute() == Compute::int8_static; });
  EXPECT_EQ(int8, int(cal.layers.size()));
  auto src = sentences(6, 2);
  EXPECT_LE(rel_rms(s.encode(src), f.encode(src)), kStaticEncoderRelRms);
  EXPECT_EQ(s.encode(src), s2.encode(src));  // s8 weights in the file requantize exactly
  std::vector<Ids> tgt(src.size(), Ids{6, 7, 8, 9});
  auto lf = f.forced_logits(src, tgt), ls = s.forced_logits(src, tgt);
  for (std::size_t b = 0; b < src.size(); ++b) {
    const double e = rel_rms(ls[b], lf[b]);
    EXPECT_LE(e, kStaticLogitRelRms) << "sentence " << b;
    EXPECT_GT(e, 0.0) << "bit-identical logits: is it really quantizing?";
  }
}

TEST(Calibration, FallbackKeepsFlaggedAndRequestedLayersInFp32) {
  Model m = random_model(preset_config(Preset::tiny), 11);
  CalibOptions o;
  o.bins = 512;
  o.decode.max_length = 6;
  o.force_fp32 = {"decoder.output"};
  o.min_sqnr_db = 1000;  // nothing can reach it: every layer is flagged
  Calibration all_flagged = calibrate(m, sentences(10, 3), o);
  for (const auto& l : all_flagged.layers) EXPECT_FALSE(l.int8);
  EXPECT_NE(all_flagged.layers.back().reason.find("requested"), std::string::npos);
  EXPECT_NE(all_flagged.layers.front().reason.find("long-tailed"), std::string::npos);
  Model none = apply_calibration(m, all_flagged);
  EXPECT_THROW(Transformer(none, Compute::int8_static), keel::core::InputError);

  o.min_sqnr_db = 0;
  Calibration cal = calibrate(m, sentences(10, 3), o);
  Model q = apply_calibration(m, cal);
  Transformer t(q, Compute::int8_static);
  t.for_each_linear([](const std::vector<std::string>& scopes, Linear& l) {
    EXPECT_EQ(l.compute() == Compute::fp32, scopes.front() == "decoder.output") << scopes.front();
  });
  EXPECT_THROW(calibrate(m, {}, o), keel::core::InputError);
}

TEST(Calibration, MethodsParseAndOrderTheirThresholds) {
  EXPECT_EQ(parse_calib_method("kl"), CalibMethod::kl);
  EXPECT_THROW(parse_calib_method("entropy"), keel::core::InputError);
  Model m = random_model(preset_config(Preset::tiny), 5);
  CalibOptions o;
  o.bins = 512;
  o.decode.max_length = 6;
  auto src = sentences(20, 4);
  o.method = CalibMethod::minmax;
  Calibration mm = calibrate(m, src, o);
  o.method = CalibMethod::percentile;
  o.percentile = 99.0;
  Calibration pc = calibrate(m, src, o);
  for (std::size_t i = 0; i < mm.layers.size(); ++i) {
    EXPECT_DOUBLE_EQ(mm.layers[i].threshold, mm.layers[i].max_abs);
    EXPECT_LT(pc.layers[i].threshold, mm.layers[i].threshold);
    EXPECT_NEAR(pc.layers[i].clipped_fraction, 0.01, 0.01);
  }
}

}  // namespace
