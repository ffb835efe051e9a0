#include "keel/core/timeline.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "../support/corruption.h"
#include "../support/temp_dir.h"
#include "keel/core/error.h"

using keel::core::parse_timeline_csv;
using keel::core::PhaseRecord;
using keel::core::TimelinePhase;

namespace {
std::string error_of(const std::string& text) {
  try {
    parse_timeline_csv(text, "t.csv");
  } catch (const keel::core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}
const std::string kHeader = "rank,iteration,phase,start_s,end_s\n";
}  // namespace

TEST(Timeline, WriteThenReadRoundTrips) {
  std::vector<PhaseRecord> recs = {{0, 0, TimelinePhase::compute, 0.0, 0.5},
                                   {0, 0, TimelinePhase::comm, 0.5, 0.75},
                                   {1, 0, TimelinePhase::compute, 0.0, 0.625}};
  keel::testing::TempDir d("keel_timeline");
  auto p = d.path / "timeline.csv";
  keel::core::write_timeline_csv(p, recs);
  auto back = keel::core::read_timeline_csv(p);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[2].rank, 1);
  EXPECT_EQ(back[1].phase, TimelinePhase::comm);
  EXPECT_DOUBLE_EQ(back[2].end_s, 0.625);
}

// A timeline keel wrote is listed in its directory's manifest: a damaged one is refused (100
// single-byte flips, 20 truncations), and a second timeline beside it keeps the first's entry.
TEST(Timeline, DamagedTimelinesKeelWroteAreRefused) {
  keel::testing::TempDir d("keel_timeline");
  std::vector<PhaseRecord> recs;
  for (int i = 0; i < 50; ++i)
    recs.push_back({i % 2, i / 2, i % 3 ? TimelinePhase::compute : TimelinePhase::comm, 0.1 * i,
                    0.1 * i + 0.05});
  const auto p = d.path / "a.csv", q = d.path / "b.csv";
  keel::core::write_timeline_csv(p, recs);
  keel::core::write_timeline_csv(q, recs);
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string good = ss.str();
  auto write = [&](const std::string& b) { std::ofstream(p, std::ios::binary) << b; };
  const auto n = keel::testing::corrupt_each(good, 100, 20, 4, write,
                                             [&] { keel::core::read_timeline_csv(p); });
  EXPECT_EQ(n.flips_with_message, 100);
  EXPECT_EQ(n.cuts_refused, 20);
  EXPECT_EQ(keel::core::read_timeline_csv(q).size(), 50u);  // its entry survived a's rewrites
}

TEST(Timeline, AcceptsCrlfAndBlankLines) {
  auto r = parse_timeline_csv("rank,iteration,phase,start_s,end_s\r\n0,0,compute,0,1\r\n\r\n", "t");
  ASSERT_EQ(r.size(), 1u);
}

TEST(Timeline, BadInputNamesFileAndLine) {
  EXPECT_EQ(error_of(""), "t.csv: empty timeline (expected a header and rows)");
  EXPECT_NE(error_of("time,power\n").find("t.csv:1: not a keel timeline"), std::string::npos);
  EXPECT_EQ(error_of(kHeader + "0,0,compute,0,1\n0,1,train,1,2\n"),
            "t.csv:3: unknown phase 'train' (use compute or comm)");
  EXPECT_EQ(error_of(kHeader + "0,0,compute,2,1\n"), "t.csv:2: end_s is before start_s");
  EXPECT_EQ(error_of(kHeader + "x,0,compute,0,1\n"), "t.csv:2: rank must be an integer >= 0");
  EXPECT_EQ(error_of(kHeader + "0,0,compute,0,1.5\n"), "(no error)");
  EXPECT_EQ(error_of(kHeader + "0,0,compute,zero,1\n"),
            "t.csv:2: start_s and end_s must be numbers");
  EXPECT_NE(error_of(kHeader + "0,0,compute,0,1\n0,1,compute,0.5,2\n").find("overlapping compute"),
            std::string::npos);
}
