// Resampling measured traces onto one grid: interpolation, gaps, duplicates, scaling, warnings.
#include <gtest/gtest.h>

#include "../support/source_paths.h"
#include "keel/core/error.h"
#include "keel/power/trace_in.h"
#include "keel/power/trace_report.h"

using namespace keel::power;

namespace {
using keel::testing::kPowerTestData;

// One GPU, DCGM CSV with relative seconds: "t,w" pairs.
ParsedTrace one_gpu(const std::vector<std::pair<double, double>>& tw) {
  std::string text = "time_s,gpu,DCGM_FI_DEV_POWER_USAGE_INSTANT\n";
  for (auto [t, w] : tw) text += std::to_string(t) + ",0," + std::to_string(w) + "\n";
  return parse_trace(text, "mem.csv");
}

bool any_contains(const std::vector<std::string>& v, const std::string& s) {
  for (const auto& x : v)
    if (x.find(s) != std::string::npos) return true;
  return false;
}
}  // namespace

TEST(Resample, SumsGpusOnTheMedianInterval) {
  Resampled r = resample(read_trace(kPowerTestData + "nvsmi_index.csv"));
  EXPECT_NEAR(r.step_s, 0.1, 1e-9);
  ASSERT_EQ(r.total_w.size(), 3u);
  EXPECT_NEAR(r.total_w[0], 400, 1e-6);
  EXPECT_NEAR(r.total_w[1], 420, 1e-6);
  EXPECT_NEAR(r.total_w[2], 440, 1e-6);
  EXPECT_TRUE(r.gaps.empty());
  EXPECT_EQ(r.duplicates, 0);
}

TEST(Resample, IrregularSamplingIsInterpolatedLinearly) {
  // w = 1000 t sampled irregularly: a linear signal comes back exactly on any grid.
  ParsedTrace t = one_gpu({{0, 0}, {0.1, 100}, {0.25, 250}, {0.3, 300}, {0.4, 400}});
  Resampled r = resample(t);
  EXPECT_NEAR(r.median_interval_s, 0.1, 1e-9);
  ASSERT_EQ(r.total_w.size(), 5u);
  for (std::size_t k = 0; k < 5; ++k) EXPECT_NEAR(r.total_w[k], 100.0 * static_cast<double>(k), 1e-6);
  ResampleOptions fine;
  fine.step_s = 0.05;
  Resampled f = resample(t, fine);
  ASSERT_EQ(f.total_w.size(), 9u);
  EXPECT_NEAR(f.total_w[3], 150, 1e-6);
}

TEST(Resample, GapsAreReportedWithPlaceAndShare) {
  ParsedTrace t = one_gpu({{0, 100}, {0.1, 100}, {0.2, 100}, {0.3, 100}, {1.0, 170}, {1.1, 170}});
  Resampled r = resample(t);
  ASSERT_EQ(r.gaps.size(), 1u);
  EXPECT_NEAR(r.gaps[0].from_s, 0.3, 1e-9);
  EXPECT_NEAR(r.gaps[0].to_s, 1.0, 1e-9);
  EXPECT_EQ(r.gaps[0].line, 6);
  ASSERT_EQ(r.total_w.size(), 12u);
  EXPECT_NEAR(r.total_w[6], 130, 1e-6);          // interpolated across the gap
  EXPECT_NEAR(r.gap_fraction, 6.0 / 12.0, 1e-9);  // 0.4 .. 0.9
}

TEST(Resample, DuplicatedTimestampsAreAveragedAndReported) {
  ParsedTrace t = one_gpu({{0, 10}, {0.1, 20}, {0.1, 40}, {0.2, 50}, {0.3, 60}});
  Resampled r = resample(t);
  EXPECT_EQ(r.duplicates, 1);
  ASSERT_EQ(r.duplicate_sites.size(), 1u);
  EXPECT_EQ(r.duplicate_sites[0].line, 4);
  EXPECT_NEAR(r.duplicate_sites[0].t_s, 0.1, 1e-9);
  ASSERT_EQ(r.total_w.size(), 4u);
  EXPECT_NEAR(r.total_w[1], 30, 1e-9);
}

TEST(Resample, GridCoversOnlyTheSpanEveryGpuHas) {
  ParsedTrace t = parse_trace(
      "time_s,gpu,DCGM_FI_DEV_POWER_USAGE_INSTANT\n0,0,1\n0.1,0,1\n0.1,1,2\n0.2,0,1\n0.2,1,2\n"
      "0.3,0,1\n0.3,1,2\n0.4,1,2\n",
      "m.csv");
  Resampled r = resample(t);
  ASSERT_EQ(r.total_w.size(), 3u);
  EXPECT_NEAR(r.skipped_head_s, 0.1, 1e-9);
  EXPECT_NEAR(r.skipped_tail_s, 0.1, 1e-9);
  EXPECT_NEAR(r.total_w[0], 3, 1e-9);
}

TEST(Resample, TooFewSamplesIsAnInputError) {
  EXPECT_THROW(resample(one_gpu({{0, 1}, {0, 2}})), keel::core::InputError);
}

TEST(AnalyzeTrace, ScalesToSynchronousFleet) {
  AnalyzeOptions opt;
  opt.scale_gpus = 1000;
  TraceAnalysis a = analyze_trace(read_trace(kPowerTestData + "nvsmi_index.csv"), Spec{}, opt);
  EXPECT_EQ(a.gpus_in_file, 2);
  EXPECT_NEAR(a.scale, 500, 1e-12);
  EXPECT_NEAR(a.metrics.peak_mw, 440 * 500 / 1e6, 1e-9);
  EXPECT_NEAR(a.metrics.min_mw, 400 * 500 / 1e6, 1e-9);
  std::string text = format_trace_summary(a, Spec{});
  EXPECT_NE(text.find("SYNCHRONOUS"), std::string::npos) << text;
  auto j = trace_to_json(a, Spec{});
  EXPECT_EQ(j["scale"]["assumption"], "synchronous GPUs");
  EXPECT_NEAR(j["result"]["power"]["peak_mw"].get<double>(), 0.22, 1e-9);
}

TEST(AnalyzeTrace, WarnsWhenSamplingCannotSeeTheBand) {
  Spec spec;
  spec.f_lo_hz = 0.2;
  spec.f_hi_hz = 3.0;
  spec.segment_s = 1.0;
  // 100 ms sampling: Nyquist 5 Hz covers 0.2-3 Hz: no Nyquist warning, but power.draw is averaged.
  auto noindex = trace_warnings(read_trace(kPowerTestData + "nvsmi_noindex.csv"),
                                resample(read_trace(kPowerTestData + "nvsmi_noindex.csv")), spec);
  EXPECT_FALSE(any_contains(noindex, "Nyquist"));
  EXPECT_TRUE(any_contains(noindex, "~1 s running average"));
  // 1 s sampling: Nyquist 0.5 Hz, inside the band.
  ParsedTrace slow = one_gpu({{0, 1}, {1, 2}, {2, 1}, {3, 2}, {4, 1}});
  auto w = trace_warnings(slow, resample(slow), spec);
  EXPECT_TRUE(any_contains(w, "Nyquist) is 0.5 Hz, below the band's upper edge 3 Hz"));
  EXPECT_FALSE(any_contains(w, "running average"));
  spec.f_lo_hz = 1.0;
  w = trace_warnings(slow, resample(slow), spec);
  EXPECT_TRUE(any_contains(w, "below the whole band"));
}

TEST(AnalyzeTrace, ReportsGarbageGapsAndDuplicatesAsWarnings) {
  auto t = read_trace(kPowerTestData + "nvsmi_nul_tail.csv");
  auto w = trace_warnings(t, resample(t), Spec{});
  EXPECT_TRUE(any_contains(w, "trailing garbage from line 5"));
  ParsedTrace g = one_gpu({{0, 1}, {0.1, 1}, {0.1, 1}, {0.2, 1}, {1.0, 1}, {1.1, 1}});
  w = trace_warnings(g, resample(g), Spec{});
  EXPECT_TRUE(any_contains(w, "1 gap(s)"));
  EXPECT_TRUE(any_contains(w, "1 sample(s) repeat"));
}

TEST(AnalyzeTrace, GapsAndDuplicatesAppearInTextAndJson) {
  ParsedTrace t = one_gpu({{0, 1}, {0.1, 1}, {0.1, 3}, {0.2, 1}, {0.3, 1}, {1.0, 1}, {1.1, 1}});
  TraceAnalysis a = analyze_trace(t, Spec{}, {});
  std::string text = format_trace_summary(a, Spec{});
  EXPECT_NE(text.find("gaps      1: GPU 0 0.300-1.000 s (line 7)"), std::string::npos) << text;
  EXPECT_NE(text.find("duplicates 1: GPU 0 at 0.100 s (line 4)"), std::string::npos) << text;
  auto j = trace_to_json(a, Spec{});
  EXPECT_EQ(j["sampling"]["gaps"]["count"], 1);
  EXPECT_EQ(j["sampling"]["gaps"]["listed"][0]["line"], 7);
  EXPECT_NEAR(j["sampling"]["gaps"]["listed"][0]["to_s"].get<double>(), 1.0, 1e-9);
  EXPECT_EQ(j["sampling"]["duplicates"]["count"], 1);
  EXPECT_EQ(j["sampling"]["duplicates"]["listed"][0]["line"], 4);
  EXPECT_TRUE(any_contains(a.warnings, "shorter than the ramp (1 s) or swing (10 s) window"));
}
