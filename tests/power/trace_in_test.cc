// Measured power logs in the formats users have, parsed to the right watts, times and GPUs.
#include "keel/power/trace_in.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "../support/source_paths.h"
#include "keel/core/error.h"

using namespace keel::power;

namespace {
using keel::testing::kPowerTestData;

std::vector<double> watts(const GpuSeries& s) {
  std::vector<double> w;
  for (const auto& p : s.samples) w.push_back(p.w);
  return w;
}

// Times relative to the series' first sample (files carry epoch-sized clocks).
std::vector<double> rel_times(const GpuSeries& s) {
  std::vector<double> t;
  for (const auto& p : s.samples) t.push_back(p.t_s - s.samples.front().t_s);
  return t;
}

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

// Parsing `file` throws an InputError naming file:line whose message contains `what`.
void expect_input_error(const std::string& file, const std::string& where, const std::string& what,
                        const TraceReadOptions& opt = {}) {
  try {
    read_trace(kPowerTestData + file, opt);
    FAIL() << file << " parsed";
  } catch (const keel::core::InputError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(kPowerTestData + file + ":" + where + ":"), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

}  // namespace

TEST(TraceIn, NvidiaSmiWithIndexAndUnitSuffixes) {
  ParsedTrace t = read_trace(kPowerTestData + "nvsmi_index.csv");
  EXPECT_EQ(t.format, "nvidia-smi csv");
  EXPECT_EQ(t.power_field, "power.draw.instant");  // preferred over the 1 s average
  EXPECT_FALSE(t.averaged);
  ASSERT_EQ(t.gpus.size(), 2u);
  EXPECT_EQ(t.gpus[0].id, "0");
  EXPECT_EQ(t.gpus[1].id, "1");
  expect_near(watts(t.gpus[0]), {300, 310, 320}, 1e-9);
  expect_near(watts(t.gpus[1]), {100, 110, 120}, 1e-9);
  expect_near(rel_times(t.gpus[1]), {0, 0.1, 0.2}, 1e-6);
  EXPECT_EQ(t.gpus[1].samples[2].line, 7);
  EXPECT_EQ(t.rows, 6);
  EXPECT_FALSE(t.garbage.has_value());
}

TEST(TraceIn, NvidiaSmiWithoutIndexInfersGpusFromPollPattern) {
  // No index column, no spaces after commas, " W" on some values only, no final newline.
  ParsedTrace t = read_trace(kPowerTestData + "nvsmi_noindex.csv");
  ASSERT_EQ(t.gpus.size(), 3u);
  EXPECT_NE(t.gpu_source.find("polls of 3"), std::string::npos) << t.gpu_source;
  expect_near(watts(t.gpus[0]), {200.5, 210.25, 220, 230}, 1e-9);
  expect_near(watts(t.gpus[1]), {100, 110, 120, 130}, 1e-9);
  expect_near(watts(t.gpus[2]), {50, 60, 70, 80}, 1e-9);
  EXPECT_EQ(t.gpus[1].samples[0].line, 3);
  EXPECT_EQ(t.gpus[2].samples[3].line, 13);  // the last line, without a newline
  EXPECT_EQ(t.power_field, "power.draw");
  EXPECT_TRUE(t.averaged);
}

TEST(TraceIn, NvidiaSmiWithoutIndexAndNoPollPatternIsOneGpu) {
  std::string text = "timestamp, power.draw.instant [W]\n";
  const char* times[] = {"07.100", "07.201", "07.299", "07.400", "07.502", "07.600", "07.699"};
  for (const char* s : times) text += std::string("2025/08/21 14:03:") + s + ", 200 W\n";
  ParsedTrace t = parse_trace(text, "mem.csv");
  ASSERT_EQ(t.gpus.size(), 1u);
  EXPECT_EQ(t.gpus[0].samples.size(), 7u);
  EXPECT_NE(t.gpu_source.find("one GPU"), std::string::npos);
}

TEST(TraceIn, NvidiaSmiNounitsTakesTheUnitFromTheHeader) {
  ParsedTrace t = read_trace(kPowerTestData + "nvsmi_nounits.csv");
  ASSERT_EQ(t.gpus.size(), 1u);
  expect_near(watts(t.gpus[0]), {300, 310, 320}, 1e-9);  // [mW] in the header
}

TEST(TraceIn, NvidiaSmiNoheaderNeedsColumns) {
  expect_input_error("nvsmi_noheader.csv", "1", "--columns");
  TraceReadOptions opt;
  opt.columns = {"timestamp", "index", "power.draw.instant"};
  ParsedTrace t = read_trace(kPowerTestData + "nvsmi_noheader.csv", opt);
  ASSERT_EQ(t.gpus.size(), 2u);
  expect_near(watts(t.gpus[1]), {100, 110}, 1e-9);
  EXPECT_EQ(t.gpus[0].samples[0].line, 1);
}

TEST(TraceIn, KilledLoggerTailIsToleratedAndReported) {
  ParsedTrace t = read_trace(kPowerTestData + "nvsmi_nul_tail.csv");
  ASSERT_EQ(t.gpus.size(), 1u);
  expect_near(watts(t.gpus[0]), {300, 310, 320}, 1e-9);
  ASSERT_TRUE(t.garbage.has_value());
  EXPECT_EQ(t.garbage->line, 5);
  EXPECT_EQ(t.garbage->nul_bytes, 20u);
  EXPECT_EQ(t.garbage->bytes, 21u + 20u);  // "2025/08/21 14:03:07.4" + 20 NULs
}

TEST(TraceIn, DcgmiDmonTextWithDelayFlag) {
  TraceReadOptions opt;
  opt.dmon_delay_ms = 100;
  ParsedTrace t = read_trace(kPowerTestData + "dmon.txt", opt);
  EXPECT_EQ(t.format, "dcgmi dmon");
  EXPECT_NE(t.power_field.find("POWINST"), std::string::npos);  // field 157 over 155
  EXPECT_FALSE(t.averaged);
  ASSERT_EQ(t.gpus.size(), 2u);
  EXPECT_EQ(t.gpus[0].id, "GPU 0");
  expect_near(watts(t.gpus[0]), {300.5, 310, 320, 330}, 1e-9);
  expect_near(rel_times(t.gpus[0]), {0, 0.1, 0.2, 0.3}, 1e-12);  // across the repeated header
  expect_near(watts(t.gpus[1]), {100.25, 120, 130}, 1e-9);
  expect_near(rel_times(t.gpus[1]), {0, 0.2, 0.3}, 1e-12);  // the N/A poll is skipped
  EXPECT_EQ(t.unavailable, 1);
  EXPECT_EQ(t.first_unavailable_line, 6);
  EXPECT_FALSE(t.garbage.has_value());  // the Ctrl-C footer is not garbage
  expect_input_error("dmon.txt", "1", "--dmon-delay-ms");
}

TEST(TraceIn, DcgmCsvLongLayoutPrefersInstantPower) {
  ParsedTrace t = read_trace(kPowerTestData + "dcgm_long.csv");
  EXPECT_EQ(t.format, "dcgm csv");
  EXPECT_EQ(t.power_field, "DCGM_FI_DEV_POWER_USAGE_INSTANT");
  ASSERT_EQ(t.gpus.size(), 2u);
  expect_near(watts(t.gpus[0]), {300, 305, 310}, 1e-9);
  expect_near(watts(t.gpus[1]), {100, 102, 104}, 1e-9);
  expect_near(rel_times(t.gpus[0]), {0, 0.05, 0.1}, 1e-6);
}

TEST(TraceIn, DcgmCsvWideLayoutOneColumnPerGpu) {
  ParsedTrace t = read_trace(kPowerTestData + "dcgm_wide.csv");
  ASSERT_EQ(t.gpus.size(), 2u);
  EXPECT_EQ(t.gpus[0].id, "0");  // from the gpu="0" label
  EXPECT_EQ(t.gpus[1].id, "1");
  expect_near(watts(t.gpus[0]), {300, 310, 320}, 1e-9);
  expect_near(rel_times(t.gpus[0]), {0, 1, 2}, 1e-9);
  expect_near(watts(t.gpus[1]), {100, 120}, 1e-9);  // a blank cell is no value
  EXPECT_EQ(t.unavailable, 1);
}

TEST(TraceIn, DcgmCsvTimeUnitFromColumnName) {
  ParsedTrace t = parse_trace("time_ms,gpu,DCGM_FI_DEV_POWER_USAGE\n0,0,100\n250,0,110\n", "m.csv");
  expect_near(rel_times(t.gpus[0]), {0, 0.25}, 1e-12);
  EXPECT_TRUE(t.averaged);
}

TEST(TraceIn, MalformedFilesNameFileAndLine) {
  expect_input_error("bad_header.csv", "1", "no power column");
  expect_input_error("bad_value.csv", "3", "non-numeric power 'abc W'");
  expect_input_error("bad_unsorted.csv", "4", "time goes backwards");
  expect_input_error("bad_empty.csv", "1", "empty file");
  expect_input_error("bad_nul_middle.csv", "3", "NUL");        // garbage in the middle
  expect_input_error("bad_last_line.csv", "4", "'lots'");      // complete bad last line
}

TEST(TraceIn, TimestampsWithOffsetsAndWrongFieldCounts) {
  ParsedTrace t = parse_trace(
      "timestamp,gpu,DCGM_FI_DEV_POWER_USAGE_INSTANT\n"
      "2025-08-21T14:03:07.000+02:00,0,1\n2025-08-21T12:03:08.000Z,0,2\n",
      "tz.csv");
  expect_near(rel_times(t.gpus[0]), {0, 1}, 1e-6);
  EXPECT_THROW(parse_trace("timestamp, index, power.draw [W]\n2025/08/21 14:03:07.1, 0\n"
                           "2025/08/21 14:03:07.2, 0, 1 W\n",
                           "f.csv"),
               keel::core::InputError);
}

TEST(TraceIn, BrokenPollPatternIsWarnedWithItsLine) {
  // 3 GPUs a few ms apart per 100 ms poll; in the 5th poll one GPU is missing.
  std::string text = "timestamp,power.draw.instant [W]\n";
  int line = 1, first_short_poll_line = 0;
  for (int poll = 0; poll < 8; ++poll)
    for (int g = 0; g < (poll == 4 ? 2 : 3); ++g) {
      ++line;
      if (poll == 4 && g == 0) first_short_poll_line = line;
      int ms = 100 * poll + 2 * g;
      text += fmt::format("2025/08/21 14:03:{:02d}.{:03d},{} W\n", 7 + ms / 1000, ms % 1000, 100 * g);
    }
  ParsedTrace t = parse_trace(text, "drop.csv");
  ASSERT_EQ(t.gpus.size(), 3u);
  ASSERT_EQ(t.warnings.size(), 1u);
  EXPECT_NE(t.warnings[0].find("1 poll(s) do not have 3 rows, the first at line " +
                               std::to_string(first_short_poll_line)),
            std::string::npos)
      << t.warnings[0];
  // Rows after the short poll still go to the right GPUs: #2 draws 200 W in every full poll.
  ASSERT_EQ(t.gpus[2].samples.size(), 7u);
  for (const auto& p : t.gpus[2].samples) EXPECT_EQ(p.w, 200);
}
