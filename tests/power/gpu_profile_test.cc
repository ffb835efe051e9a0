// GPU hardware profiles: the limits of the seed paper's GB200 (floor at most 90 % of TDP, EDP at
// least 1.1 x TDP, EDP peaks ~50 ms), GB300 alike, H100 without smoothing. Settings outside them
// are refused with the limit and its source; optimize searches inside them; the EDP caps what an
// onset overshoot can add, in both simulators.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "keel/core/error.h"
#include "keel/power/analysis.h"
#include "keel/power/gpu.h"
#include "keel/power/optimize.h"
#include "keel/power/sim.h"
#include "keel/power/spec.h"
#include "scenario_util.h"

using namespace keel;
using keel::testing::scenario_error;
using keel::testing::scenario_from;

namespace {

const std::string kProfileJob = R"(
[facility]
gpus_per_server = 4
servers_per_rack = 2
[[job]]
gpus = 16
compute_ms = 600
comm_ms = 400
)";

const std::string kSmoothing = "[mitigation.smoothing]\nramp_up_rate_w_per_s = 100\nramp_down_rate_w_per_s = 100\n";

}  // namespace

TEST(GpuProfile, Gb200FloorAboveNinetyPercentIsRefusedWithItsSource) {
  const std::string gpu = "[gpu]\nmodel = \"gb200\"\n";
  auto sc = scenario_from(gpu + kProfileJob + kSmoothing + "percent_tmp_floor = 90\n");
  EXPECT_EQ(sc.gpu.tdp_w, 1200);
  EXPECT_DOUBLE_EQ(sc.gpu.edp_w, 1.1 * 1200);  // the minimum EDP by default
  const auto msg = scenario_error(gpu + kProfileJob + kSmoothing + "percent_tmp_floor = 95\n");
  EXPECT_NE(msg.find("test.toml:14"), std::string::npos) << msg;
  EXPECT_NE(msg.find("95 % is above gb200's maximum Minimum Power Floor of 90 % of TDP"), std::string::npos) << msg;
  EXPECT_NE(msg.find("arXiv 2508.14318"), std::string::npos) << msg;
  // custom: no limit (keel's behaviour before profiles).
  EXPECT_NO_THROW(scenario_from(kProfileJob + kSmoothing + "percent_tmp_floor = 100\n"));
}

TEST(GpuProfile, EdpBelowTheMinimumAndUnknownModelsAreRefused) {
  auto msg = scenario_error("[gpu]\nmodel = \"gb200\"\nedp_w = 1250\n" + kProfileJob);
  EXPECT_NE(msg.find("below gb200's minimum electrical design point, 1.1 x TDP = 1320 W"), std::string::npos) << msg;
  msg = scenario_error("[gpu]\nmodel = \"b300x\"\n" + kProfileJob);
  EXPECT_NE(msg.find("test.toml:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unknown GPU model 'b300x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"gb200\""), std::string::npos) << msg;
}

TEST(GpuProfile, H100HasNoSmoothingAndAMixedSiteSmoothsOnlyItsBlackwellJob) {
  auto msg = scenario_error("[gpu]\nmodel = \"h100\"\n" + kProfileJob + kSmoothing +
                            "percent_tmp_floor = 50\n");
  EXPECT_NE(msg.find("no job's GPU has power smoothing"), std::string::npos) << msg;
  // Site GB200, a second job on H100: smoothing runs, on the GB200 job only.
  auto sc = scenario_from("[gpu]\nmodel = \"gb200\"\n" + kProfileJob +
                          "[[job]]\ngpus = 16\ncompute_ms = 600\ncomm_ms = 400\n"
                          "[job.gpu]\nmodel = \"h100\"\n" +
                          kSmoothing + "percent_tmp_floor = 80\n");
  EXPECT_EQ(sc.gpu_of(1).tdp_w, 700);
  EXPECT_EQ(sc.gpu_of(1).onset_overshoot_w, 200);  // fitted on the H100 probes
  EXPECT_EQ(sc.gpu_of(1).compute_w, 650);
  EXPECT_EQ(sc.gpu_of(0).onset_overshoot_w, 0);
  power::SimOptions o;
  o.trace_jobs = true;
  const auto r = power::simulate(sc, o);
  const auto low = [&](std::size_t j) {
    // After the GB200 job's slow (100 W/s) ramp up to its floor.
    return *std::min_element(r.job_w[j].begin() + 60000, r.job_w[j].end());
  };
  // Per GPU (AC, servers' 1500 W / 4 GPUs included): the GB200 job stays near its 80 % floor,
  // the H100 job falls to its communication level (400 W: the profile's measured copy level).
  EXPECT_GT(low(0) * 0.94 / 16 - 375, 0.75 * 1200);
  EXPECT_NEAR(low(1) * 0.94 / 16 - 375, 400, 5);
}

TEST(GpuProfile, TheEdpCapsOnsetOvershootAndOnlyForTheEdpPeakWindow) {
  const std::string toml =
      "[gpu]\nmodel = \"gb200\"\ncompute_w = 1150\ntime_constant_ms = 0\n"
      "onset_overshoot_w = 400\nonset_decay_ms = 200\n" +
      kProfileJob;
  const auto sc = scenario_from(toml);
  power::GpuModel m(sc.gpu, sc.smoothing, 1.0);
  power::GpuState s(150);
  std::vector<double> p;
  for (int i = 0; i < 700; ++i) {
    s.step(m, 1150, false, false);
    p.push_back(s.p_out);
  }
  EXPECT_DOUBLE_EQ(p[0], 1320);   // 1150 + 400 capped at the EDP (1.1 x 1200)
  EXPECT_DOUBLE_EQ(p[49], 1320);  // within the 50 ms EDP-peak window
  EXPECT_DOUBLE_EQ(p[50], 1200);  // then at most TDP
  EXPECT_DOUBLE_EQ(p[299], 1200);  // 1150 + 400 e^-1.5 = 1239: held at TDP
  EXPECT_GT(p[699], 1150);         // the overshoot still decaying, now under TDP
  EXPECT_LT(p[699], 1200);
  // The fast and reference simulators agree with the cap in place.
  const auto fast = power::simulate(sc), ref = power::simulate_reference(sc);
  for (std::size_t k = 0; k < ref.grid_w.size(); ++k)
    ASSERT_NEAR(fast.grid_w[k], ref.grid_w[k], 1e-9 * ref.grid_w[k]) << k;
}

// An EDP peak is faster than smoothing's control loop: with smoothing on, the onset transient
// rides on top of the smoothed power (the paper's "overshoot TDP at ~50 ms"); without an
// overshoot smoothing behaves exactly as before.
TEST(GpuProfile, EdpPeaksRideOnTopOfSmoothing) {
  const std::string base = "[gpu]\nmodel = \"gb200\"\ncompute_w = 1200\ntime_constant_ms = 0\n";
  const std::string smooth = "[mitigation.smoothing]\npercent_tmp_floor = 90\nramp_up_rate_w_per_s = 100\n"
                             "ramp_down_rate_w_per_s = 100\n";
  const auto with =
      scenario_from(base + "onset_overshoot_w = 120\nonset_decay_ms = 50\n" + kProfileJob + smooth);
  const auto without = scenario_from(base + kProfileJob + smooth);
  power::GpuModel mw(with.gpu, with.smoothing, 1.0), mo(without.gpu, without.smoothing, 1.0);
  power::GpuState sw(250), so(250);
  double peak_gap = 0;
  for (int i = 0; i < 2000; ++i) {  // 1 s of communication at the floor, then compute
    const double target = i < 1000 ? 250 : 1200;
    const double tw = sw.step(mw, target, true, true), to = so.step(mo, target, true, true);
    EXPECT_DOUBLE_EQ(tw, to) << i;  // the transient does not change the throttle
    peak_gap = std::max(peak_gap, sw.p_out - so.p_out);
    EXPECT_LE(sw.p_out, 1320 + 1e-9) << i;  // never above the EDP
  }
  EXPECT_NEAR(peak_gap, 120, 1e-6);  // the whole overshoot shows at the onset, over smoothing
  EXPECT_DOUBLE_EQ(sw.p_out, so.p_out);  // and is gone a second later
}

// What EDP peaks add is reported: the GPUs' most above TDP at once and the facility's peak over
// the TDP-capped peak, alike in the fast and the dense reference simulators; 0 without peaks.
TEST(GpuProfile, EdpPeakExcessIsMeasuredInBothSimulators) {
  const std::string base = "[gpu]\nmodel = \"gb200\"\ncompute_w = 1200\n";
  const auto with =
      scenario_from(base + "onset_overshoot_w = 120\nonset_decay_ms = 50\n" + kProfileJob);
  const auto fast = power::simulate(with), ref = power::simulate_reference(with);
  EXPECT_GT(fast.gpu_above_tdp_peak_w, 0);
  EXPECT_LE(fast.gpu_above_tdp_peak_w, 16 * 120.0 + 1e-9);  // 16 GPUs, at most up to the EDP
  EXPECT_NEAR(fast.gpu_above_tdp_peak_w, ref.gpu_above_tdp_peak_w, 1e-9 * ref.gpu_above_tdp_peak_w);
  EXPECT_NEAR(fast.tdp_capped_peak_w, ref.tdp_capped_peak_w, 1e-9 * ref.tdp_capped_peak_w);
  const double peak = *std::max_element(fast.facility_w.begin(), fast.facility_w.end());
  EXPECT_LT(fast.tdp_capped_peak_w, peak);
  const auto rep = power::make_report("x", fast, fast, power::Spec{}, with.sim.step_ms);
  EXPECT_NEAR(rep.edp_peak_excess_mw, (peak - fast.tdp_capped_peak_w) / 1e6, 1e-12);
  EXPECT_GT(rep.edp_peak_excess_mw, 0);

  const auto without = power::simulate(scenario_from(base + kProfileJob));
  EXPECT_EQ(without.gpu_above_tdp_peak_w, 0);
  EXPECT_DOUBLE_EQ(without.tdp_capped_peak_w,
                   *std::max_element(without.facility_w.begin(), without.facility_w.end()));
}

// GB200 holds TDP on average over 1 s: with onsets every 40 ms, EDP peaks would lift the mean
// above TDP; the averaging window stops them once the mean reaches TDP.
TEST(GpuProfile, TheTdpAveragingWindowHoldsTheOneSecondMeanAtTdp) {
  const auto sc = scenario_from(
      "[gpu]\nmodel = \"gb200\"\ncompute_w = 1200\ntime_constant_ms = 2\n"
      "onset_overshoot_w = 200\nonset_decay_ms = 100\nonset_gap_ms = 2\n" +
      kProfileJob);
  ASSERT_DOUBLE_EQ(sc.gpu.tdp_window_ms, 1000);
  power::GpuParams free_gpu = sc.gpu;
  free_gpu.tdp_window_ms = 0;
  power::GpuModel held(sc.gpu, sc.smoothing, 1.0), free(free_gpu, sc.smoothing, 1.0);
  power::GpuState a(150), b(150);
  std::vector<double> pa, pb;
  for (int i = 0; i < 6000; ++i) {  // 35 ms compute at TDP, 5 ms dips to 1100 W, for 6 s
    const double target = i % 40 < 35 ? 1200 : 1100;
    a.step(held, target, false, false);
    b.step(free, target, false, false);
    pa.push_back(a.p_out);
    pb.push_back(b.p_out);
  }
  auto last_second_mean = [](const std::vector<double>& p) {
    double s = 0;
    for (std::size_t i = p.size() - 1000; i < p.size(); ++i) s += p[i];
    return s / 1000;
  };
  const double mean_free = last_second_mean(pb), mean_held = last_second_mean(pa);
  EXPECT_GT(*std::max_element(pa.begin(), pa.end()), 1200);  // EDP peaks still happen ...
  EXPECT_GT(mean_free, 1210);                                   // (unheld, they lift the mean)
  EXPECT_LT(mean_held, 1203);                                   // ... until the mean is at TDP
  EXPECT_GT(mean_held, 35.0 / 40 * 1200 + 5.0 / 40 * 1100);    // the mean without any overshoot
}

TEST(GpuProfile, OptimizeSearchesOnlyFloorsTheHardwareAllows) {
  auto sc = scenario_from("[simulation]\nduration_s = 20\n[gpu]\nmodel = \"gb200\"\n" +
                          kProfileJob + kSmoothing + "percent_tmp_floor = 60\n");
  const auto spec = power::load_spec(std::string(KEEL_SOURCE_DIR) + "/examples/power/illustrative_spec.toml");
  power::OptimizeOptions o;
  o.budget = 60;
  const auto res = power::optimize(sc, spec, o);
  int smoothed = 0;
  for (const auto& c : res.explored)
    if (c.scenario.smoothing.enabled) {
      ++smoothed;
      EXPECT_LE(c.scenario.smoothing.percent_tmp_floor, 90.0 + 1e-9);
    }
  EXPECT_GT(smoothed, 10);
}
