// `keel power watch`: a recorded nvidia-smi log fed in pieces (library) and piped through the CLI
// judges each window exactly as the offline analysis of that window does, alerts where it fails,
// and keeps only about one window of the log in memory.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <httplib.h>

#include "../support/run_keel.h"
#include "../support/spawn_keel.h"
#include "keel/core/config.h"
#include "keel/power/spec.h"
#include "keel/power/trace_in.h"
#include "keel/power/trace_report.h"
#include "keel/power/watch.h"

namespace keel::power {
namespace {

namespace fs = std::filesystem;

// The same samples through the same code on a grid with the same lattice: only the order of
// float operations in the window arithmetic differs.
constexpr double kMetricRelTol = 1e-9;

// Two GPUs at 10 Hz for 240 s: steady 700 W (+-5 W noise) except a 0.5 Hz square wave between
// 200 and 1100 W from 100.05 to 160.05 s (off the window boundaries, so no window is borderline).
std::string fmt_w(double w) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", w);
  return b;
}

std::string recorded_log() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> noise(-5, 5);
  std::ostringstream s;
  s << "timestamp, index, power.draw.instant [W]\n";
  for (int i = 0; i < 2400; ++i) {
    const double t = i * 0.1;
    const int sec = static_cast<int>(t), tenth = i % 10;
    for (int g = 0; g < 2; ++g) {
      double w = 700 + noise(rng);
      if (t >= 100.05 && t < 160.05) w = std::fmod(t - 100.05, 2.0) < 1.0 ? 1100 : 200;
      s << "2026/11/30 " << 10 + sec / 3600 << ":" << (sec / 60) % 60 / 10 << (sec / 60) % 10
        << ":" << (sec % 60) / 10 << sec % 10 << "." << tenth << "00, " << g << ", "
        << fmt_w(w) << " W\n";
    }
  }
  return s.str();
}

class Watch : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("keel_watch_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "log.csv") << recorded_log();
    std::ofstream(dir_ / "spec.toml") << "name = \"test\"\n[time_domain]\nswing_window_s = 2\n"
                                         "max_swing_mw = 3\n[frequency_domain]\nsegment_s = 20\n"
                                         "max_band_amplitude_mw = 1\n";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(Watch, WindowsEqualTheOfflineAnalysisAndMemoryStaysBounded) {
  WatchOptions o;
  o.spec = load_spec(dir_ / "spec.toml");
  o.analyze.scale_gpus = 10000;
  o.window_s = 30;
  o.every_s = 10;
  o.alert_after = 2;
  Watcher w(o);
  const std::string log = recorded_log();
  std::vector<WatchWindow> got;
  std::mt19937 rng(3);
  std::size_t max_lines = 0;
  for (std::size_t at = 0; at < log.size();) {  // pieces of 1 byte to 8 KB, lines cut anywhere
    const std::size_t n = std::min(log.size() - at, std::size_t{1} + rng() % 8192);
    for (auto& x : w.feed(std::string_view(log).substr(at, n))) got.push_back(x);
    max_lines = std::max(max_lines, w.retained_lines());
    at += n;
  }
  for (auto& x : w.finish()) got.push_back(x);
  // Windows end every 10 s from 30 s to the last grid point (239.9 s): 30, 40, ..., 230.
  ASSERT_EQ(got.size(), 21u);
  // About one window of data kept: 30 s x 10 Hz x 2 GPUs plus what a piece brings at once.
  EXPECT_LT(max_lines, 2u * 10u * 45u);

  const ParsedTrace whole = read_trace(dir_ / "log.csv");
  for (const auto& x : got) {
    Spec spec = o.spec;
    spec.from_s = x.from_s;
    spec.to_s = x.to_s;
    const TraceAnalysis off = analyze_trace(whole, spec, o.analyze);
    ASSERT_EQ(x.clauses.size(), off.clauses.size());
    for (std::size_t c = 0; c < x.clauses.size(); ++c) {
      EXPECT_EQ(x.clauses[c].pass, off.clauses[c].pass) << x.to_s << " " << x.clauses[c].name;
      EXPECT_NEAR(x.clauses[c].value, off.clauses[c].value,
                  kMetricRelTol * std::max(1.0, std::abs(off.clauses[c].value)))
          << x.to_s << " " << x.clauses[c].name;
    }
    // Fails exactly when the window overlaps the swinging minute.
    const bool overlaps = x.to_s > 100.05 && x.from_s < 160.05;
    EXPECT_EQ(x.pass, !overlaps) << x.from_s << "-" << x.to_s;
  }
  EXPECT_EQ(got[8].to_s, 110);  // the first failing window: streak 1, no alert yet
  EXPECT_EQ(got[8].failing_streak, 1);
  EXPECT_FALSE(got[8].alert);
  EXPECT_EQ(got[9].failing_streak, 2);
  EXPECT_TRUE(got[9].alert);
}

TEST_F(Watch, CliPipesAlertsExitsAndWritesPrometheusText) {
  using keel::testing::run_shell;
  // Piped as from a live logger; the subshell keeps run_shell's own </dev/null off keel's stdin.
  auto watch = [&](const std::string& log, const std::string& spec, const std::string& args) {
    return run_shell("(cat " + (dir_ / log).string() + " | " + std::string(KEEL_BINARY) +
                     " power watch - --spec " + (dir_ / spec).string() + " " + args + ")");
  };
  const std::string common = "--scale-gpus 10000 --window-s 30 --every-s 10 ";
  auto r = watch("log.csv", "spec.toml",
                 common + "--json --prometheus " + (dir_ / "metrics.prom").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  std::vector<double> failing;
  std::istringstream lines(r.out);
  int windows = 0;
  for (std::string line; std::getline(lines, line); ++windows) {
    const auto j = nlohmann::json::parse(line);
    if (!j["pass"].get<bool>()) failing.push_back(j["to_s"].get<double>());
  }
  EXPECT_EQ(windows, 21);
  EXPECT_EQ(failing, (std::vector<double>{110, 120, 130, 140, 150, 160, 170, 180, 190}));
  const std::string prom = keel::testing::read_all(dir_ / "metrics.prom");
  EXPECT_NE(prom.find("keel_watch_pass 1\n"), std::string::npos) << prom;  // the last window
  EXPECT_NE(prom.find("keel_watch_clause_pass{clause="), std::string::npos);

  // Text: ALERT lines from the second failing window on; --exit-on-alert stops there with 3.
  auto t = watch("log.csv", "spec.toml", common + "--alert-after 2 --exit-on-alert");
  EXPECT_EQ(t.rc, 3) << t.err;
  EXPECT_EQ(keel::testing::count_lines(t.out), 11) << t.out;  // 10 windows to 120 s + the ALERT
  EXPECT_NE(t.out.find("ALERT 90.0-120.0 s: swing"), std::string::npos) << t.out;

  // A file followed as it grows: read to its end, then polled until --idle-exit-s passes without
  // new data; the same windows as the pipe.
  auto f = run_shell(std::string(KEEL_BINARY) + " power watch " + (dir_ / "log.csv").string() +
                     " --spec " + (dir_ / "spec.toml").string() + " " + common +
                     "--json --follow --poll-ms 20 --idle-exit-s 0.3");
  EXPECT_EQ(f.rc, 0) << f.err;
  EXPECT_EQ(f.out, r.out);

  // Bad input: one line, exit 2.
  std::ofstream(dir_ / "nolimits.toml") << "name = \"empty\"\n";
  auto n = watch("log.csv", "nolimits.toml", "");
  EXPECT_EQ(n.rc, 2);
  EXPECT_EQ(keel::testing::count_lines(n.err), 1) << n.err;
  std::ofstream(dir_ / "garbage.csv") << "timestamp, index, power.draw.instant [W]\n"
                                       << std::string(3000, 'x') << "\n";
  auto gbg = watch("garbage.csv", "spec.toml", "");
  EXPECT_EQ(gbg.rc, 2) << gbg.out << gbg.err;
  EXPECT_EQ(keel::testing::count_lines(gbg.err), 1) << gbg.err;
  // A window longer than the log judges nothing: said, not a silent exit 0.
  auto none = watch("log.csv", "spec.toml", "--window-s 1000");
  EXPECT_EQ(none.rc, 2) << none.out;
  EXPECT_EQ(none.out, "");
  EXPECT_NE(none.err.find("no window was judged: the log ended before 1000 s"), std::string::npos)
      << none.err;
  auto inf = watch("log.csv", "spec.toml", "--window-s inf");
  EXPECT_EQ(inf.rc, 2);
  EXPECT_NE(inf.err.find("--window-s: must be a finite number, got inf"), std::string::npos)
      << inf.err;
}

TEST_F(Watch, ServesTheLastWindowOnAPrometheusEndpoint) {
  // A followed log with --port 0: the first line is the URL; /metrics always holds a window at
  // least as recent as the last line read (published before it is printed), and once the file is
  // read to its end exactly the last window's text, as in the --prometheus file.
  using keel::testing::KeelProcess;
  KeelProcess w("power watch " + (dir_ / "log.csv").string() + " --spec " +
                    (dir_ / "spec.toml").string() +
                    " --scale-gpus 10000 --window-s 30 --every-s 10 --json --follow --poll-ms 20"
                    " --port 0 --prometheus " + (dir_ / "m.prom").string(),
                dir_ / "stderr.log");
  const auto first = nlohmann::json::parse(w.read_line(std::chrono::seconds(20)));
  const std::string url = first.at("metrics_url");
  const std::string prefix = "http://127.0.0.1:";
  ASSERT_EQ(url.rfind(prefix, 0), 0u) << url;
  const int port = std::stoi(url.substr(prefix.size()));
  httplib::Client c("127.0.0.1", port);
  auto windows_total = [](const std::string& body) {
    const std::string key = "\nkeel_watch_windows_total ";
    const auto at = body.find(key);
    return at == std::string::npos ? -1 : std::stoi(body.substr(at + key.size()));
  };
  int windows = 0;
  nlohmann::json last;
  for (std::string line; (line = w.read_line(std::chrono::seconds(20))).size();) {
    ++windows;
    last = nlohmann::json::parse(line);
    const auto res = c.Get("/metrics");
    ASSERT_TRUE(res) << "no answer from " << url;
    EXPECT_EQ(res->status, 200);
    EXPECT_GE(windows_total(res->body), windows) << res->body;
    if (last["to_s"].get<double>() >= 230) break;  // the last window before the end of the file
  }
  EXPECT_EQ(windows, 21);
  const auto res = c.Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_EQ(windows_total(res->body), windows) << res->body;
  EXPECT_EQ(res->body, keel::testing::read_all(dir_ / "m.prom"));
  EXPECT_NE(res->body.find(std::string("keel_watch_window_end_seconds ") +
                           fmt_w(last["to_s"].get<double>()).substr(0, 3)),
            std::string::npos)
      << res->body;
  const auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->body, "ok\n");

  // The port is taken now: a second watch says so in one line, exit 2.
  auto busy = keel::testing::run_keel("power watch " + (dir_ / "log.csv").string() + " --spec " +
                                      (dir_ / "spec.toml").string() + " --port " +
                                      std::to_string(port));
  EXPECT_EQ(busy.rc, 2);
  EXPECT_NE(busy.err.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << busy.err;
  EXPECT_EQ(keel::testing::count_lines(busy.err), 1) << "[" << busy.err << "]";
  w.signal(SIGTERM);
  EXPECT_EQ(w.wait(), 128 + SIGTERM);
}

}  // namespace
}  // namespace keel::power
