// Measured samples of each GPU -> one uniform grid, summed over GPUs.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "keel/core/error.h"
#include "keel/power/trace_in.h"

namespace keel::power {

namespace {

constexpr std::size_t kDuplicateSitesKept = 10;

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  auto mid = v.begin() + static_cast<long>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

// One GPU's samples with equal timestamps merged (their mean): the input to interpolation.
struct Clean {
  std::vector<double> t, w;
  std::vector<int> line;
};

}  // namespace

Resampled resample(const ParsedTrace& trace, const ResampleOptions& opt) {
  Resampled r;
  if (trace.gpus.empty())
    throw core::InputError("no GPU samples", core::Location{trace.file, 0, 0, {}});
  std::vector<Clean> gpus(trace.gpus.size());
  std::vector<double> intervals;  // pooled over GPUs: a GPU with few samples weighs little
  for (std::size_t g = 0; g < trace.gpus.size(); ++g) {
    const GpuSeries& s = trace.gpus[g];
    Clean& c = gpus[g];
    int run = 1;
    for (const PowerSample& p : s.samples) {
      if (!c.t.empty() && p.t_s == c.t.back()) {
        // Same timestamp as the previous sample: average the values, report the site.
        ++run;
        c.w.back() += (p.w - c.w.back()) / run;
        if (r.duplicate_sites.size() < kDuplicateSitesKept)
          r.duplicate_sites.push_back({s.id, p.t_s, p.line});
        ++r.duplicates;
        continue;
      }
      run = 1;
      c.t.push_back(p.t_s);
      c.w.push_back(p.w);
      c.line.push_back(p.line);
    }
    if (c.t.size() < 2)
      throw core::InputError(
          fmt::format("GPU {} has {} usable sample(s) at distinct times; at least 2 are needed",
                      s.id, c.t.size()),
          core::Location{trace.file, s.samples.empty() ? 0 : s.samples.front().line, 0, {}});
    for (std::size_t i = 1; i < c.t.size(); ++i) intervals.push_back(c.t[i] - c.t[i - 1]);
  }
  // Epoch-sized timestamps carry ~1e-7 s of float noise; no logger resolves below 1 us.
  r.median_interval_s = std::round(median(std::move(intervals)) * 1e6) / 1e6;
  r.step_s = opt.step_s.value_or(r.median_interval_s);
  if (!(r.step_s > 0)) throw core::InputError("resampling step must be > 0");

  double t0 = -1e300, t1 = 1e300, first = 1e300, last = -1e300;
  for (const Clean& c : gpus) {
    t0 = std::max(t0, c.t.front());
    t1 = std::min(t1, c.t.back());
    first = std::min(first, c.t.front());
    last = std::max(last, c.t.back());
  }
  if (!(t1 > t0))
    throw core::InputError("the GPUs' sample times do not overlap",
                           core::Location{trace.file, 0, 0, {}});
  for (Duplicate& d : r.duplicate_sites) d.t_s -= t0;
  r.skipped_head_s = t0 - first;
  r.skipped_tail_s = last - t1;
  // Bounded before allocating: a log with one stray timestamp years away (or a tiny median
  // interval) would otherwise ask for billions of grid points.
  // Limits: 5e7 grid points (400 MB) and 5e8 interpolations (points x GPUs), seconds of work.
  constexpr double kMaxPoints = 5e7, kMaxWork = 5e8;
  const double points = (t1 - t0) / r.step_s + 1;
  const double work = points * static_cast<double>(gpus.size());
  if (!(points <= kMaxPoints) || !(work <= kMaxWork))
    throw core::InputError(
        fmt::format("resampling {:.6g} s of trace every {:g} ms for {} GPU(s) would take {:.3g} "
                    "points (limits: {:.0e} points, {:.0e} points x GPUs)",
                    t1 - t0, r.step_s * 1e3, gpus.size(), points, kMaxPoints, kMaxWork),
        core::Location{trace.file, 0, 0, "--resample-ms"},
        "check the timestamps (a stray one far from the rest?) or pass a coarser --resample-ms");
  const auto n = static_cast<std::size_t>(std::floor((t1 - t0) / r.step_s + 1e-6)) + 1;
  r.duration_s = static_cast<double>(n - 1) * r.step_s;
  r.total_w.assign(n, 0.0);
  std::vector<char> in_gap(n, 0);
  const double gap_limit = opt.gap_factor * r.median_interval_s;

  for (std::size_t g = 0; g < gpus.size(); ++g) {
    const Clean& c = gpus[g];
    for (std::size_t i = 1; i < c.t.size(); ++i)
      if (c.t[i] - c.t[i - 1] > gap_limit)
        r.gaps.push_back({trace.gpus[g].id, c.t[i - 1] - t0, c.t[i] - t0, c.line[i]});
    std::size_t j = 0;  // c.t[j] <= t < c.t[j + 1]
    for (std::size_t k = 0; k < n; ++k) {
      const double t = t0 + static_cast<double>(k) * r.step_s;
      while (j + 2 < c.t.size() && c.t[j + 1] <= t) ++j;
      const double span = c.t[j + 1] - c.t[j];
      const double a = std::clamp((t - c.t[j]) / span, 0.0, 1.0);
      r.total_w[k] += c.w[j] + a * (c.w[j + 1] - c.w[j]);
      const double eps = 1e-9 * r.step_s;
      if (span > gap_limit && t > c.t[j] + eps && t < c.t[j + 1] - eps) in_gap[k] = 1;
    }
  }
  r.gap_fraction = static_cast<double>(std::count(in_gap.begin(), in_gap.end(), 1)) /
                   static_cast<double>(n);
  return r;
}

}  // namespace keel::power
