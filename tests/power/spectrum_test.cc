#include "keel/power/spectrum.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

using keel::power::welch;

namespace {
constexpr double kAmplitudeTol = 0.01;  // relative: the 1 % on harmonic amplitudes
}

// Square wave of height H, duty D, period T: harmonic k has amplitude (2H / (pi k)) |sin(pi k D)|.
TEST(Spectrum, SquareWaveHarmonicsMatchFourierSeries) {
  const double dt = 0.001, period = 2.5, duty = 0.75, height = 20e6;
  const int n = 200000;  // 200 s
  std::vector<double> x(n);
  for (int i = 0; i < n; ++i) {
    double phase = std::fmod(i * dt, period) / period;
    x[static_cast<std::size_t>(i)] = 10e6 + (phase < duty ? height : 0.0);
  }
  auto s = welch(x, dt, 20.0);  // 20 s = 8 periods: harmonics sit on bins
  ASSERT_NEAR(s.df_hz, 0.05, 1e-12);
  for (int k = 1; k <= 5; ++k) {
    double f = k / period;
    auto bin = static_cast<std::size_t>(std::llround(f / s.df_hz));
    double expect = 2 * height / (std::numbers::pi * k) * std::abs(std::sin(std::numbers::pi * k * duty));
    if (expect < 1e-3 * height) {
      EXPECT_LT(s.amplitude[bin], 0.01 * height) << "harmonic " << k << " should vanish";
      continue;
    }
    EXPECT_NEAR(s.amplitude[bin], expect, kAmplitudeTol * expect) << "harmonic " << k;
  }
  // Dominant line is the fundamental.
  EXPECT_NEAR(s.freq_hz[static_cast<std::size_t>(s.peak_in(0.0, 100.0))], 1 / period, 1e-9);
}

TEST(Spectrum, SineBandPowerIsHalfAmplitudeSquared) {
  const double dt = 0.01, f0 = 0.5, a = 3.0;
  std::vector<double> x(60000);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = 7.0 + a * std::sin(2 * std::numbers::pi * f0 * dt * static_cast<double>(i));
  auto s = welch(x, dt, 40.0);
  EXPECT_NEAR(s.amplitude[static_cast<std::size_t>(s.peak_in(0, 50))], a, 1e-6 * a);
  EXPECT_NEAR(s.band_power(0.3, 0.7), a * a / 2, 1e-3 * a * a);
  EXPECT_NEAR(s.band_power(0.3, 0.7) / s.total_ac_power(), 1.0, 1e-6);
  EXPECT_LT(s.band_power(2.0, 20.0), 1e-9);
}

TEST(Spectrum, ShortSeriesUsesOneSegmentAndTinyIsRejected) {
  std::vector<double> x(100, 1.0);
  auto s = welch(x, 0.001, 20.0);
  EXPECT_EQ(s.segments, 1);
  EXPECT_THROW(welch(std::vector<double>(3, 1.0), 0.001, 1.0), std::invalid_argument);
}
