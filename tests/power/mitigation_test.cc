// Each mitigation's effect on a small golden scenario whose numbers are checked by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "keel/power/analysis.h"
#include "keel/power/metrics.h"
#include "keel/power/sim.h"
#include "scenario_util.h"

using namespace keel::power;
using keel::testing::scenario_from;

namespace {
// 10 GPUs, instant response, 1 s compute (1150 W) + 1 s comm (250 W), 10 s, nothing around the
// GPUs: the grid alternates 11 500 W and 2 500 W; 70 000 J; 4 iterations complete (the 5th ends
// exactly at the window's end, 10 s, which is not simulated).
std::string golden(const std::string& mitigation) {
  return std::string(keel::testing::kBareFacility) + R"(
[simulation]
duration_s = 10
[gpu]
tdp_w = 1200
idle_w = 150
comm_w = 250
compute_w = 1150
time_constant_ms = 0
[[job]]
gpus = 10
compute_ms = 1000
comm_ms = 1000
)" + mitigation;
}
constexpr double kExactJ = 1e-6;  // energies are sums of exact step products
}  // namespace

TEST(Mitigation, BaselineGolden) {
  auto r = simulate(scenario_from(golden("")));
  EXPECT_DOUBLE_EQ(*std::min_element(r.grid_w.begin(), r.grid_w.end()), 2500.0);
  EXPECT_NEAR(r.grid_energy_j(), 70000.0, kExactJ);
  EXPECT_EQ(r.jobs[0].iterations, 4);
}

TEST(Mitigation, SoftwareFloorRaisesMinimumAndOverheadIsTheExtraEnergy) {
  // Floor 0.5 x 1200 W = 600 W in comm: +350 W x 10 GPUs x 5 comm phases x 1 s = 17 500 J.
  auto sc = scenario_from(golden("[mitigation.software]\nfloor_fraction_of_tdp = 0.5\n"));
  auto r = simulate(sc);
  auto base = simulate(without_mitigations(sc));
  EXPECT_DOUBLE_EQ(*std::min_element(r.grid_w.begin(), r.grid_w.end()), 6000.0);
  EXPECT_NEAR(r.software_energy_j, 17500.0, kExactJ);
  EXPECT_NEAR(r.grid_energy_j() - base.grid_energy_j(), 17500.0, kExactJ);
  auto rep = make_report("software", r, base, Spec{}, 1.0);
  EXPECT_NEAR(rep.costs.energy_overhead_pct, 100.0 * 17500 / 70000, 1e-9);
  EXPECT_DOUBLE_EQ(rep.costs.slowdown_pct, 0.0);
}

TEST(Mitigation, SoftwareStartupDelayAndSlowdown) {
  // 200 ms delay: 0.8 s filled per comm phase -> 14 000 J. A 10 % comm slowdown makes each
  // iteration 2.1 s: 4 complete in 10 s, slowdown 5 %.
  auto sc = scenario_from(golden(
      "[mitigation.software]\nfloor_fraction_of_tdp = 0.5\nstartup_delay_ms = 200\n"
      "comm_slowdown_pct = 10\n"));
  auto r = simulate(sc);
  auto base = simulate(without_mitigations(sc));
  EXPECT_EQ(r.jobs[0].iterations, 4);
  EXPECT_DOUBLE_EQ(r.jobs[0].mean_iteration_s(1.0), 2.1);
  auto rep = make_report("software", r, base, Spec{}, 1.0);
  EXPECT_NEAR(rep.costs.slowdown_pct, 5.0, 1e-9);
  // Comm phases: 4 full (0.9 s filled each) + the 5th from 9.4 s to 10 s (0.4 s filled).
  EXPECT_NEAR(r.software_energy_j, 3500.0 * (4 * 0.9 + 0.4), kExactJ);
}

// Attribution: ramps alone are the software mitigation's energy; a slowdown is charged only
// when the filler runs.
TEST(Mitigation, StartStopRampEnergyIsSoftwareEnergy) {
  // Job from 2 s to 8 s (stop); 1 s ramps: idle 150 W -> 700 W mean iteration power before the
  // start, 700 W -> 150 W after the stop. Each ramp's 1000 steps move linearly: extra energy above
  // idle = 10 GPUs x 550 W x (mean of k/1000, k = 1..1000) x 1 s = 5 500 x 0.5005 J (up), and
  // 5 500 x (1 - 0.5005) J (down).
  auto sc = scenario_from(golden("start_s = 2\nstop_s = 8\n[mitigation.software]\n"
                                 "start_ramp_s = 1\nstop_ramp_s = 1\n"));
  auto r = simulate(sc);
  auto base = simulate(without_mitigations(sc));
  const double up = 5500.0 * 0.5005, down = 5500.0 * (1.0 - 0.5005);
  EXPECT_NEAR(r.software_energy_j, up + down, 1e-6);
  EXPECT_NEAR(r.grid_energy_j() - base.grid_energy_j(), r.software_energy_j, 1e-6);
  auto rep = make_report("software", r, base, Spec{}, 1.0);
  EXPECT_GT(rep.costs.software_energy_mwh, 0.0);
  EXPECT_DOUBLE_EQ(rep.costs.slowdown_pct, 0.0);
}

TEST(Mitigation, NoSlowdownIsChargedWhenTheFillerNeverRuns) {
  for (const char* floor : {"0", "0.2"}) {  // 0 and 240 W: neither is above comm's 250 W
    auto sc = scenario_from(golden(std::string("[mitigation.software]\nfloor_fraction_of_tdp = ") +
                                   floor + "\ncomm_slowdown_pct = 10\n"));
    auto r = simulate(sc);
    auto base = simulate(without_mitigations(sc));
    auto rep = make_report("software", r, base, Spec{}, 1.0);
    EXPECT_DOUBLE_EQ(rep.costs.slowdown_pct, 0.0) << floor;
    EXPECT_DOUBLE_EQ(r.software_energy_j, 0.0) << floor;
  }
  // A delay as long as the comm phase: the filler never starts either.
  auto late = scenario_from(golden("[mitigation.software]\nfloor_fraction_of_tdp = 0.5\n"
                                   "startup_delay_ms = 1000\ncomm_slowdown_pct = 10\n"));
  EXPECT_DOUBLE_EQ(simulate(late).jobs[0].mean_iteration_s(1.0), 2.0);
}

TEST(Mitigation, SmoothingRampLimitsCapDpDtAndSlowCompute) {
  // Per GPU +2 W/ms, -1 W/ms; 10 GPUs: the grid may rise 20 W and fall 10 W per step at most.
  auto sc = scenario_from(golden(
      "[mitigation.smoothing]\nramp_up_rate_w_per_s = 2000\nramp_down_rate_w_per_s = 1000\n"));
  auto r = simulate(sc);
  double up = 0, down = 0;
  for (std::size_t k = 1; k < r.grid_w.size(); ++k) {
    up = std::max(up, r.grid_w[k] - r.grid_w[k - 1]);
    down = std::max(down, r.grid_w[k - 1] - r.grid_w[k]);
  }
  EXPECT_LE(up, 20.0 + 1e-9);
  EXPECT_LE(down, 10.0 + 1e-9);
  EXPECT_GT(up, 19.0);  // the limit binds
  // Power rising at 2 W/ms throttles compute: iterations take longer than 2 s.
  EXPECT_GT(r.jobs[0].mean_iteration_s(1.0), 2.05);
  EXPECT_GT(r.smoothing_energy_j, 0.0);  // ramping down slowly burns power above demand
}

TEST(Mitigation, SmoothingFloorRaisesMinimumWhileRunning) {
  // Floor 70 % of 1200 W = 840 W; fast ramps so only the floor matters.
  auto sc = scenario_from(golden(
      "[mitigation.smoothing]\npercent_tmp_floor = 70\nramp_up_rate_w_per_s = 1e7\n"
      "ramp_down_rate_w_per_s = 1e7\n"));
  auto r = simulate(sc);
  EXPECT_DOUBLE_EQ(*std::min_element(r.grid_w.begin(), r.grid_w.end()), 8400.0);
  // Extra: (840 - 250) W x 10 GPUs x 5 s of comm.
  EXPECT_NEAR(r.smoothing_energy_j, 590.0 * 10 * 5, kExactJ);
}

TEST(Mitigation, StorageKeepsSocInBoundsAndLowersGridRamp) {
  const std::string storage = R"(
[mitigation.storage]
energy_kwh = %E%
power_kw = 20
soc_min = 0.2
soc_max = 0.8
filter_time_constant_s = 5
)";
  auto with_energy = [&](const char* e) {
    std::string s = storage;
    s.replace(s.find("%E%"), 3, e);
    return scenario_from(golden(s));
  };
  auto big = simulate(with_energy("1.0"));
  auto base = simulate(without_mitigations(with_energy("1.0")));
  ASSERT_TRUE(big.has_storage);
  for (double soc : big.soc) ASSERT_TRUE(soc >= 0.2 - 1e-12 && soc <= 0.8 + 1e-12) << soc;
  EXPECT_LT(max_ramps(big.grid_w, 0.001, 0.1).up_per_s,
            0.2 * max_ramps(base.grid_w, 0.001, 0.1).up_per_s);
  EXPECT_EQ(big.storage.energy_limited_fraction, 0.0);

  // 1 Wh cannot buffer a 9 kW swing: the battery hits soc_min and the grid sees the load.
  auto tiny = simulate(with_energy("0.001"));
  for (double soc : tiny.soc) ASSERT_TRUE(soc >= 0.2 - 1e-12 && soc <= 0.8 + 1e-12) << soc;
  EXPECT_GT(tiny.storage.energy_limited_fraction, 0.1);
  EXPECT_GT(max_ramps(tiny.grid_w, 0.001, 0.1).up_per_s,
            0.3 * max_ramps(base.grid_w, 0.001, 0.1).up_per_s);
  // Energy balance: grid = load - battery output.
  EXPECT_NEAR(tiny.grid_energy_j(), base.grid_energy_j() - tiny.storage.net_discharge_j, 1e-6);
}

TEST(Mitigation, CompareRunsEveryCombinationAndCombinedIsSmoothest) {
  auto sc = scenario_from(golden(R"(
[mitigation.software]
floor_fraction_of_tdp = 0.5
[mitigation.smoothing]
percent_tmp_floor = 60
ramp_up_rate_w_per_s = 3000
ramp_down_rate_w_per_s = 3000
[mitigation.storage]
energy_kwh = 1.0
power_kw = 20
)"));
  auto rows = compare(sc, Spec{}, 2);
  ASSERT_EQ(rows.size(), 8u);
  EXPECT_EQ(rows.front().variant, "none");
  EXPECT_EQ(rows.back().variant, "software+smoothing+storage");
  EXPECT_EQ(rows[1].variant, "software");
  // The iteration's 0.5 Hz line dominates the band without mitigation; every mitigation lowers the
  // band's largest line (which may then be the start-up transient's).
  const double none = rows.front().metrics.band_amplitude_mw;
  EXPECT_NEAR(rows.front().metrics.band_peak_hz, 0.5, 1e-9);
  for (std::size_t i = 1; i < rows.size(); ++i)
    EXPECT_LT(rows[i].metrics.band_amplitude_mw, 0.8 * none) << rows[i].variant;
  EXPECT_LT(rows.back().metrics.band_amplitude_mw, 0.25 * none);
}
