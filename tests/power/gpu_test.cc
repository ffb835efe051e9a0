#include "keel/power/gpu.h"

#include <gtest/gtest.h>

#include <cmath>

using keel::power::GpuModel;
using keel::power::GpuParams;
using keel::power::GpuState;
using keel::power::SmoothingParams;

namespace {
GpuParams instant_gpu() {
  GpuParams g;
  g.tdp_w = 1000;
  g.idle_w = 100;
  g.time_constant_ms = 0;  // power follows demand in one step
  return g;
}
}  // namespace

TEST(Gpu, FirstOrderResponseReachesTargetWithTimeConstant) {
  GpuParams g = instant_gpu();
  g.time_constant_ms = 10;
  GpuModel m(g, SmoothingParams{}, 1.0);
  GpuState s(100);
  for (int i = 0; i < 10; ++i) s.step(m, 1100, false, false);
  // After one time constant: 1 - 1/e of the way.
  EXPECT_NEAR(s.p_out, 100 + 1000 * (1 - std::exp(-1.0)), 1e-9);
}

TEST(Gpu, FloorRaisesMinimum) {
  SmoothingParams sm{true, true, 50, 1e9, 1e9, 0};
  GpuModel m(instant_gpu(), sm, 1.0);
  GpuState s(900);
  for (int i = 0; i < 100; ++i) s.step(m, 200, true, true);
  EXPECT_DOUBLE_EQ(s.p_out, 500);  // 50 % of 1000 W TDP
  for (int i = 0; i < 10; ++i) s.step(m, 200, true, false);  // floor released
  EXPECT_DOUBLE_EQ(s.p_out, 200);
}

TEST(Gpu, RampLimitsCapRiseAndThrottleCompute) {
  SmoothingParams sm{true, true, 0, 1000, 500, 0};  // +1 W/ms, -0.5 W/ms
  GpuModel m(instant_gpu(), sm, 1.0);
  GpuState s(100);
  double throttle = s.step(m, 900, true, true);
  EXPECT_DOUBLE_EQ(s.p_out, 101);
  EXPECT_DOUBLE_EQ(throttle, 1.0 / 800.0);  // (101 - idle) / (900 - idle)
  for (int i = 1; i < 800; ++i) s.step(m, 900, true, true);
  EXPECT_DOUBLE_EQ(s.p_out, 900);
  EXPECT_DOUBLE_EQ(s.step(m, 900, true, true), 1.0);
  double before = s.p_out;
  s.step(m, 100, true, true);
  EXPECT_DOUBLE_EQ(before - s.p_out, 0.5);
}

TEST(Gpu, HysteresisHoldsPowerBeforeRampingDown) {
  SmoothingParams sm{true, true, 0, 1e9, 1000, 5};  // wait 5 ms, then -1 W/ms
  GpuModel m(instant_gpu(), sm, 1.0);
  GpuState s(800);
  for (int i = 0; i < 5; ++i) {
    s.step(m, 100, true, true);
    EXPECT_DOUBLE_EQ(s.p_out, 800) << "step " << i;
  }
  s.step(m, 100, true, true);
  EXPECT_DOUBLE_EQ(s.p_out, 799);
}

TEST(GpuOvershoot, ComputeAfterAGapOvershootsByTheGapDependentAmountThenDecays) {
  GpuParams gp;
  gp.idle_w = 100;
  gp.compute_w = 600;
  gp.time_constant_ms = 0;  // no lag: the overshoot shows as it is
  gp.onset_overshoot_w = 200;
  gp.onset_decay_ms = 50;
  gp.onset_gap_ms = 100;
  const GpuModel m(gp, SmoothingParams{}, 1.0);
  GpuState s(100);
  // Never computed before (an endless gap): the full amplitude at the first compute step.
  for (int i = 0; i < 1000; ++i) s.step(m, 100, false, false);
  s.step(m, 600, false, false);
  EXPECT_NEAR(s.p_out, 800, 1e-9);
  for (int i = 0; i < 49; ++i) s.step(m, 600, false, false);
  EXPECT_NEAR(s.p_out, 600 + 200 * std::exp(-49.0 / 50), 1e-9);
  // 1 s idle: 1 - exp(-10) of it.
  for (int i = 0; i < 1000; ++i) s.step(m, 100, false, false);
  s.step(m, 600, false, false);
  EXPECT_NEAR(s.p_out, 600 + 200 * (1 - std::exp(-10.0)), 1e-9);
  // A 20 ms gap: a smaller overshoot, 1 - exp(-20/100) of the amplitude.
  for (int i = 0; i < 20; ++i) s.step(m, 100, false, false);
  s.step(m, 600, false, false);
  EXPECT_NEAR(s.p_out, 600 + 200 * (1 - std::exp(-0.2)), 1e-9);
  // None without the term.
  GpuParams plain = gp;
  plain.onset_overshoot_w = 0;
  const GpuModel m0(plain, SmoothingParams{}, 1.0);
  GpuState s0(100);
  s0.step(m0, 600, false, false);
  EXPECT_DOUBLE_EQ(s0.p_out, 600);
}
