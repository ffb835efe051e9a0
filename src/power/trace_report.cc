// Metrics, warnings and renderings for measured traces (`keel power analyze`).
#include "keel/power/trace_report.h"

#include <fmt/format.h>

#include <algorithm>

#include "keel/core/error.h"
#include "keel/power/facility.h"
#include "keel/power/report.h"

namespace keel::power {

namespace {

constexpr std::size_t kListed = 5;    // gaps/duplicates named in the text summary
constexpr std::size_t kJsonListed = 50;

// Measured traces range from one GPU (hundreds of W) to a scaled fleet (tens of MW).
struct Unit {
  const char* name;
  double per_mw;
};
Unit unit_for(double peak_mw) {
  if (peak_mw >= 1.0) return {"MW", 1.0};
  if (peak_mw >= 1e-3) return {"kW", 1e3};
  return {"W", 1e6};
}


}  // namespace

std::vector<std::string> trace_warnings(const ParsedTrace& t, const Resampled& g, const Spec& spec) {
  std::vector<std::string> w = t.warnings;
  const double nyquist = 0.5 / g.median_interval_s;
  if (t.averaged)
    w.push_back(fmt::format(
        "{} is a ~1 s running average on A100/H100: swings inside an iteration (0.2-3 Hz and "
        "faster) are mostly averaged away, so swing, ramps and band content read low; log "
        "power.draw.instant (nvidia-smi) or field 157 (dcgmi dmon -e 157)",
        t.power_field));
  if (nyquist < spec.f_lo_hz)
    w.push_back(fmt::format(
        "sampled every {:.0f} ms: the highest visible frequency (Nyquist) is {:.3g} Hz, below the "
        "whole band {:g}-{:g} Hz: band metrics measure nothing; faster swings alias",
        g.median_interval_s * 1e3, nyquist, spec.f_lo_hz, spec.f_hi_hz));
  else if (nyquist < spec.f_hi_hz)
    w.push_back(fmt::format(
        "sampled every {:.0f} ms: the highest visible frequency (Nyquist) is {:.3g} Hz, below the "
        "band's upper edge {:g} Hz: {:.3g}-{:g} Hz is not measured and faster swings alias into "
        "lower frequencies",
        g.median_interval_s * 1e3, nyquist, spec.f_hi_hz, nyquist, spec.f_hi_hz));
  if (g.step_s < 0.999 * g.median_interval_s)
    w.push_back(fmt::format("resampled every {:g} ms, finer than the {:g} ms sampling: "
                            "interpolation adds points, not information",
                            g.step_s * 1e3, g.median_interval_s * 1e3));
  else if (g.step_s > 1.001 * g.median_interval_s)
    w.push_back(fmt::format("resampled every {:g} ms, coarser than the {:g} ms sampling: points are "
                            "interpolated, not averaged, so faster content aliases",
                            g.step_s * 1e3, g.median_interval_s * 1e3));
  if (g.step_s > spec.ramp_window_s)
    w.push_back(fmt::format("ramps are over one step ({:g} s), longer than the spec's {:g} s window",
                            g.step_s, spec.ramp_window_s));
  if (g.duration_s < std::max(spec.ramp_window_s, spec.swing_window_s))
    w.push_back(fmt::format("the trace spans {:.1f} s, shorter than the ramp ({:g} s) or swing "
                            "({:g} s) window: those metrics cover less than the spec asks",
                            g.duration_s, spec.ramp_window_s, spec.swing_window_s));
  if (g.duration_s < spec.segment_s)
    w.push_back(fmt::format("the trace spans {:.1f} s, shorter than the {:g} s spectrum segment: "
                            "one segment, frequency resolution {:.3g} Hz",
                            g.duration_s, spec.segment_s, 1.0 / std::max(g.duration_s, 1e-9)));
  if (!g.gaps.empty())
    w.push_back(fmt::format("{} gap(s) longer than 3x the median interval; {:.1f} % of the grid is "
                            "interpolated linearly across them",
                            g.gaps.size(), 100.0 * g.gap_fraction));
  if (g.duplicates > 0)
    w.push_back(fmt::format("{} sample(s) repeat the previous timestamp of their GPU; values at "
                            "one timestamp were averaged",
                            g.duplicates));
  if (t.unavailable > 0)
    w.push_back(fmt::format("{} unavailable value(s) (N/A, [Not Supported], ...) skipped, the "
                            "first at line {}",
                            t.unavailable, t.first_unavailable_line));
  if (t.garbage)
    w.push_back(fmt::format("trailing garbage from line {} to the end ({} bytes, {} NUL) ignored: "
                            "the logger was probably killed mid-write",
                            t.garbage->line, t.garbage->bytes, t.garbage->nul_bytes));
  return w;
}

TraceAnalysis analyze_trace(ParsedTrace trace, const Spec& spec, const AnalyzeOptions& opt) {
  TraceAnalysis a;
  a.grid = resample(trace, opt.resample);
  a.gpus_in_file = static_cast<int>(trace.gpus.size());
  a.scale_gpus = opt.scale_gpus;
  const bool facility_level = trace.format == "keel trace csv";
  if (facility_level && (opt.scale_gpus || opt.facility))
    throw core::InputError("a keel trace is already facility power",
                           core::Location{trace.file, 0, 0, opt.scale_gpus ? "--scale-gpus" : "--facility"},
                           "--scale-gpus and --facility apply to GPU power logs");
  if (opt.scale_gpus) {
    // Synchronous training: every GPU swings with the ones measured, so the fleet is a multiple.
    a.scale = static_cast<double>(*opt.scale_gpus) / a.gpus_in_file;
    for (double& x : a.grid.total_w) x *= a.scale;
  }
  if (opt.facility) {
    const std::int64_t gpus = opt.scale_gpus.value_or(a.gpus_in_file);
    FacilityPower fp(*opt.facility, a.grid.step_s, servers_base_w(*opt.facility, gpus));
    for (double& x : a.grid.total_w) x = fp.step(x).facility_w;
    a.facility = true;
  }
  a.metrics = measure(a.grid.total_w, a.grid.step_s, spec);
  a.clauses = evaluate(a.metrics, spec);
  a.warnings = trace_warnings(trace, a.grid, spec);
  a.trace = std::move(trace);
  for (GpuSeries& g : a.trace.gpus) g.samples = {};  // the grid holds what the report needs
  return a;
}

std::string format_trace_summary(const TraceAnalysis& a, const Spec& spec) {
  const ParsedTrace& t = a.trace;
  const Resampled& g = a.grid;
  const Metrics& m = a.metrics;
  const Unit u = unit_for(m.peak_mw);
  auto p = [&](double mw) { return mw * u.per_mw; };
  std::string out;
  out += fmt::format("trace     {}: {}, {} GPU(s) ({}), {}, {} rows\n", t.file, t.format,
                     a.gpus_in_file, t.gpu_source, t.power_field, t.rows);
  out += fmt::format("sampling  every {:g} ms (median) -> {} points every {:g} ms over {:.3f} s, "
                     "linear interpolation{}\n",
                     g.median_interval_s * 1e3, g.total_w.size(), g.step_s * 1e3, g.duration_s,
                     g.skipped_head_s + g.skipped_tail_s > 0
                         ? fmt::format(" (cut {:.3f} s at the start, {:.3f} s at the end where "
                                       "not every GPU has samples)",
                                       g.skipped_head_s, g.skipped_tail_s)
                         : "");
  out += fmt::format("gaps      {}", g.gaps.size());
  for (std::size_t i = 0; i < std::min(kListed, g.gaps.size()); ++i)
    out += fmt::format("{} GPU {} {:.3f}-{:.3f} s (line {})", i ? "," : ":", g.gaps[i].gpu,
                       g.gaps[i].from_s, g.gaps[i].to_s, g.gaps[i].line);
  if (g.gaps.size() > kListed) out += fmt::format(", ... {} more", g.gaps.size() - kListed);
  out += fmt::format("  duplicates {}", g.duplicates);
  for (std::size_t i = 0; i < std::min(kListed, g.duplicate_sites.size()); ++i)
    out += fmt::format("{} GPU {} at {:.3f} s (line {})", i ? "," : ":", g.duplicate_sites[i].gpu,
                       g.duplicate_sites[i].t_s, g.duplicate_sites[i].line);
  out += "\n";
  if (a.scale_gpus)
    out += fmt::format("scaled    x{:g}: {} GPUs from the {} in the file, ASSUMING SYNCHRONOUS GPUs "
                       "(all swing in phase with the measured ones; real offsets would lower "
                       "swings and ramps)\n",
                       a.scale, *a.scale_gpus, a.gpus_in_file);
  if (a.facility)
    out += "facility  servers' base power, PSU losses, cooling and fixed overhead added "
           "(--facility)\n";
  if (spec.windowed()) out += "window    metrics and spec judged on " + spec.window_text() + "\n";
  out += fmt::format("power     peak {:.2f} {u}  min {:.2f} {u}  mean {:.2f} {u}  energy {:.4g} {u}h\n",
                     p(m.peak_mw), p(m.min_mw), p(m.mean_mw), p(m.energy_mwh), fmt::arg("u", u.name));
  out += fmt::format("swing     {:.2f} {} ({:.1f} % of peak) within {:g} s\n", p(m.swing_mw),
                     u.name, m.swing_pct_of_peak, spec.swing_window_s);
  out += fmt::format("ramps     up {:.2f} {u}/s  down {:.2f} {u}/s  over {:g} s\n",
                     p(m.ramp_up_mw_per_s), p(m.ramp_down_mw_per_s), spec.ramp_window_s,
                     fmt::arg("u", u.name));
  out += fmt::format("spectrum  dominant {:.3f} Hz at {:.3f} {u}; band {:g}-{:g} Hz: peak {:.3f} {u} "
                     "at {:.3f} Hz, rms {:.3f} {u}, {:.1f} % of fluctuation energy\n",
                     m.dominant_hz, p(m.dominant_amplitude_mw), spec.f_lo_hz, spec.f_hi_hz,
                     p(m.band_amplitude_mw), m.band_peak_hz, p(m.band_rms_mw),
                     100.0 * m.band_energy_fraction, fmt::arg("u", u.name));
  if (a.clauses.empty()) {
    out += "spec      none given (use --spec SPEC.toml)\n";
  } else {
    out += fmt::format("spec      {}{}: {}\n", spec.name, spec.illustrative ? " (illustrative)" : "",
                       verdict(a.clauses));
    for (const auto& c : a.clauses)
      out += fmt::format("  {:<15} {:>9.3f} {:<8} limit {:>9.3f}  {}\n", c.name, c.value, c.unit,
                         c.limit, c.pass ? "PASS" : "FAIL");
  }
  for (const auto& n : t.notes) out += "note      " + n + "\n";
  for (const auto& w : a.warnings) out += "warning   " + w + "\n";
  return out;
}

nlohmann::json trace_to_json(const TraceAnalysis& a, const Spec& spec) {
  const ParsedTrace& t = a.trace;
  const Resampled& g = a.grid;
  nlohmann::json j;
  j["trace"] = {{"file", t.file}, {"format", t.format}, {"power_field", t.power_field},
                {"averaged", t.averaged}, {"gpus_in_file", a.gpus_in_file},
                {"gpu_source", t.gpu_source}, {"rows", t.rows},
                {"unavailable_values", t.unavailable}, {"notes", t.notes}};
  j["trace"]["trailing_garbage"] =
      t.garbage ? nlohmann::json{{"line", t.garbage->line}, {"bytes", t.garbage->bytes},
                                 {"nul_bytes", t.garbage->nul_bytes}}
                : nlohmann::json(nullptr);
  nlohmann::json gaps = nlohmann::json::array(), dups = nlohmann::json::array();
  for (std::size_t i = 0; i < std::min(kJsonListed, g.gaps.size()); ++i)
    gaps.push_back({{"gpu", g.gaps[i].gpu}, {"from_s", g.gaps[i].from_s},
                    {"to_s", g.gaps[i].to_s}, {"line", g.gaps[i].line}});
  for (const auto& d : g.duplicate_sites)
    dups.push_back({{"gpu", d.gpu}, {"t_s", d.t_s}, {"line", d.line}});
  j["sampling"] = {{"median_interval_s", g.median_interval_s}, {"step_s", g.step_s},
                   {"points", g.total_w.size()}, {"duration_s", g.duration_s},
                   {"skipped_head_s", g.skipped_head_s}, {"skipped_tail_s", g.skipped_tail_s},
                   {"interpolation", "linear"},
                   {"gaps", {{"count", g.gaps.size()}, {"fraction_of_grid", g.gap_fraction},
                             {"listed", gaps}}},
                   {"duplicates", {{"count", g.duplicates}, {"listed", dups}}}};
  j["scale"] = a.scale_gpus ? nlohmann::json{{"gpus", *a.scale_gpus}, {"factor", a.scale},
                                             {"assumption", "synchronous GPUs"}}
                            : nlohmann::json(nullptr);
  j["spec"] = spec_json(spec);
  // The same "power"/"spectrum"/"clauses" keys as `simulate --json`.
  RunReport r;
  r.metrics = a.metrics;
  r.clauses = a.clauses;
  nlohmann::json res = to_json(r);
  for (const char* k : {"mitigation", "cost", "jobs"}) res.erase(k);
  j["result"] = res;
  j["warnings"] = a.warnings;
  return j;
}

}  // namespace keel::power
