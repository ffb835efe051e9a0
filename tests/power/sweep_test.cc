// keel power sweep: the grid, its errors (named at the sweep file's line and key), rows that
// follow the swept values, and MPI: 2 ranks write exactly what 1 rank writes.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "../support/run_keel.h"
#include "../support/temp_dir.h"
#include "scenario_util.h"
#include "keel/core/error.h"
#include "keel/power/sweep.h"

using namespace keel;
using keel::testing::error_of;
using keel::testing::run_shell;

namespace {

const std::string kScenario = R"(
name = "sweep-test"
[simulation]
duration_s = 30
[facility]
gpus_per_server = 4
servers_per_rack = 2
[[job]]
gpus = 64
compute_ms = 600
comm_ms = 400
start_s = 2
[[job]]
gpus = 16
compute_ms = 300
comm_ms = 100
[mitigation.smoothing]
percent_tmp_floor = 50
ramp_up_rate_w_per_s = 500
ramp_down_rate_w_per_s = 500
[mitigation.storage]
level = "rack"
energy_kwh = 0.05
power_kw = 2
)";

struct Files {
  keel::testing::TempDir dir{"keel_sweep"};
  std::string scenario = (dir.path / "s.toml").string();
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir.path / name) << text;
    return (dir.path / name).string();
  }
  Files() { std::ofstream(scenario) << kScenario; }
};

}  // namespace

TEST(Sweep, GridCoordinatesCoverEveryCombinationOnce) {
  power::SweepGrid g;
  g.axes = {{"a", {"1", "2", "3"}, {}}, {"b", {"x", "y"}, {}}};
  EXPECT_EQ(g.points(), 6u);
  std::set<std::vector<std::size_t>> seen;
  for (std::size_t i = 0; i < g.points(); ++i) seen.insert(g.coordinates(i));
  EXPECT_EQ(seen.size(), 6u);
  EXPECT_EQ(g.coordinates(1), (std::vector<std::size_t>{0, 1}));  // the last axis runs fastest
  EXPECT_EQ(g.coordinates(5), (std::vector<std::size_t>{2, 1}));
}

TEST(Sweep, BadGridsAndKeysAreOneLineAtTheSweepFile) {
  Files f;
  auto msg = error_of([&] { power::load_sweep(f.write("none.toml", "x = 1\n")); });
  EXPECT_NE(msg.find("no [sweep] table"), std::string::npos) << msg;
  msg = error_of([&] { power::load_sweep(f.write("scalar.toml", "[sweep]\n\"job[0].gpus\" = 8\n")); });
  EXPECT_NE(msg.find("scalar.toml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("non-empty array"), std::string::npos) << msg;
  const auto typo = f.write("typo.toml", "# a typo\n[sweep]\n\"mitigation.smoothing.percent_floor\" = [50]\n");
  msg = error_of([&] { power::Sweep(f.scenario, power::load_sweep(typo), {}); });
  EXPECT_NE(msg.find("typo.toml:3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("percent_floor"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;
  const auto range = f.write("range.toml", "[sweep]\n\"job[1].gpus\" = [8, -4]\n");
  msg = error_of([&] { power::Sweep(f.scenario, power::load_sweep(range), {}); });
  EXPECT_NE(msg.find("range.toml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("sweep value -4 for 'job[1].gpus'"), std::string::npos) << msg;
  const auto missing = f.write("missing.toml", "[sweep]\n\"job[5].gpus\" = [8]\n");
  msg = error_of([&] { power::Sweep(f.scenario, power::load_sweep(missing), {}); });
  EXPECT_NE(msg.find("no job[5] table"), std::string::npos) << msg;
}

TEST(Sweep, RowsFollowTheSweptValues) {
  Files f;
  const auto grid = f.write("g.toml",
                            "[sweep]\n\"mitigation.storage.power_kw\" = [0.5, 4]\n"
                            "\"job[0].gpus\" = [32, 64]\n");
  const power::Sweep sweep(f.scenario, power::load_sweep(grid), {});
  ASSERT_EQ(sweep.grid().points(), 4u);
  EXPECT_EQ(sweep.scenario(3).storage.power_kw, 4);
  EXPECT_EQ(sweep.scenario(3).jobs[0].gpus, 64);
  EXPECT_EQ(sweep.scenario(0).jobs[0].gpus, 32);
  EXPECT_EQ(sweep.scenario(0).jobs[1].gpus, 16);  // untouched keys keep the scenario's value
  auto field = [](const std::string& row, std::size_t i) {
    std::vector<std::string> cells;
    std::istringstream in(row);
    for (std::string c; std::getline(in, c, ',');) cells.push_back(c);
    return cells.at(i);
  };
  const std::string h = sweep.header();
  EXPECT_EQ(h.substr(0, h.find(",verdict")), "point,mitigation.storage.power_kw,job[0].gpus");
  // More GPUs draw more; bigger rack batteries hold the peak lower.
  const double peak_32 = std::stod(field(sweep.row(0), 5)), peak_64 = std::stod(field(sweep.row(1), 5));
  EXPECT_GT(peak_64, peak_32);
  const double peak_64_big = std::stod(field(sweep.row(3), 5));
  EXPECT_LT(peak_64_big, peak_64);
  // Floats are written as their shortest round-trip spelling, still TOML floats.
  const auto g2 = power::load_sweep(
      f.write("g2.toml", "[sweep]\n\"mitigation.storage.power_kw\" = [0.8, 3000.0, 1e-7]\n"));
  EXPECT_EQ(g2.axes.at(0).values, (std::vector<std::string>{"0.8", "3000.0", "1e-07"}));
  EXPECT_EQ(power::Sweep(f.scenario, g2, {}).scenario(0).storage.power_kw, 0.8);
}

// The --json summary is JSON whatever the --out path holds, and a swept string with a comma, a
// quote or a line break (a TOML multi-line string) stays one CSV cell (RFC 4180 quoting).
TEST(Sweep, JsonSummaryAndCsvCellsSurviveQuotesAndLineBreaks) {
  Files f;
  const auto grid = f.write("g.toml", "[sweep]\nname = ['''two\nlines''', 'a \"b\", c']\n");
  const std::string out = (f.dir.path / "a\"b\\c.csv").string();
  auto r = keel::testing::run_keel("power sweep " + f.scenario + " --grid " + grid +
                                   " --quiet --json --out '" + out + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["out"], out);
  EXPECT_EQ(j["points"], 2);
  const std::string csv = keel::testing::read_all(out);
  const bool one_cell = csv.find("\n0,\"two\nlines\",PASS,") != std::string::npos ||
                        csv.find("\n0,\"two\nlines\",FAIL,") != std::string::npos;
  EXPECT_TRUE(one_cell) << csv;
  EXPECT_NE(csv.find("\n1,\"a \"\"b\"\", c\","), std::string::npos) << csv;
}

TEST(Sweep, TwoMpiRanksWriteExactlyWhatOneWrites) {
  Files f;
  const auto grid = f.write("g.toml",
                            "[sweep]\n\"mitigation.smoothing.percent_tmp_floor\" = [30, 60, 90]\n"
                            "\"mitigation.storage.level\" = [\"rack\", \"facility\"]\n"
                            "name = [\'\'\'two\nlines\'\'\']\n");  // a CSV cell with a line break
  const std::string args = " power sweep " + f.scenario + " --grid " + grid + " --quiet --out ";
  auto one = run_shell(std::string(KEEL_BINARY) + args + (f.dir.path / "one.csv").string());
  ASSERT_EQ(one.rc, 0) << one.err;
  auto two = run_shell("env ASAN_OPTIONS=detect_leaks=0 timeout 120 " KEEL_MPIEXEC
                       " --allow-run-as-root --oversubscribe --bind-to none -np 2 -x ASAN_OPTIONS " +
                       std::string(KEEL_BINARY) + args + (f.dir.path / "two.csv").string());
  ASSERT_EQ(two.rc, 0) << two.err;
  const std::string a = keel::testing::read_all(f.dir.path / "one.csv");
  EXPECT_EQ(keel::testing::count_lines(a), 13);  // header + 6 rows, each with its quoted line break
  EXPECT_EQ(a, keel::testing::read_all(f.dir.path / "two.csv"));
  EXPECT_NE(a.find(",30,rack,"), std::string::npos) << a;  // a string's value, unquoted
  // A bad grid fails on every rank with one line and a non-zero exit, nothing written.
  const auto bad = f.write("bad.toml", "[sweep]\n\"job[0].gpu\" = [1]\n");
  auto r = run_shell("env ASAN_OPTIONS=detect_leaks=0 timeout 120 " KEEL_MPIEXEC
                     " --allow-run-as-root --oversubscribe --bind-to none -np 2 -x ASAN_OPTIONS " +
                     std::string(KEEL_BINARY) + " power sweep " + f.scenario + " --grid " + bad +
                     " --out " + (f.dir.path / "bad.csv").string());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "mpirun hung";
  EXPECT_NE(r.err.find("bad.toml:2"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(f.dir.path / "bad.csv"));
}

// Points past the round-robin three quarters go to whichever rank asks first. Three ranks write
// what one writes; a point that fails there (two placements valid alone, overlapping together:
// the last four points) stops every rank with that point's error, and nothing is written.
TEST(Sweep, ThreeRanksDealTheTailAndAFailureThereStopsThemAll) {
  Files f;
  const auto grid = f.write("g.toml",
                            "[sweep]\n\"job[0].first_rack\" = [0, 4]\n"
                            "\"job[1].first_rack\" = [12, 8]\n"
                            "\"mitigation.smoothing.percent_tmp_floor\" = [30, 40, 50, 60]\n");
  const auto good = f.write("good.toml",
                            "[sweep]\n\"mitigation.smoothing.percent_tmp_floor\" = [30, 40, 50, 60, 70, 80, 90]\n"
                            "\"mitigation.storage.power_kw\" = [1, 3]\n");
  const std::string mpi = "env ASAN_OPTIONS=detect_leaks=0 timeout 120 " KEEL_MPIEXEC
                          " --allow-run-as-root --oversubscribe --bind-to none -np 3 -x ASAN_OPTIONS ";
  const std::string sweep = std::string(KEEL_BINARY) + " power sweep " + f.scenario + " --quiet --grid ";
  auto one = run_shell(sweep + good + " --out " + (f.dir.path / "one.csv").string());
  ASSERT_EQ(one.rc, 0) << one.err;
  auto three = run_shell(mpi + sweep + good + " --out " + (f.dir.path / "three.csv").string());
  ASSERT_EQ(three.rc, 0) << three.err;
  const std::string a = keel::testing::read_all(f.dir.path / "one.csv");
  EXPECT_EQ(keel::testing::count_lines(a), 15);
  EXPECT_EQ(a, keel::testing::read_all(f.dir.path / "three.csv"));

  auto alone = run_shell(sweep + grid + " --out " + (f.dir.path / "bad1.csv").string());
  EXPECT_EQ(alone.rc, 2) << alone.err;
  EXPECT_NE(alone.err.find("overlap"), std::string::npos) << alone.err;
  auto r = run_shell(mpi + sweep + grid + " --out " + (f.dir.path / "bad3.csv").string());
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "mpirun hung";
  EXPECT_NE(r.err.find("overlap"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(f.dir.path / "bad1.csv"));
  EXPECT_FALSE(std::filesystem::exists(f.dir.path / "bad3.csv"));
}

TEST(OptimizeMpi, TwoRanksFindWhatOneFindsAndPrintTheSame) {
  const std::string spec = std::string(KEEL_SOURCE_DIR) + "/examples/power/illustrative_spec.toml";
  const std::string scen = std::string(KEEL_SOURCE_DIR) + "/examples/power/default.toml";
  const std::string args = " power optimize " + scen + " --spec " + spec + " --budget 60 --json --quiet";
  auto one = run_shell(std::string(KEEL_BINARY) + args + " --threads 1");
  ASSERT_EQ(one.rc, 0) << one.err;
  auto two = run_shell("env ASAN_OPTIONS=detect_leaks=0 timeout 300 " KEEL_MPIEXEC
                       " --allow-run-as-root --oversubscribe --bind-to none -np 2 -x ASAN_OPTIONS " +
                       std::string(KEEL_BINARY) + args);
  ASSERT_EQ(two.rc, 0) << two.err;
  EXPECT_EQ(one.out, two.out);  // rank 0 alone prints; the search and its figures are the same
  EXPECT_NE(one.out.find("\"pareto\""), std::string::npos);
}
