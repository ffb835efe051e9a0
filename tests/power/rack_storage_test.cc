// Rack-level storage is exact: every rack's battery sees its own rack. The fast simulator groups
// racks with identical loads; the dense reference runs every rack's battery on every GPU summed
// by hand. They agree on multi-job sites whose batteries saturate, and pooling one battery over
// the total (what keel did before) would have been wrong there. The reference has its own battery
// code (storage_reference.cc). Also per-job GPUs and placement.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "keel/core/error.h"
#include "keel/power/sim.h"
#include "keel/power/storage.h"
#include "scenario_util.h"

using namespace keel;
using keel::testing::scenario_from;

namespace {

// Fast vs reference on the same scenario, relative to the peak grid power.
constexpr double kRackFastVsRefRel = 1e-9;

// Two jobs with different periods and per-GPU skew on their own racks (8 GPUs per rack), rack
// batteries too small for the swings: power and energy limits bind.
const std::string kSite = R"(
[simulation]
duration_s = 40
step_ms = 1
seed = 11
[facility]
gpus_per_server = 4
servers_per_rack = 2
[[job]]
name = "slow"
gpus = 44
compute_ms = 2000
comm_ms = 1500
offset_std_ms = 3
straggler_fraction = 0.1
straggler_slowdown_pct = 5
start_s = 1
[[job]]
name = "fast"
gpus = 24
compute_ms = 300
comm_ms = 200
start_s = 3
stop_s = 30
[job.gpu]
tdp_w = 700
idle_w = 90
comm_w = 150
compute_w = 690
[mitigation.storage]
level = "rack"
energy_kwh = 0.02
power_kw = 2.5
filter_time_constant_s = 5
soc_restore_time_s = 60
)";

double peak(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }

}  // namespace

TEST(RackStorage, FastEqualsDenseReferenceWhereBatteriesSaturate) {
  const auto sc = scenario_from(kSite);
  const auto fast = power::simulate(sc), ref = power::simulate_reference(sc);
  ASSERT_TRUE(fast.has_storage);
  EXPECT_GT(fast.storage.power_limited_fraction + fast.storage.energy_limited_fraction, 0.01)
      << "the batteries should saturate in this scenario";
  EXPECT_EQ(ref.rack_groups, 9);  // 6 + 3 racks
  EXPECT_LT(fast.rack_groups, ref.rack_groups + 1);
  const double tol = kRackFastVsRefRel * peak(ref.grid_w);
  ASSERT_EQ(fast.grid_w.size(), ref.grid_w.size());
  for (std::size_t k = 0; k < ref.grid_w.size(); ++k) {
    ASSERT_NEAR(fast.grid_w[k], ref.grid_w[k], tol) << "step " << k;
    ASSERT_NEAR(fast.soc[k], ref.soc[k], 1e-9) << "step " << k;
  }
  EXPECT_NEAR(fast.storage.loss_j, ref.storage.loss_j, 1e-9 * ref.storage.loss_j);
  EXPECT_NEAR(fast.storage.net_discharge_j, ref.storage.net_discharge_j, 1e-6);
  EXPECT_NEAR(fast.storage.recharge_j, ref.storage.recharge_j, 1e-6);
  EXPECT_NEAR(fast.storage.soc_min_seen, ref.storage.soc_min_seen, 1e-12);
  EXPECT_NEAR(fast.storage.soc_max_seen, ref.storage.soc_max_seen, 1e-12);
  EXPECT_NEAR(fast.storage.power_limited_fraction, ref.storage.power_limited_fraction, 1e-12);
  EXPECT_NEAR(fast.storage.energy_limited_fraction, ref.storage.energy_limited_fraction, 1e-12);
}

TEST(RackStorage, IdenticalRacksShareOneBatteryRunExactly) {
  // No skew, no stragglers: all full racks of a job carry the same load.
  auto sc = scenario_from(R"(
[simulation]
duration_s = 20
[facility]
gpus_per_server = 4
servers_per_rack = 2
[[job]]
gpus = 60
compute_ms = 500
comm_ms = 300
[[job]]
gpus = 32
compute_ms = 900
comm_ms = 100
start_s = 2
[mitigation.storage]
level = "rack"
energy_kwh = 0.01
power_kw = 2
)");
  const auto fast = power::simulate(sc), ref = power::simulate_reference(sc);
  EXPECT_EQ(fast.rack_groups, 3);  // job 0: 7 full racks + 1 of 4 GPUs; job 1: 4 full racks
  EXPECT_EQ(ref.rack_groups, 12);
  for (std::size_t k = 0; k < ref.grid_w.size(); ++k)
    ASSERT_NEAR(fast.grid_w[k], ref.grid_w[k], kRackFastVsRefRel * peak(ref.grid_w)) << k;
}

TEST(RackStorage, PoolingOneBatteryOverAllRacksWouldHaveBeenWrongHere) {
  const auto sc = scenario_from(kSite);
  power::SimOptions opt;
  opt.trace_racks = 9;
  const auto exact = power::simulate_reference(sc, opt);
  // Pooled: one battery of 9 racks' size on the sum of the racks' power.
  std::vector<double> racks_w(exact.grid_w.size(), 0.0);
  for (const auto& rack : exact.rack_w)
    for (std::size_t k = 0; k < rack.size(); ++k) racks_w[k] += rack[k];
  const auto pooled = power::apply_storage(racks_w, exact.step_s, sc.storage, 9.0);
  double worst = 0;
  for (std::size_t k = 0; k < racks_w.size(); ++k) {
    const double pooled_grid = exact.facility_w[k] - (racks_w[k] - pooled.grid_w[k]);
    worst = std::max(worst, std::abs(pooled_grid - exact.grid_w[k]));
  }
  // Pooling lets one job's surplus charge the other job's batteries: the grid differs by a
  // sizeable share of the racks' power (the site adds 1 MW of fixed load around them).
  EXPECT_GT(worst, 0.05 * peak(racks_w)) << "worst " << worst << " W of " << peak(racks_w);
}

// The two battery implementations (fast joule-based Battery, reference SoC-fraction code) on a
// load that drives both limits, in both directions, many times.
TEST(RackStorage, ReferenceBatteryEqualsTheFastOneThroughSaturation) {
  power::StorageParams p;
  p.enabled = true;
  p.energy_kwh = 0.001;
  p.power_kw = 3;
  p.round_trip_efficiency = 0.85;
  p.filter_time_constant_s = 4;
  p.soc_restore_time_s = 30;
  std::vector<double> load(60000);
  for (std::size_t k = 0; k < load.size(); ++k)  // 1 ms steps: 2 s high / 1.5 s low, plus a ripple
    load[k] = ((k % 3500) < 2000 ? 9000.0 : 2000.0) + 300.0 * std::sin(0.01 * static_cast<double>(k));
  const auto fast = power::apply_storage(load, 0.001, p, 1.0);
  const auto ref = power::apply_storage_reference(load, 0.001, p);
  ASSERT_GT(ref.power_limited_fraction, 0.01);
  ASSERT_GT(ref.energy_limited_fraction, 0.01);
  ASSERT_LT(ref.soc_min_seen, p.soc_min + 1e-6);
  ASSERT_GT(ref.soc_max_seen, p.soc_max - 1e-6);
  for (std::size_t k = 0; k < load.size(); ++k) {
    ASSERT_NEAR(fast.grid_w[k], ref.grid_w[k], kRackFastVsRefRel * 9300.0) << "step " << k;
    ASSERT_NEAR(fast.soc[k], ref.soc[k], 1e-9) << "step " << k;
  }
  EXPECT_NEAR(fast.loss_j, ref.loss_j, 1e-9 * ref.loss_j);
  EXPECT_NEAR(fast.net_discharge_j, ref.net_discharge_j, 1e-6);
  EXPECT_NEAR(fast.recharge_j, ref.recharge_j, 1e-6);
  EXPECT_NEAR(fast.power_limited_fraction, ref.power_limited_fraction, 1e-12);
  EXPECT_NEAR(fast.energy_limited_fraction, ref.energy_limited_fraction, 1e-12);
}

TEST(RackStorage, FacilityLevelIsUnchangedAndMatchesReference) {
  auto sc = scenario_from(kSite);
  sc.storage.level = power::StorageLevel::facility;
  sc.storage.energy_kwh = 0.2;
  sc.storage.power_kw = 20;
  const auto fast = power::simulate(sc), ref = power::simulate_reference(sc);
  for (std::size_t k = 0; k < ref.grid_w.size(); ++k)
    ASSERT_NEAR(fast.grid_w[k], ref.grid_w[k], kRackFastVsRefRel * peak(ref.grid_w)) << k;
}

TEST(JobGpu, AJobsOwnGpuParametersOverrideTheSites) {
  const auto sc = scenario_from(kSite);
  EXPECT_DOUBLE_EQ(sc.gpu_of(0).compute_w, sc.gpu.compute_w);
  EXPECT_DOUBLE_EQ(sc.gpu_of(1).compute_w, 690);
  EXPECT_DOUBLE_EQ(sc.gpu_of(1).time_constant_ms, sc.gpu.time_constant_ms);  // not given: [gpu]'s
  power::SimOptions opt;
  opt.trace_jobs = true;
  const auto r = power::simulate(sc, opt);
  // Per GPU, the fast job's peak is its own compute power (plus servers), far below the other's.
  const double fast_peak_per_gpu = peak(r.job_w[1]) * sc.facility.psu_efficiency / 24 - 1500.0 / 4;
  EXPECT_LT(fast_peak_per_gpu, 700);
  EXPECT_GT(fast_peak_per_gpu, 600);
}

TEST(Placement, JobsTakeTheirOwnRacksAndBadPlacementsAreRefused) {
  const std::string base = R"(
[facility]
gpus_per_server = 4
servers_per_rack = 2
[[job]]
gpus = 20
compute_ms = 100
comm_ms = 0
)";
  auto ok = scenario_from(base + "[[job]]\ngpus = 8\ncompute_ms = 100\ncomm_ms = 0\nfirst_rack = 10\nracks = 2\n");
  EXPECT_EQ(ok.first_rack_of_job(0), 0);
  EXPECT_EQ(ok.racks_of_job(0), 3);
  EXPECT_EQ(ok.first_rack_of_job(1), 10);
  EXPECT_EQ(ok.racks_of_job(1), 2);
  auto next = scenario_from(base + "[[job]]\ngpus = 8\ncompute_ms = 100\ncomm_ms = 0\n");
  EXPECT_EQ(next.first_rack_of_job(1), 3);
  try {
    scenario_from(base + "[[job]]\ngpus = 8\ncompute_ms = 100\ncomm_ms = 0\nfirst_rack = 2\n");
    FAIL() << "overlap accepted";
  } catch (const core::InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("test.toml:13"), std::string::npos) << m;
    EXPECT_NE(m.find("first_rack"), std::string::npos) << m;
    EXPECT_NE(m.find("overlap job 'job0'"), std::string::npos) << m;
  }
  try {
    scenario_from(base + "[[job]]\ngpus = 30\ncompute_ms = 100\ncomm_ms = 0\nracks = 3\n");
    FAIL() << "a job larger than its racks accepted";
  } catch (const core::InputError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("racks"), std::string::npos) << m;
    EXPECT_NE(m.find("fewer than the job's 30"), std::string::npos) << m;
  }
}
