#include "keel/power/sim.h"

#include <gtest/gtest.h>

#include <cmath>

#include "scenario_util.h"

using keel::power::simulate;
using keel::power::simulate_reference;
using keel::testing::scenario_from;

namespace {
// The fast simulator sums cohorts, the reference sums every GPU rack by rack: the results differ
// only by floating-point summation order.
constexpr double kFastVsReferenceRelTol = 1e-9;

const std::string kBusy = R"(
[simulation]
duration_s = 30
step_ms = 1
seed = 7
[gpu]
time_constant_ms = 20
[facility]
gpus_per_server = 4
servers_per_rack = 2
[[job]]
gpus = 61
compute_ms = 700
comm_ms = 300
jitter_pct = 5
offset_std_ms = 6
straggler_fraction = 0.1
straggler_slowdown_pct = 8
checkpoint_every_iters = 5
checkpoint_ms = 900
start_s = 2
stop_s = 24
[[job]]
name = "second"
gpus = 13
compute_ms = 400
comm_ms = 250
offset_std_ms = 2
start_s = 5
fail_s = 21
[mitigation.software]
floor_fraction_of_tdp = 0.5
startup_delay_ms = 40
comm_slowdown_pct = 4
start_ramp_s = 1.5
stop_ramp_s = 2
[mitigation.smoothing]
percent_tmp_floor = 60
ramp_up_rate_w_per_s = 3000
ramp_down_rate_w_per_s = 2000
ramp_down_hysteresis_ms = 150
[mitigation.storage]
level = "rack"
energy_kwh = 0.05
power_kw = 20
)";

void expect_same(const keel::power::SimResult& a, const keel::power::SimResult& b) {
  ASSERT_EQ(a.grid_w.size(), b.grid_w.size());
  for (std::size_t k = 0; k < a.grid_w.size(); ++k) {
    ASSERT_NEAR(a.facility_w[k], b.facility_w[k], kFastVsReferenceRelTol * b.facility_w[k]) << "step " << k;
    ASSERT_NEAR(a.grid_w[k], b.grid_w[k], kFastVsReferenceRelTol * b.grid_w[k]) << "step " << k;
  }
  ASSERT_EQ(a.jobs.size(), b.jobs.size());
  for (std::size_t j = 0; j < a.jobs.size(); ++j) {
    EXPECT_EQ(a.jobs[j].iterations, b.jobs[j].iterations);
    EXPECT_EQ(a.jobs[j].iteration_steps, b.jobs[j].iteration_steps);
  }
  EXPECT_NEAR(a.software_energy_j, b.software_energy_j, 1e-9 * (1 + b.software_energy_j));
  EXPECT_NEAR(a.smoothing_energy_j, b.smoothing_energy_j, 1e-9 * (1 + b.smoothing_energy_j));
}
}  // namespace

TEST(Sim, FastMatchesDenseReferenceWithEverythingOn) {
  auto sc = scenario_from(kBusy);
  keel::power::SimOptions opt;
  opt.trace_racks = 3;
  auto fast = simulate(sc, opt), ref = simulate_reference(sc, opt);
  expect_same(fast, ref);
  EXPECT_LT(fast.cohorts, ref.cohorts);  // the point of cohorts
  EXPECT_EQ(ref.cohorts, 74);
  ASSERT_EQ(fast.rack_w.size(), 3u);
  for (std::size_t r = 0; r < 3; ++r)
    for (std::size_t k = 0; k < fast.grid_w.size(); k += 97)
      ASSERT_NEAR(fast.rack_w[r][k], ref.rack_w[r][k], kFastVsReferenceRelTol * ref.rack_w[r][k]);
  EXPECT_GT(fast.jobs[0].iterations, 10);
}

TEST(Sim, FastMatchesReferenceForEachMitigationAlone) {
  auto base = scenario_from(kBusy);
  for (int m = 0; m < 4; ++m) {
    auto sc = base;
    sc.software.enabled = m == 1;
    sc.smoothing.enabled = m == 2;
    sc.storage.enabled = m == 3;
    expect_same(simulate(sc), simulate_reference(sc));
  }
}

TEST(Sim, DeterministicPerSeedAndSeedMatters) {
  auto sc = scenario_from(kBusy);
  auto a = simulate(sc), b = simulate(sc);
  EXPECT_EQ(a.grid_w, b.grid_w);
  sc.sim.seed = 8;
  auto c = simulate(sc);
  EXPECT_NE(a.grid_w, c.grid_w);
}

TEST(Sim, FailureDropsEveryGpuAtOnce) {
  auto sc = scenario_from(std::string(keel::testing::kBareFacility) + R"(
[simulation]
duration_s = 6
[gpu]
time_constant_ms = 0
idle_w = 100
[[job]]
gpus = 10
compute_ms = 400
comm_ms = 100
fail_s = 3
[mitigation.smoothing]
percent_tmp_floor = 50
ramp_up_rate_w_per_s = 100000
ramp_down_rate_w_per_s = 100
)");
  auto r = simulate(sc);
  // Smoothing would ramp down at 100 W/s; a failure skips it: idle the step after.
  EXPECT_DOUBLE_EQ(r.grid_w[3001], 10 * 100.0);
  EXPECT_GT(r.grid_w[2999], 10 * 500.0 - 1e-9);
}

TEST(Sim, SquareWaveJobHasKnownPowerLevels) {
  // 8 GPUs, instant response, 600 ms compute / 400 ms comm: grid alternates 8x1150 and 8x250 W.
  auto sc = scenario_from(std::string(keel::testing::kBareFacility) + R"(
[simulation]
duration_s = 10
[gpu]
time_constant_ms = 0
[[job]]
gpus = 8
compute_ms = 600
comm_ms = 400
)");
  auto r = simulate(sc);
  EXPECT_DOUBLE_EQ(r.grid_w[0], 8 * 1150.0);
  EXPECT_DOUBLE_EQ(r.grid_w[599], 8 * 1150.0);
  EXPECT_DOUBLE_EQ(r.grid_w[600], 8 * 250.0);
  EXPECT_DOUBLE_EQ(r.grid_w[999], 8 * 250.0);
  EXPECT_DOUBLE_EQ(r.grid_w[1000], 8 * 1150.0);
  EXPECT_EQ(r.jobs[0].iterations, 9);  // the 10th ends exactly at the window's end
  EXPECT_DOUBLE_EQ(r.jobs[0].mean_iteration_s(1.0), 1.0);
}

TEST(SimOvershoot, FastAndReferenceAgreeAndTheOnsetPeakRises) {
  const std::string toml = R"(
[simulation]
duration_s = 12
[gpu]
time_constant_ms = 15
onset_overshoot_w = 250
onset_decay_ms = 100
onset_gap_ms = 20
[facility]
gpus_per_server = 4
servers_per_rack = 2
[[job]]
gpus = 24
compute_ms = 800
comm_ms = 400
offset_std_ms = 4
start_s = 1
)";
  auto sc = scenario_from(toml);
  const auto fast = keel::power::simulate(sc), ref = keel::power::simulate_reference(sc);
  for (std::size_t k = 0; k < ref.grid_w.size(); ++k)
    ASSERT_NEAR(fast.grid_w[k], ref.grid_w[k], 1e-9 * ref.grid_w[k]) << k;
  sc.gpu.onset_overshoot_w = 0;
  const auto none = keel::power::simulate(sc);
  const auto peak = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
  // 24 GPUs overshooting by up to 250 W each (less the first-order lag), through PSU and cooling.
  const double rise = peak(fast.facility_w) - peak(none.facility_w);
  EXPECT_GT(rise, 24 * 120.0);
  EXPECT_LT(rise, 24 * 250.0 / 0.94 * 1.15 + 1);
}
