#include "keel/power/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "keel/core/atomic_file.h"
#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/core/table.h"

namespace keel::power {

namespace {
// Coordinated control: the share of the run's steps a job spent in a profile.
double pct_of_run(const RunReport& r, std::int64_t steps) {
  return r.steps > 0 ? 100.0 * static_cast<double>(steps) / static_cast<double>(r.steps) : 0.0;
}
}  // namespace

std::string format_summary(const Scenario& sc, const Spec& spec, const RunReport& r) {
  const Metrics& m = r.metrics;
  std::string out;
  out += fmt::format("scenario  {} ({} GPUs in {} job(s), {:g} s at {:g} ms)  mitigations: {}\n",
                     sc.name, sc.total_gpus(), sc.jobs.size(), sc.sim.duration_s, sc.sim.step_ms,
                     r.variant);
  out += fmt::format("power     peak {:.2f} MW  min {:.2f} MW  mean {:.2f} MW  energy {:.3f} MWh\n",
                     m.peak_mw, m.min_mw, m.mean_mw, m.energy_mwh);
  out += fmt::format("swing     {:.2f} MW ({:.1f} % of peak) within {:g} s\n", m.swing_mw,
                     m.swing_pct_of_peak, spec.swing_window_s);
  out += fmt::format("ramps     up {:.2f} MW/s  down {:.2f} MW/s  over {:g} s\n",
                     m.ramp_up_mw_per_s, m.ramp_down_mw_per_s, spec.ramp_window_s);
  out += fmt::format("spectrum  dominant {:.3f} Hz at {:.3f} MW; band {:g}-{:g} Hz: peak {:.3f} MW "
                     "at {:.3f} Hz, rms {:.3f} MW, {:.1f} % of fluctuation energy\n",
                     m.dominant_hz, m.dominant_amplitude_mw, spec.f_lo_hz, spec.f_hi_hz,
                     m.band_amplitude_mw, m.band_peak_hz, m.band_rms_mw,
                     100.0 * m.band_energy_fraction);
  for (const auto& j : r.jobs)
    out += fmt::format("job       {}: {} iterations, mean {:.3f} s{}\n", j.name, j.iterations,
                       j.mean_iteration_s(r.step_ms),
                       r.coordinated
                           ? fmt::format("; coordinated: full profile {:.1f} %, ramps only {:.1f} % "
                                         "of the time",
                                         pct_of_run(r, j.full_profile_steps),
                                         pct_of_run(r, j.ramps_profile_steps))
                           : std::string());
  out += fmt::format("cost      energy overhead {:+.2f} %  slowdown {:+.2f} %  (software {:.3f} MWh, "
                     "smoothing {:.3f} MWh, storage losses {:.3f} MWh{})\n",
                     r.costs.energy_overhead_pct, r.costs.slowdown_pct,
                     r.costs.software_energy_mwh, r.costs.smoothing_energy_mwh,
                     r.costs.storage_loss_mwh,
                     r.costs.power_burn_mwh > 0
                         ? fmt::format(", power burn {:.3f} MWh", r.costs.power_burn_mwh)
                         : std::string());
  for (const auto& mc : r.per_mitigation)
    out += fmt::format("  {:<12} alone: energy {:+.2f} %  slowdown {:+.2f} %\n", mc.name,
                       mc.costs.energy_overhead_pct, mc.costs.slowdown_pct);
  if (r.gpu_above_tdp_mw > 0)
    out += fmt::format("EDP peaks GPUs up to {:.2f} MW above TDP; facility peak {:+.2f} MW over the "
                       "TDP-capped peak (before storage)\n",
                       r.gpu_above_tdp_mw, r.edp_peak_excess_mw);
  if (r.has_storage)
    out += fmt::format("storage   SoC {:.1f}-{:.1f} %  power-limited {:.1f} % of time, "
                       "energy-limited {:.1f} % of time{}\n",
                       100 * r.soc_min, 100 * r.soc_max, r.storage_power_limited_pct,
                       r.storage_energy_limited_pct,
                       r.storage_power_limited_pct + r.storage_energy_limited_pct > 0
                           ? "  << SATURATED"
                           : "");
  if (r.clauses.empty()) {
    out += "spec      none given (use --spec SPEC.toml)\n";
  } else {
    out += fmt::format("spec      {}{}{}: {}\n", spec.name,
                       spec.illustrative ? " (illustrative)" : "",
                       spec.windowed() ? ", judged on " + spec.window_text() : "",
                       verdict(r.clauses));
    for (const auto& c : r.clauses)
      out += fmt::format("  {:<15} {:>9.3f} {:<8} limit {:>9.3f}  {}\n", c.name, c.value, c.unit,
                         c.limit, c.pass ? "PASS" : "FAIL");
  }
  return out;
}

std::string format_comparison(const Scenario& sc, const Spec& spec,
                              const std::vector<RunReport>& rows) {
  core::Table t({"mitigation", "min MW", "peak MW", "swing MW", "up MW/s", "down MW/s",
                 "dom Hz", "band MW", "band %", "energy +%", "slow +%", "SoC %", "spec"});
  t.set_align(12, core::Table::Align::left);  // "FAIL: swing, band energy"
  for (const auto& r : rows) {
    const Metrics& m = r.metrics;
    t.add_row({r.variant, fmt::format("{:.2f}", m.min_mw), fmt::format("{:.2f}", m.peak_mw),
               fmt::format("{:.2f}", m.swing_mw), fmt::format("{:.2f}", m.ramp_up_mw_per_s),
               fmt::format("{:.2f}", m.ramp_down_mw_per_s), fmt::format("{:.3f}", m.dominant_hz),
               fmt::format("{:.3f}", m.band_amplitude_mw),
               fmt::format("{:.1f}", 100 * m.band_energy_fraction),
               fmt::format("{:+.2f}", r.costs.energy_overhead_pct),
               fmt::format("{:+.2f}", r.costs.slowdown_pct),
               r.has_storage ? fmt::format("{:.0f}-{:.0f}", 100 * r.soc_min, 100 * r.soc_max) : "-",
               verdict(r.clauses)});
  }
  std::string head = fmt::format(
      "scenario {} ({} GPUs, {:g} s at {:g} ms); spec {}{}; swing within {:g} s, ramps over "
      "{:g} s, band {:g}-{:g} Hz{}\n\n",
      sc.name, sc.total_gpus(), sc.sim.duration_s, sc.sim.step_ms, spec.name,
      spec.illustrative ? " (illustrative)" : "", spec.swing_window_s, spec.ramp_window_s,
      spec.f_lo_hz, spec.f_hi_hz,
      spec.windowed() ? "; metrics and spec judged on " + spec.window_text() : "");
  return head + t.render();
}

nlohmann::json to_json(const RunReport& r) {
  const Metrics& m = r.metrics;
  nlohmann::json j;
  j["mitigation"] = r.variant;
  j["power"] = {{"peak_mw", m.peak_mw}, {"min_mw", m.min_mw}, {"mean_mw", m.mean_mw},
                {"energy_mwh", m.energy_mwh}, {"swing_mw", m.swing_mw},
                {"swing_pct_of_peak", m.swing_pct_of_peak},
                {"ramp_up_mw_per_s", m.ramp_up_mw_per_s},
                {"ramp_down_mw_per_s", m.ramp_down_mw_per_s}};
  j["spectrum"] = {{"dominant_hz", m.dominant_hz},
                   {"dominant_amplitude_mw", m.dominant_amplitude_mw},
                   {"band_peak_hz", m.band_peak_hz},
                   {"band_amplitude_mw", m.band_amplitude_mw},
                   {"band_rms_mw", m.band_rms_mw},
                   {"band_energy_fraction", m.band_energy_fraction}};
  j["edp_peaks"] = {{"gpu_above_tdp_mw", r.gpu_above_tdp_mw},
                    {"facility_peak_excess_mw", r.edp_peak_excess_mw}};
  j["cost"] = {{"energy_overhead_pct", r.costs.energy_overhead_pct},
               {"slowdown_pct", r.costs.slowdown_pct},
               {"software_energy_mwh", r.costs.software_energy_mwh},
               {"smoothing_energy_mwh", r.costs.smoothing_energy_mwh},
               {"storage_loss_mwh", r.costs.storage_loss_mwh},
               {"power_burn_mwh", r.costs.power_burn_mwh}};
  j["per_mitigation"] = nlohmann::json::array();
  for (const auto& mc : r.per_mitigation)
    j["per_mitigation"].push_back({{"mitigation", mc.name},
                                   {"energy_overhead_pct", mc.costs.energy_overhead_pct},
                                   {"slowdown_pct", mc.costs.slowdown_pct}});
  if (r.has_storage)
    j["storage"] = {{"soc_min", r.soc_min}, {"soc_max", r.soc_max},
                    {"power_limited_pct", r.storage_power_limited_pct},
                    {"energy_limited_pct", r.storage_energy_limited_pct}};
  j["jobs"] = nlohmann::json::array();
  for (const auto& s : r.jobs) {
    j["jobs"].push_back({{"name", s.name}, {"iterations", s.iterations},
                         {"mean_iteration_s", s.mean_iteration_s(r.step_ms)}});
    if (r.coordinated) {
      j["jobs"].back()["full_profile_pct"] = pct_of_run(r, s.full_profile_steps);
      j["jobs"].back()["ramps_profile_pct"] = pct_of_run(r, s.ramps_profile_steps);
    }
  }
  j["clauses"] = nlohmann::json::array();
  for (const auto& c : r.clauses)
    j["clauses"].push_back({{"name", c.name}, {"value", c.value}, {"limit", c.limit},
                            {"unit", c.unit}, {"pass", c.pass}});
  if (!r.clauses.empty()) j["pass"] = all_pass(r.clauses);
  return j;
}

nlohmann::json spec_json(const Spec& s) {
  return {{"name", s.name}, {"illustrative", s.illustrative}, {"ramp_window_s", s.ramp_window_s},
          {"swing_window_s", s.swing_window_s}, {"f_lo_hz", s.f_lo_hz}, {"f_hi_hz", s.f_hi_hz},
          {"segment_s", s.segment_s},
          {"window", s.windowed() ? nlohmann::json{{"from_s", std::max(s.exclude_start_s,
                                                                       s.from_s.value_or(0.0))},
                                                   {"to_s", s.to_s ? nlohmann::json(*s.to_s)
                                                                   : nlohmann::json()}}
                                  : nlohmann::json()}};
}

int time_decimals(double step_s) {
  if (!(step_s > 0)) return 3;
  // Enough that every multiple of the step prints exactly (2.5 ms: 4 decimals), at most 9.
  int d = 3;
  for (double scaled = step_s * 1e3; d < 9; ++d, scaled *= 10)
    if (std::abs(scaled - std::round(scaled)) <= 1e-9 * std::max(1.0, scaled)) break;
  return d;
}

void check_trace_step(double sim_step_ms, double trace_step_ms) {
  if (trace_step_ms <= 0) return;
  const double m = trace_step_ms / sim_step_ms;
  if (m < 1.0 - 1e-9 || std::abs(m - std::round(m)) > 1e-6 * m)
    throw core::InputError(fmt::format("--trace-step-ms {:g} is not a whole multiple of the "
                                       "simulation step {:g} ms",
                                       trace_step_ms, sim_step_ms),
                           {"", 0, 0, "--trace-step-ms"},
                           fmt::format("use a multiple of {:g}", sim_step_ms));
}

namespace {

// Samples per output row for a requested trace step (1: every step).
}  // namespace

std::size_t block_of(double sim_step_s, double step_ms) {
  if (step_ms <= 0) return 1;
  check_trace_step(sim_step_s * 1000.0, step_ms);
  return static_cast<std::size_t>(std::max(1.0, std::round(step_ms / 1000.0 / sim_step_s)));
}

double block_mean(const std::vector<double>& v, std::size_t k0, std::size_t k1) {
  double s = 0;
  for (std::size_t k = k0; k < k1; ++k) s += v[k];
  return s / static_cast<double>(k1 - k0);
}

void write_trace_csv(const std::filesystem::path& path, const SimResult& r, double step_ms) {
  const std::size_t m = block_of(r.step_s, step_ms);
  const int digits = time_decimals(r.step_s * static_cast<double>(m));
  core::AtomicFile f(path);
  auto& out = f.stream();
  out << "time_s,facility_mw,grid_mw";
  if (r.has_storage) out << ",soc";
  for (std::size_t i = 0; i < r.rack_w.size(); ++i) out << ",rack_" << i << "_kw";
  out << "\n";
  std::string line;
  const std::size_t n = r.grid_w.size();
  for (std::size_t k = 0; k < n; k += m) {
    const std::size_t e = std::min(n, k + m);
    line = fmt::format("{:.{}f},{:.6f},{:.6f}", static_cast<double>(k) * r.step_s, digits,
                       block_mean(r.facility_w, k, e) / 1e6, block_mean(r.grid_w, k, e) / 1e6);
    if (r.has_storage) line += fmt::format(",{:.5f}", block_mean(r.soc, k, e));
    for (const auto& rack : r.rack_w) line += fmt::format(",{:.3f}", block_mean(rack, k, e) / 1e3);
    out << line << '\n';
  }
  f.commit();
  core::add_to_manifest(path);  // analyze verifies the traces keel wrote
}

void write_compare_trace_csv(const std::filesystem::path& path,
                             const std::vector<std::string>& variants,
                             const std::vector<std::vector<double>>& grid_w, double step_s,
                             double step_ms) {
  const std::size_t m = block_of(step_s, step_ms);
  const int digits = time_decimals(step_s * static_cast<double>(m));
  core::AtomicFile f(path);
  auto& out = f.stream();
  out << "time_s";
  for (const auto& v : variants) out << ',' << v << "_grid_mw";
  out << '\n';
  const std::size_t n = grid_w.empty() ? 0 : grid_w[0].size();
  std::string line;
  for (std::size_t k = 0; k < n; k += m) {
    const std::size_t e = std::min(n, k + m);
    line = fmt::format("{:.{}f}", static_cast<double>(k) * step_s, digits);
    for (const auto& g : grid_w) line += fmt::format(",{:.6f}", block_mean(g, k, e) / 1e6);
    out << line << '\n';
  }
  f.commit();
  core::add_to_manifest(path);  // analyze verifies the traces keel wrote
}

}  // namespace keel::power
