// Several logs of one job as one trace (trace_in.h): placed by absolute time, clock offsets
// estimated by cross-correlation of the files' summed power.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "keel/core/error.h"
#include "keel/power/trace_in.h"

namespace keel::power {

namespace {

struct Lag {
  double seconds = 0, r = 0;
};

// The shift of `b` against `a` (both on grids of `step` starting at a0 and b0) that correlates
// their zero-mean series best, within ±max_s.
Lag best_lag(const std::vector<double>& a, double a0, const std::vector<double>& b, double b0,
             double step, double max_s) {
  auto centred = [](std::vector<double> v) {
    double m = 0;
    for (double x : v) m += x;
    m /= static_cast<double>(v.size());
    for (double& x : v) x -= m;
    return v;
  };
  const auto x = centred(a), y = centred(b);
  std::vector<Lag> all;
  const int max_k = static_cast<int>(std::round(max_s / step));
  for (int k = -max_k; k <= max_k; ++k) {
    // b's sample j sits at b0 + j·step on b's clock; with b's clock reading `lag` late it is at
    // a's time b0 + j·step - lag.
    const double lag = k * step;
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t j = 0; j < y.size(); ++j) {
      const double t = b0 + static_cast<double>(j) * step - lag;
      const double fi = (t - a0) / step;
      if (fi < 0 || fi >= static_cast<double>(x.size() - 1)) continue;
      const auto i = static_cast<std::size_t>(fi);
      const double f = fi - static_cast<double>(i);
      const double xv = x[i] * (1 - f) + x[i + 1] * f;
      sxy += xv * y[j];
      sxx += xv * xv;
      syy += y[j] * y[j];
    }
    if (sxx <= 0 || syy <= 0) continue;
    all.push_back({lag, sxy / std::sqrt(sxx * syy)});
  }
  // A periodic load correlates as well one period away: of the lags within 0.01 of the best
  // correlation, the smallest shift.
  Lag best{0, -2};
  for (const Lag& l : all) best.r = std::max(best.r, l.r);
  double r_best = best.r;
  best.seconds = 1e300;
  for (const Lag& l : all)
    if (l.r >= r_best - 0.01 && std::abs(l.seconds) < std::abs(best.seconds)) best = l;
  if (best.seconds == 1e300) best = {0, 0};
  return best;
}

double first_sample_s(const ParsedTrace& t) {
  double first = 1e300;
  for (const auto& g : t.gpus)
    if (!g.samples.empty()) first = std::min(first, g.samples.front().t_s);
  return first;
}

}  // namespace

ParsedTrace merge_traces(std::vector<ParsedTrace> traces, bool align) {
  if (traces.size() == 1) return std::move(traces[0]);
  ParsedTrace out;
  const bool absolute = std::all_of(traces.begin(), traces.end(),
                                    [](const ParsedTrace& t) { return t.origin_s.has_value(); });
  std::vector<double> shift(traces.size(), 0.0);  // seconds added to file k's times
  if (absolute)
    for (std::size_t k = 0; k < traces.size(); ++k)
      shift[k] = static_cast<double>(*traces[k].origin_s - *traces[0].origin_s);
  else
    out.notes.push_back("not every file has absolute timestamps: the files are taken to start "
                        "together");
  // Clock offsets: each file's summed power against the first file's.
  ResampleOptions ro;
  ro.step_s = 0.01;
  const Resampled first = resample(traces[0], ro);
  for (std::size_t k = 1; k < traces.size(); ++k) {
    const Resampled rk = resample(traces[k], ro);
    const Lag lag = best_lag(first.total_w, first_sample_s(traces[0]) + first.skipped_head_s,
                             rk.total_w, shift[k] + first_sample_s(traces[k]) + rk.skipped_head_s,
                             0.01, 5.0);
    out.notes.push_back(fmt::format(
        "clock offset of {} against {}: {:+.3f} s (cross-correlation of their power, r = {:.2f}){}",
        traces[k].file, traces[0].file, lag.seconds, lag.r,
        align ? ", applied" : "; --align-clocks applies it"));
    if (align) shift[k] -= lag.seconds;
  }
  const double origin = *std::min_element(shift.begin(), shift.end());
  out.origin_s = absolute ? std::optional<long long>(*traces[0].origin_s + static_cast<long long>(std::floor(origin))) : std::nullopt;
  std::vector<std::string> files, formats;
  for (std::size_t k = 0; k < traces.size(); ++k) {
    ParsedTrace& t = traces[k];
    files.push_back(t.file);
    formats.push_back(t.format);
    const std::string stem = std::filesystem::path(t.file).stem().string();
    for (auto& g : t.gpus) {
      for (auto& s : g.samples) s.t_s += shift[k] - origin;
      g.id = stem + ":" + g.id;
      out.gpus.push_back(std::move(g));
    }
    out.rows += t.rows;
    out.unavailable += t.unavailable;
    out.averaged = out.averaged || t.averaged;
    for (auto& n : t.notes) out.notes.push_back(t.file + ": " + n);
    for (auto& w : t.warnings) out.warnings.push_back(t.file + ": " + w);
    if (t.garbage && !out.garbage) out.garbage = t.garbage;
  }
  out.file = fmt::format("{}", fmt::join(files, " + "));
  out.format = fmt::format("{} files ({})", traces.size(), fmt::join(formats, ", "));
  out.power_field = traces[0].power_field;
  out.gpu_source = "per file: " + traces[0].gpu_source;
  return out;
}

}  // namespace keel::power
