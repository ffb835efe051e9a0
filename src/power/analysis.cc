#include "keel/power/analysis.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <numeric>
#include <thread>

#include <fmt/format.h>

#include "keel/core/error.h"
#include "keel/power/metrics.h"

namespace keel::power {

namespace {
constexpr double kMw = 1e6;
constexpr double kJPerMwh = 3.6e9;
}  // namespace

std::vector<double> evaluation_window(const std::vector<double>& w, double step_s,
                                      const Spec& spec) {
  if (!spec.windowed()) return w;
  const double n = static_cast<double>(w.size());
  const double from = std::max(spec.exclude_start_s, spec.from_s.value_or(0.0));
  const double to = spec.to_s.value_or(n * step_s);
  const auto i0 = static_cast<std::size_t>(std::clamp(std::ceil(from / step_s - 1e-9), 0.0, n));
  const auto i1 = static_cast<std::size_t>(std::clamp(std::floor(to / step_s + 1e-9), 0.0, n));
  if (i1 < i0 + 2)
    throw core::InputError(
        fmt::format("evaluation window {} leaves no data of the {:g} s series", spec.window_text(),
                    n * step_s),
        {"", 0, 0, spec.from_s || spec.to_s ? "--from-s/--to-s" : "exclude_start_s"},
        "choose a window inside the run");
  return {w.begin() + static_cast<std::ptrdiff_t>(i0), w.begin() + static_cast<std::ptrdiff_t>(i1)};
}

std::string verdict(const std::vector<Clause>& clauses) {
  if (clauses.empty()) return "-";
  std::string failed;
  for (const auto& c : clauses)
    if (!c.pass) failed += (failed.empty() ? "" : ", ") + c.name;
  return failed.empty() ? "PASS" : "FAIL: " + failed;
}

Metrics measure(const std::vector<double>& full, double step_s, const Spec& spec,
                Spectrum* spectrum_out) {
  Metrics m;
  if (full.empty()) return m;
  const std::vector<double> w = evaluation_window(full, step_s, spec);
  auto [lo, hi] = std::minmax_element(w.begin(), w.end());
  m.peak_mw = *hi / kMw;
  m.min_mw = *lo / kMw;
  double sum = std::accumulate(w.begin(), w.end(), 0.0);
  m.mean_mw = sum / static_cast<double>(w.size()) / kMw;
  m.energy_mwh = sum * step_s / kJPerMwh;
  m.swing_mw = max_rolling_swing(w, step_s, spec.swing_window_s) / kMw;
  m.swing_pct_of_peak = m.peak_mw > 0 ? 100.0 * m.swing_mw / m.peak_mw : 0.0;
  Ramps r = max_ramps(w, step_s, spec.ramp_window_s);
  m.ramp_up_mw_per_s = r.up_per_s / kMw;
  m.ramp_down_mw_per_s = r.down_per_s / kMw;
  if (w.size() >= 4) {
    Spectrum s = welch(w, step_s, spec.segment_s);
    if (int k = s.peak_in(0.0, 1e300); k > 0) {
      m.dominant_hz = s.freq_hz[static_cast<std::size_t>(k)];
      m.dominant_amplitude_mw = s.amplitude[static_cast<std::size_t>(k)] / kMw;
    }
    if (int k = s.peak_in(spec.f_lo_hz, spec.f_hi_hz); k > 0) {
      m.band_peak_hz = s.freq_hz[static_cast<std::size_t>(k)];
      m.band_amplitude_mw = s.amplitude[static_cast<std::size_t>(k)] / kMw;
    }
    double band = s.band_power(spec.f_lo_hz, spec.f_hi_hz), total = s.total_ac_power();
    m.band_rms_mw = std::sqrt(band) / kMw;
    m.band_energy_fraction = total > 0 ? band / total : 0.0;
    if (spectrum_out) *spectrum_out = std::move(s);
  }
  return m;
}

std::vector<Clause> evaluate(const Metrics& m, const Spec& s) {
  std::vector<Clause> out;
  auto add = [&](const char* name, double value, const std::optional<double>& limit,
                 const char* unit) {
    if (limit) out.push_back({name, value, *limit, unit, value <= *limit});
  };
  add("ramp up", m.ramp_up_mw_per_s, s.max_ramp_up_mw_per_s, "MW/s");
  add("ramp down", m.ramp_down_mw_per_s, s.max_ramp_down_mw_per_s, "MW/s");
  add("swing", m.swing_mw, s.max_swing_mw, "MW");
  add("swing % of peak", m.swing_pct_of_peak, s.max_swing_pct, "%");
  add("band amplitude", m.band_amplitude_mw, s.max_band_amplitude_mw, "MW");
  add("band energy", m.band_energy_fraction, s.max_band_energy_fraction, "fraction");
  return out;
}

bool all_pass(const std::vector<Clause>& clauses) {
  return std::all_of(clauses.begin(), clauses.end(), [](const Clause& c) { return c.pass; });
}

Scenario without_mitigations(Scenario sc) {
  sc.software.enabled = sc.smoothing.enabled = sc.storage.enabled = false;
  return sc;
}

RunReport make_report(const std::string& variant, const SimResult& run, const SimResult& base,
                      const Spec& spec, double step_ms) {
  RunReport r;
  r.variant = variant;
  r.step_ms = step_ms;
  r.steps = static_cast<std::int64_t>(run.grid_w.size());
  r.metrics = measure(run.grid_w, run.step_s, spec);
  r.clauses = evaluate(r.metrics, spec);
  if (run.gpu_above_tdp_peak_w > 0 && !run.facility_w.empty()) {
    r.gpu_above_tdp_mw = run.gpu_above_tdp_peak_w / 1e6;
    const double peak = *std::max_element(run.facility_w.begin(), run.facility_w.end());
    r.edp_peak_excess_mw = std::max(0.0, peak - run.tdp_capped_peak_w) / 1e6;
  }
  // Storage that ends below its initial charge has borrowed energy: count its recharge.
  auto energy = [](const SimResult& s) {
    return s.grid_energy_j() + (s.has_storage ? s.storage.recharge_j : 0.0);
  };
  double e_run = energy(run), e_base = energy(base);
  r.costs.energy_overhead_pct = e_base > 0 ? 100.0 * (e_run - e_base) / e_base : 0.0;
  if (!run.jobs.empty() && !base.jobs.empty()) {
    double t_run = run.jobs[0].mean_iteration_s(step_ms), t_base = base.jobs[0].mean_iteration_s(step_ms);
    r.costs.slowdown_pct = t_base > 0 && t_run > 0 ? 100.0 * (t_run / t_base - 1.0) : 0.0;
  }
  r.costs.software_energy_mwh = run.software_energy_j / kJPerMwh;
  r.costs.smoothing_energy_mwh = run.smoothing_energy_j / kJPerMwh;
  r.costs.power_burn_mwh = run.burn_energy_j / kJPerMwh;
  r.has_storage = run.has_storage;
  r.coordinated = run.coordinated;
  if (run.has_storage) {
    r.costs.storage_loss_mwh = run.storage.loss_j / kJPerMwh;
    r.soc_min = run.storage.soc_min_seen;
    r.soc_max = run.storage.soc_max_seen;
    r.storage_power_limited_pct = 100.0 * run.storage.power_limited_fraction;
    r.storage_energy_limited_pct = 100.0 * run.storage.energy_limited_fraction;
  }
  r.jobs = run.jobs;
  return r;
}

std::vector<MitigationCost> costs_of_each(const Scenario& sc, const SimResult& base,
                                          const Spec& spec, const RunReport& combined) {
  const bool on[3] = {sc.software.enabled, sc.smoothing.enabled, sc.storage.enabled};
  const char* names[3] = {"software", "smoothing", "storage"};
  std::vector<MitigationCost> out;
  if (on[0] + on[1] + on[2] == 1) {
    out.push_back({combined.variant, combined.costs});
    return out;
  }
  for (int b = 0; b < 3; ++b) {
    if (!on[b]) continue;
    Scenario one = without_mitigations(sc);
    one.software.enabled = b == 0;
    one.smoothing.enabled = b == 1;
    one.storage.enabled = b == 2;
    out.push_back({names[b], make_report(names[b], simulate(one), base, spec, sc.sim.step_ms).costs});
  }
  return out;
}

std::string mix_name(int mask) {
  const char* names[3] = {"software", "smoothing", "storage"};
  std::string name;
  for (int b = 0; b < 3; ++b)
    if (mask >> b & 1) name += (name.empty() ? "" : "+") + std::string(names[b]);
  return name.empty() ? "none" : name;
}

std::string mix_name(int mask, bool coordinated) {
  if (!coordinated || (mask & 6) != 6) return mix_name(mask);
  return mask & 1 ? "software+coordinated" : "coordinated";
}

std::string mix_name(const Scenario& sc) {
  return mix_name((sc.software.enabled ? 1 : 0) | (sc.smoothing.enabled ? 2 : 0) |
                      (sc.storage.enabled ? 4 : 0),
                  sc.coordinating());
}

std::vector<std::pair<std::string, Scenario>> variants(const Scenario& sc) {
  const bool conf[3] = {sc.software.configured, sc.smoothing.configured, sc.storage.configured};
  std::vector<std::pair<int, std::pair<std::string, Scenario>>> out;
  for (int mask = 0; mask < 8; ++mask) {
    bool ok = true;
    for (int b = 0; b < 3; ++b) ok = ok && (!(mask >> b & 1) || conf[b]);
    if (!ok) continue;
    Scenario v = without_mitigations(sc);
    v.software.enabled = mask & 1;
    v.smoothing.enabled = mask & 2;
    v.storage.enabled = mask & 4;
    v.coordinated.enabled = false;
    const int order = __builtin_popcount(static_cast<unsigned>(mask)) * 16 + mask * 2;
    // With [mitigation.coordinated], smoothing and storage also run coordinated, right after
    // their independent combination.
    if (sc.coordinated.configured && (mask & 6) == 6) {
      Scenario c = v;
      c.coordinated.enabled = true;
      out.push_back({order + 1, {mix_name(mask, true), std::move(c)}});
    }
    out.push_back({order, {mix_name(mask), std::move(v)}});
  }
  // Fewest mitigations first: none, each alone, pairs, all.
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::string, Scenario>> res;
  for (auto& o : out) res.push_back(std::move(o.second));
  return res;
}

std::vector<RunReport> compare(const Scenario& sc, const Spec& spec, int threads,
                               const RunObserver& observe) {
  auto vs = variants(sc);
  const SimResult base = simulate(vs[0].second);  // "none": the reference for every cost
  std::vector<RunReport> out(vs.size());
  out[0] = make_report(vs[0].first, base, base, spec, sc.sim.step_ms);
  if (observe) observe(0, base);
  // Each worker keeps only the report (and what `observe` copies), so memory stays at one series
  // per thread.
  std::atomic<std::size_t> next{1};
  auto worker = [&] {
    for (std::size_t i; (i = next++) < vs.size();) {
      const SimResult run = simulate(vs[i].second);
      out[i] = make_report(vs[i].first, run, base, spec, sc.sim.step_ms);
      if (observe) observe(i, run);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::max(1, threads); ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  return out;
}

}  // namespace keel::power
