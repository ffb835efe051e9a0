// Replaying a measured timeline as a job's workload.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "keel/core/error.h"
#include "keel/power/replay.h"
#include "keel/power/sim.h"
#include "scenario_util.h"

using namespace keel::power;
using keel::testing::scenario_from;

namespace {
// 2 ranks, 3 iterations of 1 s: rank 0 computes 0.0-0.6 s, rank 1 0.0-0.7 s; then comm to 1.0 s.
std::filesystem::path write_timeline() {
  auto p = std::filesystem::temp_directory_path() / ("keel_replay_" + std::to_string(::getpid()) + ".csv");
  std::ofstream out(p);
  out << "rank,iteration,phase,start_s,end_s\n";
  for (int it = 0; it < 3; ++it)
    for (int r = 0; r < 2; ++r) {
      double t0 = 100.0 + it;  // any origin
      out << r << "," << it << ",compute," << t0 << "," << t0 + (r ? 0.7 : 0.6) << "\n";
      out << r << "," << it << ",comm," << t0 + (r ? 0.7 : 0.6) << "," << t0 + 1.0 << "\n";
    }
  return p;
}

std::string replay_job(const std::filesystem::path& p, const std::string& extra = "") {
  return std::string(keel::testing::kBareFacility) + R"(
[simulation]
duration_s = 8
[gpu]
time_constant_ms = 0
[[job]]
gpus = 4
timeline = ")" + p.string() + "\"\nstart_s = 1\n" + extra;
}
}  // namespace

TEST(Replay, RanksDrivePowerAndTheTimelineLoops) {
  auto p = write_timeline();
  auto sc = scenario_from(replay_job(p));
  ASSERT_TRUE(sc.jobs[0].replay);
  EXPECT_EQ(sc.jobs[0].replay->ranks, 2);
  EXPECT_DOUBLE_EQ(sc.jobs[0].replay->period_s, 3.0);
  auto r = simulate(sc);
  EXPECT_DOUBLE_EQ(r.grid_w[500], 4 * 150.0);                 // before start: idle
  EXPECT_DOUBLE_EQ(r.grid_w[1300], 4 * 1150.0);               // both ranks compute
  EXPECT_DOUBLE_EQ(r.grid_w[1650], 2 * 250.0 + 2 * 1150.0);   // rank 0 done, rank 1 computing
  EXPECT_DOUBLE_EQ(r.grid_w[1800], 4 * 250.0);                // communication
  EXPECT_DOUBLE_EQ(r.grid_w[4650], r.grid_w[1650]);           // looped after 3 s
  EXPECT_EQ(r.jobs[0].iterations, 7);                         // 7 s of 1 s iterations
  EXPECT_DOUBLE_EQ(r.jobs[0].mean_iteration_s(1.0), 1.0);
  // Every GPU stepped alone gives the same power.
  auto ref = simulate_reference(sc);
  for (std::size_t k = 0; k < r.grid_w.size(); ++k) ASSERT_NEAR(r.grid_w[k], ref.grid_w[k], 1e-9 * ref.grid_w[k]);
  std::filesystem::remove(p);
}

TEST(Replay, PlayedOnceTheJobStopsAtTheEnd) {
  auto p = write_timeline();
  auto r = simulate(scenario_from(replay_job(p, "timeline_repeat = false\n")));
  EXPECT_DOUBLE_EQ(r.grid_w[3650], 2 * 250.0 + 2 * 1150.0);
  EXPECT_DOUBLE_EQ(r.grid_w[4100], 4 * 150.0);  // after 1 + 3 s: idle
  std::filesystem::remove(p);
}

TEST(Replay, SmoothingThrottleShowsAsSlowdown) {
  auto p = write_timeline();
  auto sc = scenario_from(replay_job(p, R"(
[mitigation.smoothing]
ramp_up_rate_w_per_s = 2000
ramp_down_rate_w_per_s = 2000
)"));
  auto r = simulate(sc);
  EXPECT_GT(r.jobs[0].mean_iteration_s(1.0), 1.05);
  std::filesystem::remove(p);
}

TEST(Replay, SyntheticKeysAreRejectedWithATimeline) {
  auto p = write_timeline();
  try {
    scenario_from(replay_job(p, "compute_ms = 5\n"));
    FAIL() << "no error";
  } catch (const keel::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'job[0].compute_ms': not used with a timeline"),
              std::string::npos) << e.what();
  }
  std::filesystem::remove(p);
}

TEST(Replay, MissingTimelineFileIsInputError) {
  EXPECT_THROW(scenario_from(replay_job("/nonexistent/t.csv")), keel::core::InputError);
}
