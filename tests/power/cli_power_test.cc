// `keel power` as a user runs it: outputs, files and exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../support/run_keel.h"
#include "../support/source_paths.h"

using keel::testing::count_lines;
using keel::testing::read_all;
using keel::testing::run_keel;
namespace fs = std::filesystem;

namespace {
using keel::testing::kPowerExamples;

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
  auto r = run_keel("power simulate " + sc.string() + " --spec " + kPowerExamples +
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
  auto r = run_keel("power compare " + sc.string() + " --spec " + kPowerExamples +
                    "illustrative_spec.toml");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* v : {"none", "software", "smoothing", "software+smoothing"})
    EXPECT_NE(r.out.find(v), std::string::npos) << v;
  fs::remove(sc);
}

TEST(CliPower, ShippedExampleCombinedPassesWhereEachAloneFails) {
  auto r = run_keel("power compare " + kPowerExamples + "default.toml --spec " + kPowerExamples +
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
  auto r = run_keel("power simulate " + kPowerExamples +
                    "default.toml --trace /nonexistent/x.csv --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/x.csv"), std::string::npos) << r.err;
}

// Evaluation windows, the failing clauses named in tables, traces at any step and decimated,
// compare traces, and keel's own traces read back by analyze (with facility overheads for GPU
// logs).
TEST(CliPower, WindowsNameFailedClausesAndTracesRoundTrip) {
  auto sc = write_temp("win.toml", kSmall);
  auto spec = write_temp("win_spec.toml",
                         "exclude_start_s = 4\n[time_domain]\nmax_swing_mw = 1000\n"
                         "max_swing_pct = 1\n");
  // The start-up is excluded: the windowed minimum is the iteration's, above the idle start.
  auto all = run_keel("power simulate --json " + sc.string());
  auto win = run_keel("power simulate --json " + sc.string() + " --spec " + spec.string());
  ASSERT_EQ(all.rc, 0) << all.err;
  ASSERT_EQ(win.rc, 0) << win.err;
  auto ja = nlohmann::json::parse(all.out), jw = nlohmann::json::parse(win.out);
  EXPECT_GT(jw["result"]["power"]["min_mw"].get<double>(), ja["result"]["power"]["min_mw"].get<double>());
  EXPECT_EQ(jw["spec"]["window"]["from_s"], 4.0);
  // The swing clause relative to peak fails (the iterations swing by far more than 1 %) and the
  // table says which clause failed.
  auto cmp = run_keel("power compare --quiet " + sc.string() + " --spec " + spec.string());
  ASSERT_EQ(cmp.rc, 0) << cmp.err;
  EXPECT_NE(cmp.out.find("FAIL: swing % of peak"), std::string::npos) << cmp.out;
  EXPECT_NE(cmp.out.find("judged on 4 s to the end"), std::string::npos) << cmp.out;
  // --from-s/--to-s narrow it further; an empty window is refused.
  auto narrow = run_keel("power simulate --json " + sc.string() + " --spec " + spec.string() +
                         " --from-s 10 --to-s 12");
  ASSERT_EQ(narrow.rc, 0) << narrow.err;
  EXPECT_EQ(nlohmann::json::parse(narrow.out)["spec"]["window"]["to_s"], 12.0);
  auto empty = run_keel("power simulate " + sc.string() + " --from-s 12 --to-s 10");
  EXPECT_EQ(empty.rc, 2);
  EXPECT_EQ(count_lines(empty.err), 1) << empty.err;

  // A 0.5 ms step: time_s keeps 4 decimals, so no two rows share a timestamp.
  std::string half = kSmall;
  half.replace(half.find("duration_s = 20"), 15, "duration_s = 2\nstep_ms = 0.5");
  auto sc_half = write_temp("half.toml", half);
  auto trace = write_temp("half_trace.csv", "");
  ASSERT_EQ(run_keel("power simulate --quiet " + sc_half.string() + " --trace " + trace.string()).rc, 0);
  auto lines = read_all(trace);
  EXPECT_NE(lines.find("\n0.0005,"), std::string::npos);
  EXPECT_EQ(count_lines(lines), 4001);
  // --trace-step-ms 100: one row per 100 ms, each the mean: the energy is kept.
  auto dec = write_temp("dec_trace.csv", "");
  ASSERT_EQ(run_keel("power simulate --quiet " + sc.string() + " --trace " + trace.string()).rc, 0);
  ASSERT_EQ(run_keel("power simulate --quiet " + sc.string() + " --trace " + dec.string() +
                     " --trace-step-ms 100").rc, 0);
  auto sum_grid = [](const std::string& csv, double dt) {
    double e = 0;
    std::istringstream in(csv);
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      auto c1 = line.find(','), c2 = line.find(',', c1 + 1);
      e += std::stod(line.substr(c2 + 1)) * dt;
    }
    return e;
  };
  const std::string full_csv = read_all(trace), dec_csv = read_all(dec);
  EXPECT_EQ(count_lines(dec_csv), 201);
  EXPECT_NEAR(sum_grid(dec_csv, 0.1), sum_grid(full_csv, 0.001), 1e-4);
  // analyze reads keel's own trace back: the same peak as the simulation's.
  auto an = run_keel("power analyze --json " + trace.string());
  ASSERT_EQ(an.rc, 0) << an.err;
  EXPECT_NEAR(nlohmann::json::parse(an.out)["result"]["power"]["peak_mw"].get<double>(),
              ja["result"]["power"]["peak_mw"].get<double>(), 1e-5);
  EXPECT_EQ(run_keel("power analyze " + trace.string() + " --scale-gpus 10").rc, 2);
  // The trace is listed in its directory's checksums manifest: a damaged copy is refused.
  {
    std::string bytes = read_all(trace);
    bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 1);
    std::ofstream(trace, std::ios::binary) << bytes;
    auto damaged = run_keel("power analyze " + trace.string());
    EXPECT_EQ(damaged.rc, 2);
    EXPECT_NE(damaged.err.find("corrupt (checksum mismatch)"), std::string::npos) << damaged.err;
  }

  // compare --trace: one column per variant; analyze takes one of them by name.
  auto ctrace = write_temp("cmp_trace.csv", "");
  ASSERT_EQ(run_keel("power compare --quiet " + sc.string() + " --trace " + ctrace.string() +
                     " --trace-step-ms 10").rc, 0);
  auto ccsv = read_all(ctrace);
  EXPECT_EQ(ccsv.substr(0, ccsv.find('\n')),
            "time_s,none_grid_mw,software_grid_mw,smoothing_grid_mw,software+smoothing_grid_mw");
  EXPECT_EQ(count_lines(ccsv), 2001);
  auto several = run_keel("power analyze " + ctrace.string());
  EXPECT_EQ(several.rc, 2);
  EXPECT_NE(several.err.find("--columns"), std::string::npos) << several.err;
  EXPECT_EQ(run_keel("power analyze " + ctrace.string() + " --columns smoothing_grid_mw").rc, 0);
  for (const auto& p : {sc, spec, sc_half, trace, dec, ctrace}) fs::remove(p);
}

TEST(CliPower, UnknownTablesGetNoSuggestionOfAValueKey) {
  // [job.gpux]: a table, so the suggestion is the table [job.gpu], never the value key 'gpus'.
  auto sc = write_temp("jobgpu.toml", "[[job]]\ngpus = 8\ncompute_ms = 100\ncomm_ms = 50\n"
                                      "[job.gpux]\ntdp_w = 1000\n");
  auto r = run_keel("power simulate " + sc.string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown table"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("did you mean 'gpus'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("did you mean 'gpu'"), std::string::npos) << r.err;
  // [job.gpu] itself is a job's own GPU, checked like [gpu].
  auto own = write_temp("jobgpu2.toml", "[[job]]\ngpus = 8\ncompute_ms = 100\ncomm_ms = 50\n"
                                        "[job.gpu]\ntdp_w = 1000\ncompute_w = 1200\n");
  r = run_keel("power simulate " + own.string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find(":7:13: key 'job[0].gpu.compute_w': value 1200 is out of range"), std::string::npos) << r.err;
  fs::remove(sc);
  fs::remove(own);
}
