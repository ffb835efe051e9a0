#include "keel/power/metrics.h"

#include <gtest/gtest.h>

using keel::power::max_ramps;
using keel::power::max_rolling_swing;

TEST(Metrics, RampOfAKnownRampIsExact) {
  // 0 for 2 s, then +3 units/s for 4 s, then flat, then -5 units/s for 2 s, at 1 ms.
  std::vector<double> x;
  for (int i = 0; i < 2000; ++i) x.push_back(0);
  for (int i = 1; i <= 4000; ++i) x.push_back(3e-3 * i);
  for (int i = 0; i < 2000; ++i) x.push_back(12);
  for (int i = 1; i <= 2000; ++i) x.push_back(12 - 5e-3 * i);
  auto r = max_ramps(x, 0.001, 1.0);
  EXPECT_DOUBLE_EQ(r.up_per_s, 3.0);
  EXPECT_DOUBLE_EQ(r.down_per_s, 5.0);
  // A window longer than the down ramp averages it: 10 units over 4 s.
  EXPECT_NEAR(max_ramps(x, 0.001, 4.0).down_per_s, 2.5, 1e-12);
}

TEST(Metrics, StepRampDependsOnWindow) {
  std::vector<double> x(1000, 0.0);
  for (std::size_t i = 500; i < x.size(); ++i) x[i] = 10;
  EXPECT_DOUBLE_EQ(max_ramps(x, 0.01, 0.5).up_per_s, 20.0);
  EXPECT_DOUBLE_EQ(max_ramps(x, 0.01, 0.5).down_per_s, 0.0);
}

TEST(Metrics, RollingSwingSeesOnlyItsWindow) {
  // Slow rise of 10 over 100 s plus a 2-unit square wave of period 2 s.
  std::vector<double> x;
  for (int i = 0; i < 10000; ++i) x.push_back(0.1 * i * 0.01 + ((i / 100) % 2 ? 2.0 : 0.0));
  double s1 = max_rolling_swing(x, 0.01, 1.0);
  EXPECT_NEAR(s1, 2.0 + 0.1, 0.02);  // square wave + the 1 s of drift
  EXPECT_NEAR(max_rolling_swing(x, 0.01, 1000.0), 10.0 + 2.0 - 0.001 - 0.0, 0.02);
}
