// psu storage (GB300-style energy storage in the power supplies, sized per GPU), its power-cap
// ramp at job start and power burn at a planned stop, in the fast and the reference simulator.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "keel/power/sim.h"
#include "scenario_util.h"

using namespace keel;
using keel::testing::error_of;
using keel::testing::scenario_from;

namespace {

constexpr double kPsuFastVsRefRel = 1e-9;  // the same arithmetic per rack, summed otherwise

// 64 GPUs on 4 racks (16 per rack), 300 ms compute / 200 ms comm swings, a bare facility so the
// grid sees GPU power; started at 1 s, stopped at 8 s.
std::string site(const std::string& storage, int compute_ms = 300, int comm_ms = 200) {
  return std::string(R"(
[simulation]
duration_s = 12
step_ms = 1
seed = 3
[gpu]
tdp_w = 1000
idle_w = 100
comm_w = 200
compute_w = 950
time_constant_ms = 5
[[job]]
name = "train"
gpus = 64
compute_ms = )" + std::to_string(compute_ms) + R"(
comm_ms = )" + std::to_string(comm_ms) + R"(
offset_std_ms = 2
start_s = 1
stop_s = 8
)") + keel::testing::kBareFacility + R"(
gpus_per_server = 4
servers_per_rack = 4
)" + storage;
}

const std::string kPsu = R"(
[mitigation.storage]
level = "psu"
energy_j_per_gpu = 65
power_w_per_gpu = 600
)";

double max_step_change(const std::vector<double>& w, std::size_t from, std::size_t to) {
  double m = 0;
  for (std::size_t k = from + 1; k < to; ++k) m = std::max(m, std::abs(w[k] - w[k - 1]));
  return m;
}

TEST(PsuStorage, SizedPerGpuAndRefusedWithRackKeys) {
  const auto sc = scenario_from(site(kPsu));
  EXPECT_EQ(sc.storage.level, power::StorageLevel::psu);
  EXPECT_DOUBLE_EQ(sc.storage.energy_kwh, 65.0 * 16 / 3.6e6);  // per rack: 16 GPUs' supplies
  EXPECT_DOUBLE_EQ(sc.storage.power_kw, 600.0 * 16 / 1000);
  EXPECT_DOUBLE_EQ(sc.storage.filter_time_constant_s, 0.1);
  EXPECT_NE(error_of([] { scenario_from(site("[mitigation.storage]\nlevel = \"psu\"\nenergy_kwh = 1\n"
                                             "power_w_per_gpu = 100\n")); })
                .find("energy_kwh"),
            std::string::npos);
  EXPECT_NE(error_of([] { scenario_from(site("[mitigation.storage]\nlevel = \"psu\"\n")); })
                .find("power_w_per_gpu"),
            std::string::npos);
  EXPECT_NE(error_of([] { scenario_from(site("[mitigation.storage]\nlevel = \"rack\"\nenergy_kwh = 1\n"
                                             "power_kw = 1\nstop_burn_s = 2\n")); })
                .find("stop_burn_s"),
            std::string::npos);
}

TEST(PsuStorage, SmoothsMillisecondStepsWithinItsStateOfChargeBounds) {
  // 20 ms communication dips: 15 J per GPU each, inside what 65 J supplies can give.
  const auto bare = power::simulate(scenario_from(site("", 180, 20)));
  const auto sc = scenario_from(site(kPsu, 180, 20));
  const auto with = power::simulate(sc);
  ASSERT_TRUE(with.has_storage);
  ASSERT_EQ(with.soc.size(), with.grid_w.size());
  for (double s : with.soc) {
    EXPECT_GE(s, sc.storage.soc_min - 1e-12);
    EXPECT_LE(s, sc.storage.soc_max + 1e-12);
  }
  EXPECT_GE(with.storage.soc_min_seen, sc.storage.soc_min - 1e-12);
  // 65 J per GPU covers tens of milliseconds: the dips and their 1 ms edges all but vanish from
  // the grid side.
  const std::size_t a = 2000, b = 7500;
  EXPECT_LT(max_step_change(with.grid_w, a, b), 0.2 * max_step_change(bare.grid_w, a, b));
  auto swing = [&](const std::vector<double>& w) {
    const auto [lo, hi] = std::minmax_element(w.begin() + a, w.begin() + b);
    return *hi - *lo;
  };
  EXPECT_LT(swing(with.grid_w), 0.3 * swing(bare.grid_w));
  // The reference simulator (every rack's battery over its own series) agrees.
  const auto ref = power::simulate_reference(sc);
  const double peak = *std::max_element(with.grid_w.begin(), with.grid_w.end());
  for (std::size_t k = 0; k < with.grid_w.size(); ++k)
    ASSERT_NEAR(with.grid_w[k], ref.grid_w[k], kPsuFastVsRefRel * peak) << k;
}

TEST(PsuStorage, PowerCapRampAtStartAndPowerBurnAtStop) {
  const auto plain = power::simulate(scenario_from(site(kPsu)));
  const auto sc = scenario_from(site(kPsu + "start_ramp_s = 2\nstop_burn_s = 2\n"));
  const auto r = power::simulate(sc);
  const auto ref = power::simulate_reference(sc);
  const double peak = *std::max_element(r.facility_w.begin(), r.facility_w.end());
  for (std::size_t k = 0; k < r.facility_w.size(); ++k)
    ASSERT_NEAR(r.facility_w[k], ref.facility_w[k], kPsuFastVsRefRel * peak) << k;
  // Under the cap: at 1 s + t the GPUs draw at most idle + (TDP - idle) t / 2 s each.
  for (int ms = 0; ms < 2000; ms += 50) {
    const double cap = 100 + 900 * (ms + 1) / 2000.0;
    EXPECT_LE(r.facility_w[static_cast<std::size_t>(1000 + ms)], 64 * cap + 1e-6) << ms;
  }
  // The capped start computes more slowly: fewer iterations by the stop.
  EXPECT_LT(r.jobs[0].iterations, plain.jobs[0].iterations);
  // After the stop the GPUs burn power down to idle over 2 s, a ramp from the job's mean power.
  const double mean = 64 * (300 * 950 + 200 * 200) / 500.0;
  EXPECT_NEAR(r.facility_w[8000 + 1000], 64 * 100 + (mean - 64 * 100) * 0.5, 0.02 * mean);
  EXPECT_NEAR(r.facility_w[8000 + 2500], 64 * 100, 1.0);
  EXPECT_NEAR(plain.facility_w[8000 + 1000], 64 * 100, 1.0);  // without it: idle at once
  // Its energy is the storage level's power burn (a triangle of (mean - idle) x 2 s / 2).
  EXPECT_NEAR(r.burn_energy_j, (mean - 64 * 100) * 2.0 / 2, 0.01 * (mean - 64 * 100));
  EXPECT_EQ(r.software_energy_j, 0.0);
}

}  // namespace
