#include "keel/power/spectrum.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <numbers>
#include <stdexcept>

namespace keel::power {

namespace {
// FFTW's planner is not thread-safe; execution of distinct plans is.
std::mutex g_plan_mutex;
}  // namespace

double Spectrum::band_power(double f_lo, double f_hi) const {
  double s = 0;
  for (std::size_t k = 1; k < psd.size(); ++k)
    if (freq_hz[k] >= f_lo && freq_hz[k] <= f_hi) s += psd[k] * df_hz;
  return s;
}

double Spectrum::total_ac_power() const {
  double s = 0;
  for (std::size_t k = 1; k < psd.size(); ++k) s += psd[k] * df_hz;
  return s;
}

int Spectrum::peak_in(double f_lo, double f_hi) const {
  int best = -1;
  for (std::size_t k = 1; k < amplitude.size(); ++k) {
    if (freq_hz[k] < f_lo || freq_hz[k] > f_hi) continue;
    if (best < 0 || amplitude[k] > amplitude[static_cast<std::size_t>(best)]) best = static_cast<int>(k);
  }
  return best;
}

Spectrum welch(const std::vector<double>& x, double step_s, double segment_s) {
  if (x.size() < 4) throw std::invalid_argument("spectrum needs at least 4 samples");
  std::size_t len = static_cast<std::size_t>(std::llround(segment_s / step_s));
  len = std::clamp<std::size_t>(len, 4, x.size());
  const std::size_t hop = std::max<std::size_t>(1, len / 2);
  const std::size_t bins = len / 2 + 1;

  std::vector<double> w(len);
  double sum_w = 0, sum_w2 = 0;
  for (std::size_t i = 0; i < len; ++i) {
    // Periodic Hann: exact coherent gain for bin-centred tones.
    w[i] = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(len));
    sum_w += w[i];
    sum_w2 += w[i] * w[i];
  }
  double* in = fftw_alloc_real(len);
  fftw_complex* out = fftw_alloc_complex(bins);
  fftw_plan plan;
  {
    std::lock_guard<std::mutex> lock(g_plan_mutex);
    plan = fftw_plan_dft_r2c_1d(static_cast<int>(len), in, out, FFTW_ESTIMATE);
  }
  std::vector<double> acc(bins, 0.0);
  int segs = 0;
  for (std::size_t start = 0; start + len <= x.size(); start += hop, ++segs) {
    double mean = 0;
    for (std::size_t i = 0; i < len; ++i) mean += x[start + i];
    mean /= static_cast<double>(len);
    for (std::size_t i = 0; i < len; ++i) in[i] = (x[start + i] - mean) * w[i];
    fftw_execute(plan);
    for (std::size_t k = 0; k < bins; ++k) acc[k] += out[k][0] * out[k][0] + out[k][1] * out[k][1];
  }
  {
    std::lock_guard<std::mutex> lock(g_plan_mutex);
    fftw_destroy_plan(plan);
  }
  fftw_free(in);
  fftw_free(out);

  Spectrum s;
  s.segments = segs;
  s.segment_s = static_cast<double>(len) * step_s;
  const double fs = 1.0 / step_s;
  s.df_hz = fs / static_cast<double>(len);
  s.freq_hz.resize(bins);
  s.amplitude.resize(bins);
  s.psd.resize(bins);
  for (std::size_t k = 0; k < bins; ++k) {
    double p = acc[k] / segs;
    bool edge = k == 0 || (len % 2 == 0 && k == bins - 1);
    double one_sided = edge ? 1.0 : 2.0;
    s.freq_hz[k] = static_cast<double>(k) * s.df_hz;
    s.amplitude[k] = (edge ? 1.0 : 2.0) * std::sqrt(p) / sum_w;
    s.psd[k] = one_sided * p / (fs * sum_w2);
  }
  return s;
}

}  // namespace keel::power
