// `keel power` as a user runs it: outputs, files and exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../support/run_keel.h"

using keel::testing::count_lines;
using keel::testing::read_all;
using keel::testing::run_keel;
namespace fs = std::filesystem;

namespace {
const std::string kExamples = std::string(KEEL_SOURCE_DIR) + "/examples/power/";

fs::path write_temp(const std::string& name, const std::string& text) {
  auto p = fs::temp_directory_path() / (std::to_string(::getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p;
}

const std::string kSmall = R"(name = "small"
[simulation]
duration_s = 20
[[job]]
gpus = 720
compute_ms = 800
comm_ms = 300
start_s = 2
[mitigation.software]
floor_fraction_of_tdp = 0.5
[mitigation.smoothing]
percent_tmp_floor = 60
ramp_up_rate_w_per_s = 500
ramp_down_rate_w_per_s = 500
)";
}  // namespace

TEST(CliPower, SimulateJsonHasTheSummaryAndClauses) {
  auto sc = write_temp("small.toml", kSmall);
  auto r = run_keel("power simulate " + sc.string() + " --spec " + kExamples +
                    "illustrative_spec.toml --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["scenario"], "small");
  EXPECT_EQ(j["result"]["mitigation"], "software+smoothing");
  EXPECT_GT(j["result"]["power"]["peak_mw"].get<double>(), 0.5);
  EXPECT_EQ(j["result"]["clauses"].size(), 5u);
  EXPECT_TRUE(j["result"].contains("pass"));
  EXPECT_GT(j["result"]["cost"]["energy_overhead_pct"].get<double>(), 0.0);
  // Each mitigation's own cost, simulated alone.
  ASSERT_EQ(j["result"]["per_mitigation"].size(), 2u);
  EXPECT_EQ(j["result"]["per_mitigation"][0]["mitigation"], "software");
  EXPECT_GT(j["result"]["per_mitigation"][1]["energy_overhead_pct"].get<double>(), 0.0);
  fs::remove(sc);
}

TEST(CliPower, SimulateTextAndTrace) {
  auto sc = write_temp("small2.toml", kSmall);
  auto trace = fs::temp_directory_path() / (std::to_string(::getpid()) + "_trace.csv");
  auto r = run_keel("power simulate " + sc.string() + " --trace " + trace.string() +
                    " --trace-racks 2 --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("swing"), std::string::npos);
  EXPECT_NE(r.out.find("spec      none given"), std::string::npos);
  std::string csv = read_all(trace);
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "time_s,facility_mw,grid_mw,rack_0_kw,rack_1_kw");
  EXPECT_EQ(count_lines(csv), 20001);
  fs::remove(sc);
  fs::remove(trace);
}

TEST(CliPower, CompareShowsEveryVariant) {
  auto sc = write_temp("small3.toml", kSmall);
  auto r = run_keel("power compare " + sc.string() + " --spec " + kExamples + "illustrative_spec.toml");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* v : {"none", "software", "smoothing", "software+smoothing"})
    EXPECT_NE(r.out.find(v), std::string::npos) << v;
  fs::remove(sc);
}

TEST(CliPower, ShippedExampleCombinedPassesWhereEachAloneFails) {
  auto r = run_keel("power compare " + kExamples + "default.toml --spec " + kExamples +
                    "illustrative_spec.toml --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::map<std::string, bool> pass;
  for (auto& v : j["variants"]) pass[v["mitigation"]] = v["pass"];
  EXPECT_FALSE(pass.at("none"));
  EXPECT_FALSE(pass.at("software"));
  EXPECT_FALSE(pass.at("smoothing"));
  EXPECT_FALSE(pass.at("storage"));
  EXPECT_TRUE(pass.at("software+smoothing+storage"));
}

TEST(CliPower, BadScenarioIsOneLineExitTwo) {
  auto sc = write_temp("bad.toml", "[simulation]\nduration_s = -1\n[[job]]\ngpus=1\ncompute_ms=1\ncomm_ms=1\n");
  auto r = run_keel("power simulate " + sc.string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(sc.string() + ":2:14: key 'simulation.duration_s'"), std::string::npos) << r.err;
  fs::remove(sc);
}

TEST(CliPower, UnwritableTraceFailsCleanly) {
  auto r = run_keel("power simulate " + kExamples + "default.toml --trace /nonexistent/x.csv --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/x.csv"), std::string::npos) << r.err;
}
