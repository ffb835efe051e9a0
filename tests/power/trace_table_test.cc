// Power logs as users have them beyond nvidia-smi and DCGM: CSV tables in long form (a GPU
// column) and wide form (a column per GPU), NVML loggers' whitespace columns under '#' headers,
// units in headers and flags, epoch/ISO/relative times, missing values, NUL tails, ambiguous or
// unmapped columns, and one log per node merged with its clock offset estimated.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <functional>

#include "../support/run_keel.h"
#include "../support/temp_dir.h"
#include "scenario_util.h"
#include "keel/core/error.h"
#include "keel/power/trace_in.h"

using namespace keel;
using keel::testing::error_of;
using namespace keel::power;

namespace {

// A synchronous job's GPU: 650 W for 0.6 s of every second, else 150 W, plus a GPU-specific bit.
double watts(double t, int gpu) { return (std::fmod(t, 1.0) < 0.6 ? 650.0 : 150.0) + gpu; }

}  // namespace

TEST(TraceTable, LongFormWithEpochMillisecondsMilliwattsAndAMissingValue) {
  std::string text = "timestamp_ms,gpu_id,power_mW\n";
  for (int k = 0; k < 300; ++k)
    for (int g = 0; g < 3; ++g) {
      const long long ms = 1764500000000LL + 10LL * k;
      text += std::to_string(ms) + "," + std::to_string(g) + "," +
              (k == 7 && g == 1 ? "" : std::to_string(std::llround(watts(k * 0.01, g) * 1000))) + "\n";
    }
  const ParsedTrace t = parse_trace(text, "long.csv");
  EXPECT_EQ(t.format, "csv table");
  ASSERT_EQ(t.gpus.size(), 3u);
  EXPECT_EQ(t.gpus[1].id, "1");
  EXPECT_EQ(t.gpus[0].samples.size(), 300u);
  EXPECT_EQ(t.gpus[1].samples.size(), 299u);
  EXPECT_EQ(t.unavailable, 1);
  EXPECT_EQ(t.first_unavailable_line, 2 + 7 * 3 + 1);
  EXPECT_NEAR(t.gpus[2].samples[10].t_s, 0.1, 1e-9);
  EXPECT_NEAR(t.gpus[2].samples[10].w, watts(0.1, 2), 1e-3);  // mW -> W from the header
  ASSERT_TRUE(t.origin_s.has_value());
  EXPECT_EQ(*t.origin_s, 1764500000LL);
}

TEST(TraceTable, WideFormWithIsoTimesAndPerGpuColumns) {
  std::string text = "time,gpu0 [W],gpu1 [W]\n";
  for (int k = 0; k < 200; ++k) {
    const int ms = 10 * k;
    text += fmt::format("2025-11-30T12:00:{:02d}.{:03d}Z,{:.1f},{}\n", ms / 1000, ms % 1000,
                        watts(k * 0.01, 0),
                        k == 180 ? std::string("nan") : fmt::format("{:.1f}", watts(k * 0.01, 1)));
  }
  const ParsedTrace t = parse_trace(text, "wide.csv");
  ASSERT_EQ(t.gpus.size(), 2u);
  EXPECT_EQ(t.gpus[0].id, "gpu0");
  EXPECT_EQ(t.gpu_source, "one power column per GPU");
  EXPECT_NEAR(t.gpus[1].samples[150].t_s, 1.5, 1e-9);
  EXPECT_NEAR(t.gpus[1].samples[150].w, watts(1.5, 1), 1e-9);
  EXPECT_EQ(t.gpus[1].samples.size(), 199u);  // "nan" is a missing value
  EXPECT_EQ(t.unavailable, 1);
  EXPECT_TRUE(t.origin_s.has_value());
}

TEST(TraceTable, NvmlWhitespaceLogWithCommentHeaderMilliwattsAndANulTail) {
  std::string text = "# nvml power logger\n# started by cron\n# time_s gpu0_power_mW gpu1_power_mW\n";
  for (int k = 0; k < 100; ++k)
    text += fmt::format("{:.2f}\t{}  {}\n", k * 0.02, std::llround(watts(k * 0.02, 0) * 1000),
                        std::llround(watts(k * 0.02, 1) * 1000));
  text += std::string("2.00 65") + std::string(3, '\0');  // the logger was killed mid-line
  const ParsedTrace t = parse_trace(text, "gpu.log");
  EXPECT_EQ(t.format, "nvml log");
  ASSERT_EQ(t.gpus.size(), 2u);
  EXPECT_EQ(t.gpus[1].id, "gpu1");  // the unit suffix leaves the name
  EXPECT_EQ(t.gpus[0].samples.size(), 100u);
  EXPECT_NEAR(t.gpus[0].samples[40].w, watts(0.8, 0), 1e-9);
  ASSERT_TRUE(t.garbage.has_value());
  EXPECT_EQ(t.garbage->nul_bytes, 3u);
  EXPECT_FALSE(t.origin_s.has_value());  // seconds since start: relative
}

TEST(TraceTable, ColumnFlagsAndUnitFlagsMapWhatCannotBeGuessed) {
  const std::string text = "t,host,p1,p2\n0,a,100,1\n1,a,200,2\n2,a,300,3\n";
  auto msg = error_of([&] { parse_trace(text, "amb.csv"); });
  EXPECT_NE(msg.find("amb.csv:1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("--power-col"), std::string::npos) << msg;  // p1/p2: no power-like name
  TraceReadOptions o;
  o.time_col = "t";
  o.power_col = "P1";  // case-insensitive
  o.power_unit = "kW";
  o.time_unit = "ms";
  const ParsedTrace t = parse_trace(text, "amb.csv", o);
  ASSERT_EQ(t.gpus.size(), 1u);
  EXPECT_NEAR(t.gpus[0].samples[2].w, 300e3, 1e-6);
  EXPECT_NEAR(t.gpus[0].samples[2].t_s, 0.002, 1e-12);
  o.power_col = "p9";
  msg = error_of([&] { parse_trace(text, "amb.csv", o); });
  EXPECT_NE(msg.find("--power-col 'p9' is not a column (columns: t, host, p1, p2)"), std::string::npos) << msg;
  const std::string two = "time,gpu,power_w,power_limit_w\n0,0,1,2\n";
  msg = error_of([&] { parse_trace(two, "two.csv"); });
  EXPECT_NE(msg.find("ambiguous power column"), std::string::npos) << msg;
}

TEST(TraceTable, OneLogPerNodeMergesOnTimestampsAndReportsTheClockOffset) {
  auto node = [](double skew, int first_gpu) {
    std::string text = "timestamp,gpu,power_w\n";
    for (int k = 0; k < 2000; ++k) {
      const double t = 1764500000.0 + 0.01 * k;
      // Not periodic: a slow ramp of the compute level, so one offset fits best.
      for (int g = first_gpu; g < first_gpu + 2; ++g)
        text += fmt::format("{:.3f},{},{:.2f}\n", t + skew, g, watts(0.01 * k, g) + 10 * k * 0.01);
    }
    return text;
  };
  std::vector<ParsedTrace> files;
  files.push_back(parse_trace(node(0, 0), "node1.csv"));
  files.push_back(parse_trace(node(0.37, 2), "node2.csv"));
  const ParsedTrace merged = merge_traces(files, false);
  ASSERT_EQ(merged.gpus.size(), 4u);
  EXPECT_EQ(merged.gpus[2].id, "node2:2");
  std::string offset_note;
  for (const auto& n : merged.notes)
    if (n.find("clock offset of node2.csv") != std::string::npos) offset_note = n;
  EXPECT_NE(offset_note.find("+0.370 s"), std::string::npos) << offset_note;
  // Unaligned, node2's samples sit 0.37 s late; aligned, on node1's clock.
  EXPECT_NEAR(merged.gpus[2].samples[0].t_s - merged.gpus[0].samples[0].t_s, 0.37, 1e-6);
  const ParsedTrace aligned = merge_traces(files, true);
  EXPECT_NEAR(aligned.gpus[2].samples[0].t_s - aligned.gpus[0].samples[0].t_s, 0.0, 1e-6);
}

TEST(TraceTable, CliAnalyzesSeveralFilesAndRefusesAnAmbiguousOneWithTheFlags) {
  keel::testing::TempDir d("keel_tables");
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(d.path / name) << text;
    return (d.path / name).string();
  };
  std::string a = "time,gpu,power\n", b = a;
  for (int k = 0; k < 500; ++k) {
    a += fmt::format("{:.2f},0,{:.1f}\n", 1764500000.0 + 0.01 * k, watts(0.01 * k, 0));
    b += fmt::format("{:.2f},0,{:.1f}\n", 1764500000.0 + 0.01 * k, watts(0.01 * k, 1));
  }
  auto r = keel::testing::run_keel("power analyze --json " + write("n1.csv", a) + " " + write("n2.csv", b));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("clock offset of"), std::string::npos) << r.out;
  r = keel::testing::run_keel("power analyze " + write("bad.csv", "time,x,y\n0,1,2\n1,1,2\n") + " --gpu-col x");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("no power column found"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--power-col"), std::string::npos) << r.err;
}
