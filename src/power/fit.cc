#include "keel/power/fit.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "keel/core/error.h"
#include "keel/power/gpu.h"

namespace keel::power {

ResponseModel::ResponseModel(const std::vector<std::pair<double, double>>& compute_s,
                             double tau_ms, double begin_s, double end_s, double step_s,
                             double overshoot_decay_ms, double overshoot_gap_ms)
    : begin_s_(begin_s), step_s_(step_s) {
  // keel's own GPU state machine with idle 0 and compute 1 gives the unit response, so the fit
  // checks the model the simulator runs, not a re-derivation of it.
  GpuParams gp;
  gp.idle_w = 0;
  gp.compute_w = 1;
  gp.time_constant_ms = tau_ms;
  if (overshoot_decay_ms > 0) {
    gp.onset_overshoot_w = 1;
    gp.onset_decay_ms = overshoot_decay_ms;
    gp.onset_gap_ms = overshoot_gap_ms;
  }
  const GpuModel model(gp, SmoothingParams{}, step_s * 1e3);
  GpuState state(0);
  auto n = static_cast<std::size_t>(std::ceil((end_s - begin_s) / step_s)) + 1;
  cumulative_.assign(n + 1, 0.0);
  std::size_t k = 0;  // next compute interval (sorted)
  double acc = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double t = begin_s + (static_cast<double>(i) + 0.5) * step_s;
    while (k < compute_s.size() && compute_s[k].second <= t) ++k;
    bool on = k < compute_s.size() && compute_s[k].first <= t;
    state.step(model, on ? 1.0 : 0.0, false, false);
    acc += state.p_out * step_s;
    cumulative_[i + 1] = acc;
  }
}

double ResponseModel::integral(double t_s) const {
  double x = (t_s - begin_s_) / step_s_;
  if (x <= 0) return 0;
  auto last = static_cast<double>(cumulative_.size() - 1);
  if (x >= last) return cumulative_.back();  // past the end: idle, adds nothing
  auto i = static_cast<std::size_t>(x);
  double f = x - static_cast<double>(i);
  return cumulative_[i] + f * (cumulative_[i + 1] - cumulative_[i]);
}

double ResponseModel::average(double t_s, double window_s) const {
  return (integral(t_s) - integral(t_s - window_s)) / window_s;
}

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

struct LinearFit {
  double idle = 0, swing = 0, sse = std::numeric_limits<double>::infinity();
};

// Least squares of w ≈ idle + swing × a over the readings.
LinearFit solve(const std::vector<double>& a, const std::vector<double>& w) {
  double n = static_cast<double>(a.size()), sa = 0, sw = 0, saa = 0, saw = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sa += a[i];
    sw += w[i];
    saa += a[i] * a[i];
    saw += a[i] * w[i];
  }
  double det = n * saa - sa * sa;
  LinearFit f;
  if (det <= 1e-12 * n * n) return f;  // no compute seen: swing unidentifiable
  f.swing = (n * saw - sa * sw) / det;
  f.idle = (sw - f.swing * sa) / n;
  f.sse = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    double r = w[i] - f.idle - f.swing * a[i];
    f.sse += r * r;
  }
  return f;
}

struct LinearFit3 {
  double idle = 0, swing = 0, amplitude_w = 0, sse = 0;
};

// Least squares of w ≈ idle + swing × a + amplitude × b (normal equations, Gauss-Jordan with
// partial pivoting); empty when they are singular.
std::optional<LinearFit3> solve3(const std::vector<double>& a, const std::vector<double>& b,
                                 const std::vector<double>& w) {
  double m[3][4] = {};
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x[3] = {1.0, a[i], b[i]};
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) m[r][c] += x[r] * x[c];
      m[r][3] += x[r] * w[i];
    }
  }
  for (int c = 0; c < 3; ++c) {
    int piv = c;
    for (int r = c + 1; r < 3; ++r)
      if (std::abs(m[r][c]) > std::abs(m[piv][c])) piv = r;
    if (std::abs(m[piv][c]) < 1e-12) return std::nullopt;
    for (int k = 0; k < 4; ++k) std::swap(m[c][k], m[piv][k]);
    for (int r = 0; r < 3; ++r) {
      if (r == c) continue;
      const double f = m[r][c] / m[c][c];
      for (int k = 0; k < 4; ++k) m[r][k] -= f * m[c][k];
    }
  }
  LinearFit3 f{m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2], 0};
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double r = w[i] - f.idle - f.swing * a[i] - f.amplitude_w * b[i];
    f.sse += r * r;
  }
  return f;
}

struct Updates {
  std::vector<double> t, w;
};

// A sensor refreshed slower than it is polled repeats its value: keep the first of each run.
Updates collapse(const std::vector<PowerSample>& readings) {
  Updates u;
  for (std::size_t i = 0; i < readings.size(); ++i) {
    if (i > 0 && readings[i].w == readings[i - 1].w) continue;
    u.t.push_back(readings[i].t_s);
    u.w.push_back(readings[i].w);
  }
  return u;
}

}  // namespace

FitResult fit_gpu_response(const std::vector<PowerSample>& readings,
                           const std::vector<std::pair<double, double>>& compute_in,
                           const FitOptions& opt) {
  auto compute_s = compute_in;
  std::sort(compute_s.begin(), compute_s.end());
  if (compute_s.empty())
    throw core::InputError("the timeline has no compute phase", {},
                           "record a run that computes (keel mcnn train --timeline)");
  const Updates all = collapse(readings);
  if (all.t.size() < 10)
    throw core::InputError("the power log has fewer than 10 distinct readings", {},
                           "log longer, or poll the instant power (power.draw.instant)");
  FitResult res;
  {
    std::vector<double> dt;
    for (std::size_t i = 1; i < all.t.size(); ++i) dt.push_back(all.t[i] - all.t[i - 1]);
    res.update_interval_ms = median(dt) * 1e3;
  }
  const double tl_begin = compute_s.front().first, tl_end = compute_s.back().second;
  const double margin = 10.0;
  const double from = opt.from_s.value_or(-std::numeric_limits<double>::infinity());
  const double to = opt.to_s.value_or(std::numeric_limits<double>::infinity());

  // Readings at a given offset, in timeline time, inside the fitted part and the modelled span.
  auto select = [&](double offset, std::vector<double>& t, std::vector<double>& w) {
    t.clear();
    w.clear();
    for (std::size_t i = 0; i < all.t.size(); ++i) {
      double x = all.t[i] - offset;
      if (x < from || x > to || x < tl_begin - margin || x > tl_end + margin) continue;
      t.push_back(x);
      w.push_back(all.w[i]);
    }
  };
  // An alignment must cover at least half of what the log can overlap, or a few readings that
  // happen to fit would win the search.
  const double can_overlap =
      std::min(static_cast<double>(all.t.size()),
               (std::min(to, tl_end + margin) - std::max(from, tl_begin - margin)) /
                   (res.update_interval_ms * 1e-3));
  const std::size_t min_overlap =
      std::max<std::size_t>(10, static_cast<std::size_t>(0.5 * can_overlap));
  std::vector<double> t, w, a;
  auto sse_at = [&](const ResponseModel& m, double window_s, double offset) {
    select(offset, t, w);
    if (t.size() < min_overlap) return LinearFit{};
    a.resize(t.size());
    for (std::size_t i = 0; i < t.size(); ++i) a[i] = m.average(t[i], window_s);
    LinearFit f = solve(a, w);
    f.sse /= static_cast<double>(t.size());  // mean, so offsets with fewer readings compare fairly
    return f;
  };

  double offset0 = 0;
  if (opt.offset_s) {
    offset0 = *opt.offset_s;
  } else {
    // Coarse: slide a fast model over every offset that overlaps the log, 40 ms apart (the fine
    // search below covers ±150 ms around the winner).
    ResponseModel m(compute_s, 15, tl_begin - margin, tl_end + margin);
    double lo = all.t.front() - tl_end, hi = all.t.back() - tl_begin, best = 1e300;
    for (double off = lo; off <= hi; off += 0.04) {
      LinearFit f = sse_at(m, 0.02, off);
      if (f.swing > 0 && f.sse < best) best = f.sse, offset0 = off;
    }
    if (best == 1e300)
      throw core::InputError("the power log and the timeline do not overlap in any alignment", {},
                             "check that both come from the same run");
  }

  // Fine: time constant × offset within ±150 ms of the coarse one (2 ms steps) × sensor window.
  double best = std::numeric_limits<double>::infinity();
  const int span = opt.offset_s ? 0 : 75;
  for (double tau : opt.taus_ms) {
    ResponseModel m(compute_s, tau, tl_begin - margin, tl_end + margin);
    double best_tau = std::numeric_limits<double>::infinity();
    for (int k = -span; k <= span; ++k) {
      const double off = offset0 + k * 0.002;
      select(off, t, w);
      if (t.size() < min_overlap) continue;
      a.resize(t.size());
      for (double win : opt.windows_ms) {
        for (std::size_t i = 0; i < t.size(); ++i) a[i] = m.average(t[i], win * 1e-3);
        LinearFit f = solve(a, w);
        if (!(f.swing > 0)) continue;
        f.sse /= static_cast<double>(t.size());
        best_tau = std::min(best_tau, f.sse);
        if (f.sse < best) {
          best = f.sse;
          res.idle_w = f.idle;
          res.compute_w = f.idle + f.swing;
          res.time_constant_ms = tau;
          res.window_ms = win;
          res.offset_s = off;
        }
      }
    }
    res.rmse_by_tau.emplace_back(tau, std::sqrt(best_tau));
  }
  if (!std::isfinite(best))
    throw core::InputError("no alignment shows the compute phases in the power log", {},
                           "check --offset-s, --from-s/--to-s and that the GPU computed");
  res.rmse_w = std::sqrt(best);
  double limit = res.rmse_w * (1 + opt.consistent_rel);
  res.tau_lo_ms = std::numeric_limits<double>::infinity();
  for (auto [tau, rmse] : res.rmse_by_tau)
    if (rmse <= limit) {
      res.tau_lo_ms = std::min(res.tau_lo_ms, tau);
      res.tau_hi_ms = std::max(res.tau_hi_ms, tau);
    }

  select(res.offset_s, t, w);
  res.readings = static_cast<int>(t.size());
  double mean = 0, var = 0;
  for (double x : w) mean += x;
  mean /= static_cast<double>(w.size());
  for (double x : w) var += (x - mean) * (x - mean);
  res.r2 = var > 0 ? 1 - best * static_cast<double>(w.size()) / var : 0;
  if (res.r2 < 0.1)
    throw core::InputError(
        fmt::format("the compute phases do not show in the power log (best fit R^2 = {:.2f})",
                    res.r2),
        {}, "check that the log and the timeline come from the same run and GPU (--gpu, --rank)");

  std::vector<double> over;
  for (auto [s, e] : compute_s) {
    if (e - s < 2 * opt.onset_window_s || s < from || e > to) continue;
    double peak = -std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < t.size(); ++i)
      if (t[i] >= s && t[i] <= s + opt.onset_window_s) peak = std::max(peak, w[i]);
    if (std::isfinite(peak)) over.push_back(peak - res.compute_w);
  }
  res.onsets = static_cast<int>(over.size());
  res.onset_overshoot_w = median(over);

  // The onset overshoot term: w ≈ idle + swing·a + A·b, b the window-averaged response to an
  // overshoot of amplitude 1 alone (the first-order response is linear, so b = response with
  // overshoot - response without). Searched again over time constant and sensor window too:
  // without the term, the first-order fit bends both to absorb the overshoot.
  {
    select(res.offset_s, t, w);
    std::vector<double> a0(t.size()), b(t.size());
    double best_sse = std::numeric_limits<double>::infinity();
    for (double tau : opt.taus_ms) {
      const ResponseModel plain(compute_s, tau, tl_begin - margin, tl_end + margin);
      for (double decay : opt.overshoot_decays_ms)
        for (double gap : opt.overshoot_gaps_ms) {
          const ResponseModel with(compute_s, tau, tl_begin - margin, tl_end + margin, 1e-3,
                                   decay, gap);
          for (double win_ms : opt.windows_ms) {
            const double win = win_ms * 1e-3;
            for (std::size_t i = 0; i < t.size(); ++i) {
              a0[i] = plain.average(t[i], win);
              b[i] = with.average(t[i], win) - a0[i];
            }
            const auto f = solve3(a0, b, w);
            if (!f || !(f->amplitude_w >= 0) || !(f->swing > 0)) continue;
            const double sse = f->sse / static_cast<double>(t.size());
            if (sse < best_sse) {
              best_sse = sse;
              res.overshoot = {f->amplitude_w, decay, gap, f->idle, f->idle + f->swing,
                               std::sqrt(sse),
                               var > 0 ? 1 - sse * static_cast<double>(w.size()) / var : 0};
            }
          }
        }
    }
  }
  return res;
}

}  // namespace keel::power
