// `keel power analyze` as a user runs it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "../support/run_keel.h"
#include "../support/source_paths.h"

using keel::testing::count_lines;
using keel::testing::run_keel;

namespace {
using keel::testing::kPowerExamples;
using keel::testing::kPowerTestData;
}  // namespace

TEST(CliAnalyze, JsonReportsTraceSamplingScaleAndClauses) {
  auto r =
      run_keel("power analyze " + kPowerTestData + "nvsmi_noindex.csv --scale-gpus 3000 --spec " +
               kPowerExamples + "illustrative_spec.toml --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["trace"]["gpus_in_file"], 3);
  EXPECT_EQ(j["trace"]["power_field"], "power.draw");
  EXPECT_EQ(j["sampling"]["gaps"]["count"], 0);
  EXPECT_EQ(j["sampling"]["duplicates"]["count"], 0);
  EXPECT_EQ(j["sampling"]["interpolation"], "linear");
  EXPECT_NEAR(j["scale"]["factor"].get<double>(), 1000, 1e-9);
  EXPECT_GT(j["result"]["power"]["peak_mw"].get<double>(), 0.35);
  EXPECT_EQ(j["result"]["clauses"].size(), 5u);
  EXPECT_TRUE(j["result"].contains("pass"));
  EXPECT_FALSE(j["warnings"].empty());
}

TEST(CliAnalyze, TextNamesTheFormatAndTheGarbageTail) {
  auto r = run_keel("power analyze " + kPowerTestData + "nvsmi_nul_tail.csv");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("nvidia-smi csv"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trailing garbage from line 5"), std::string::npos) << r.out;
}

TEST(CliAnalyze, BadFileIsOneLineExitTwo) {
  auto r = run_keel("power analyze " + kPowerTestData + "bad_value.csv");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("bad_value.csv:3: non-numeric power"), std::string::npos) << r.err;
}

TEST(CliAnalyze, DmonNeedsTheDelay) {
  auto r = run_keel("power analyze " + kPowerTestData + "dmon.txt --format dcgm");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--dmon-delay-ms"), std::string::npos) << r.err;
  r = run_keel("power analyze " + kPowerTestData + "dmon.txt --dmon-delay-ms 100 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["trace"]["gpus_in_file"], 2);
}

TEST(CliAnalyze, ResampleStepAndColumnsFlags) {
  auto r = run_keel("power analyze " + kPowerTestData +
                    "nvsmi_noheader.csv --format nvidia-smi "
                    "--columns timestamp,index,power.draw.instant --resample-ms 50 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(j["sampling"]["step_s"].get<double>(), 0.05, 1e-12);
  EXPECT_EQ(j["sampling"]["points"], 3);
  EXPECT_NEAR(j["result"]["power"]["peak_mw"].get<double>(), 420e-6, 1e-12);
}

TEST(CliAnalyze, FacilityOverheadsTurnGpuPowerIntoFacilityPower) {
  // 3 GPUs scaled to 3000 with the default facility (4 GPUs per server, 1500 W each, PSU 0.94,
  // cooling 15 %, 1 MW fixed): the mean becomes (P + 750 x 1500 W) / 0.94 x 1.15 + 1 MW.
  const std::string base =
      "power analyze --json " + kPowerTestData + "nvsmi_noindex.csv --scale-gpus 3000";
  auto gpu = run_keel(base);
  auto fac = run_keel(base + " --facility " + kPowerExamples + "default.toml");
  ASSERT_EQ(gpu.rc, 0) << gpu.err;
  ASSERT_EQ(fac.rc, 0) << fac.err;
  const double p = nlohmann::json::parse(gpu.out)["result"]["power"]["mean_mw"].get<double>();
  const double f = nlohmann::json::parse(fac.out)["result"]["power"]["mean_mw"].get<double>();
  // Cooling lags heat (60 s): on a short log it stays near its start, so compare loosely.
  EXPECT_NEAR(f, (p + 750 * 1500e-6) / 0.94 * 1.15 + 1.0, 0.01 * f);
  auto bad = run_keel(base + " --facility " + kPowerTestData + "nvsmi_noindex.csv");
  EXPECT_EQ(bad.rc, 2);
}
