#pragma once
// Power spectrum of a sampled series by Welch's method (FFTW): segments of segment_s seconds with
// 50 % overlap, mean removed per segment, Hann window; |X|^2 averaged over segments.
// amplitude[k] is the amplitude of a sinusoid at freq[k] (same unit as the input: a sine of
// amplitude A on a bin shows A), psd[k] the one-sided power spectral density (unit^2/Hz).

#include <vector>

namespace keel::power {

struct Spectrum {
  std::vector<double> freq_hz;
  std::vector<double> amplitude;
  std::vector<double> psd;
  double df_hz = 0;
  int segments = 0;
  double segment_s = 0;

  // Integral of the PSD over [f_lo, f_hi] (variance in the band, unit^2).
  double band_power(double f_lo, double f_hi) const;
  // Integral over all f > 0 (total variance).
  double total_ac_power() const;
  // Largest amplitude in [f_lo, f_hi]; returns its bin index (or -1 when the band is empty).
  int peak_in(double f_lo, double f_hi) const;
};

// segment_s is clamped to the series length. Throws std::invalid_argument on < 4 samples.
Spectrum welch(const std::vector<double>& x, double step_s, double segment_s);

}  // namespace keel::power
