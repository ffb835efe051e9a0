#include "keel/power/report_series.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "keel/core/error.h"
#include "keel/power/spectrum.h"

namespace keel::power {

namespace {
constexpr double kToMw = 1e-6;

// Samples per bucket; 1 when the series is short enough to keep whole.
std::size_t bucket_size(std::size_t n, std::size_t buckets) {
  if (buckets == 0 || n <= 2 * buckets) return 1;
  return (n + buckets - 1) / buckets;
}

std::pair<std::size_t, std::size_t> window_range(std::size_t n, double step_s, double start_s,
                                                 double end_s) {
  auto at = [&](double t) {
    double k = std::round(t / step_s);
    return static_cast<std::size_t>(std::clamp(k, 0.0, static_cast<double>(n)));
  };
  std::size_t a = at(start_s), b = at(end_s);
  return {a, std::max(a, b)};
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw core::InputError(std::string("cannot read: ") + std::strerror(errno),
                           core::Location{path, 0, 0, {}});
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string describe(const Scenario& sc, const Spec& spec) {
  return fmt::format("{} GPUs in {} job(s), {:g} s at {:g} ms steps; spec: {}{}", sc.total_gpus(),
                     sc.jobs.size(), sc.sim.duration_s, sc.sim.step_ms, spec.name,
                     spec.illustrative ? " (illustrative)" : "");
}

ReportInput base_input(const Scenario& sc, const Spec& spec, const RunSeries& first,
                       const std::string& config_path) {
  ReportInput in;
  in.subtitle = describe(sc, spec);
  in.spec = spec;
  in.power.x = first.time_s;
  in.zoom.x = first.zoom_time_s;
  in.spectrum.x = first.spectrum.freq_hz;
  in.config_name = std::filesystem::path(config_path).filename().string();
  in.config_text = read_text(config_path);
  return in;
}
}  // namespace

ReportWindow choose_report_window(const Scenario& sc) {
  ReportWindow w;
  const double dur = sc.sim.duration_s, step_s = sc.sim.step_ms / 1000.0;
  double period = 1.0, start = 0.0, end = dur;
  if (!sc.jobs.empty()) {
    const JobParams& j = sc.jobs[0];
    period = (j.compute_ms + j.comm_ms) / 1000.0;
    start = std::min(j.start_s, dur);
    if (j.stop_s) end = std::min(end, *j.stop_s);
    if (j.fail_s) end = std::min(end, *j.fail_s);
  }
  double len = std::min(dur, std::max(3.0 * period, 20.0 * step_s));
  double mid = start < end ? 0.5 * (start + end) : 0.5 * dur;
  w.zoom_start_s = std::clamp(mid - 0.5 * len, 0.0, dur - len);
  w.zoom_end_s = w.zoom_start_s + len;
  return w;
}

std::vector<double> decimated_time(std::size_t n, double step_s, std::size_t buckets) {
  const std::size_t b = bucket_size(n, buckets);
  std::vector<double> t;
  t.reserve(b == 1 ? n : 2 * (n / b + 1));
  if (b == 1) {
    for (std::size_t k = 0; k < n; ++k) t.push_back(static_cast<double>(k) * step_s);
    return t;
  }
  for (std::size_t k = 0; k < n; k += b) {
    std::size_t len = std::min(b, n - k);
    t.push_back(static_cast<double>(k) * step_s);
    t.push_back((static_cast<double>(k) + 0.5 * static_cast<double>(len)) * step_s);
  }
  return t;
}

std::vector<double> decimate_min_max(const std::vector<double>& v, std::size_t buckets,
                                     double scale) {
  const std::size_t n = v.size(), b = bucket_size(n, buckets);
  std::vector<double> out;
  out.reserve(b == 1 ? n : 2 * (n / b + 1));
  if (b == 1) {
    for (double x : v) out.push_back(x * scale);
    return out;
  }
  for (std::size_t k = 0; k < n; k += b) {
    auto [lo, hi] = std::minmax_element(v.begin() + static_cast<std::ptrdiff_t>(k),
                                        v.begin() + static_cast<std::ptrdiff_t>(std::min(n, k + b)));
    out.push_back(*lo * scale);
    out.push_back(*hi * scale);
  }
  return out;
}

std::vector<double> window_time(std::size_t n, double step_s, double start_s, double end_s) {
  auto [a, b] = window_range(n, step_s, start_s, end_s);
  std::vector<double> t;
  t.reserve(b - a);
  for (std::size_t k = a; k < b; ++k) t.push_back(static_cast<double>(k) * step_s);
  return t;
}

std::vector<double> window_values(const std::vector<double>& v, double step_s, double start_s,
                                  double end_s, double scale) {
  auto [a, b] = window_range(v.size(), step_s, start_s, end_s);
  std::vector<double> out;
  out.reserve(b - a);
  for (std::size_t k = a; k < b; ++k) out.push_back(v[k] * scale);
  return out;
}

ThinSpectrum thin_spectrum(const Spectrum& s, std::size_t points, double scale) {
  ThinSpectrum out;
  const std::size_t n = std::min(s.freq_hz.size(), s.amplitude.size());
  if (n < 2 || points == 0) return out;
  // Bin 0 is 0 Hz (no place on a log axis); bins 1.. are evenly spaced, so low buckets hold one
  // line each and high ones many.
  const double f1 = s.freq_hz[1], span = std::log(s.freq_hz[n - 1] / f1);
  auto bucket_of = [&](std::size_t k) {
    if (span <= 0) return k;
    return static_cast<std::size_t>(static_cast<double>(points) * std::log(s.freq_hz[k] / f1) / span);
  };
  for (std::size_t k = 1; k < n;) {
    std::size_t end = k + 1, j = bucket_of(k);
    while (end < n && bucket_of(end) == j) ++end;
    double peak = *std::max_element(s.amplitude.begin() + static_cast<std::ptrdiff_t>(k),
                                    s.amplitude.begin() + static_cast<std::ptrdiff_t>(end));
    // One line: its own frequency; several: the bucket's geometric middle (< 1 % off on the plot).
    out.freq_hz.push_back(end == k + 1 ? s.freq_hz[k] : std::sqrt(s.freq_hz[k] * s.freq_hz[end - 1]));
    out.amplitude.push_back(peak * scale);
    k = end;
  }
  return out;
}

RunSeries capture_run(const SimResult& run, const Spec& spec, const ReportWindow& w) {
  RunSeries r;
  const std::size_t n = run.grid_w.size();
  const double step = run.step_s, a = w.zoom_start_s, b = w.zoom_end_s;
  r.time_s = decimated_time(n, step, w.buckets);
  r.grid_mw = decimate_min_max(run.grid_w, w.buckets, kToMw);
  r.zoom_time_s = window_time(n, step, a, b);
  r.zoom_grid_mw = window_values(run.grid_w, step, a, b, kToMw);
  if (run.has_storage) {
    r.facility_mw = decimate_min_max(run.facility_w, w.buckets, kToMw);
    r.zoom_facility_mw = window_values(run.facility_w, step, a, b, kToMw);
    r.soc = decimate_min_max(run.soc, w.buckets);
  }
  if (n >= 4) r.spectrum = thin_spectrum(welch(run.grid_w, step, spec.segment_s), w.spectrum_points, kToMw);
  return r;
}

namespace {

void add_summary_row(ReportInput& in, const RunReport& r) {
  if (in.summary_header.empty())
    in.summary_header = {"variant",   "peak MW",   "mean MW",     "min MW",    "energy MWh",
                         "energy +%", "slowdown +%", "storage loss MWh", "spec"};
  const Metrics& m = r.metrics;
  in.summary_rows.push_back({r.variant, fmt::format("{:.2f}", m.peak_mw),
                             fmt::format("{:.2f}", m.mean_mw), fmt::format("{:.2f}", m.min_mw),
                             fmt::format("{:.3f}", m.energy_mwh),
                             fmt::format("{:+.2f}", r.costs.energy_overhead_pct),
                             fmt::format("{:+.2f}", r.costs.slowdown_pct),
                             r.has_storage ? fmt::format("{:.3f}", r.costs.storage_loss_mwh) : "-",
                             verdict(r.clauses)});
}

}  // namespace

std::string strip_toml_comments(std::string_view text) {
  std::string out;
  bool blank_run = false;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    char quote = 0;
    std::size_t cut = line.size();
    for (std::size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (quote) {
        if (c == '\\' && quote == '"') ++i;
        else if (c == quote) quote = 0;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == '#') {
        cut = i;
        break;
      }
    }
    std::string kept(line.substr(0, cut));
    while (!kept.empty() && (kept.back() == ' ' || kept.back() == '\t' || kept.back() == '\r'))
      kept.pop_back();
    if (kept.empty()) {
      if (!blank_run && !out.empty()) out += '\n';
      blank_run = true;
    } else {
      out += kept + '\n';
      blank_run = false;
    }
    pos = end + 1;
  }
  while (out.size() >= 2 && out.ends_with("\n\n")) out.pop_back();
  return out;
}

ReportInput simulate_report_input(const Scenario& sc, const Spec& spec, const RunReport& rep,
                                  const SimResult& run, const SimResult* base,
                                  const std::string& config_path) {
  const ReportWindow w = choose_report_window(sc);
  const RunSeries r = capture_run(run, spec, w);
  ReportInput in = base_input(sc, spec, r, config_path);
  in.title = fmt::format("{}: simulated with mitigation {}", sc.name, rep.variant);
  if (base) {
    add_summary_row(in, make_report("none", *base, *base, spec, sc.sim.step_ms));
    const RunSeries b = capture_run(*base, spec, w);
    in.power.add("unmitigated", b.grid_mw);
    in.zoom.add("unmitigated", b.zoom_grid_mw);
    in.spectrum.add("unmitigated", b.spectrum.amplitude);
  }
  if (run.has_storage) {
    in.power.add("facility, before storage", r.facility_mw);
    in.zoom.add("facility, before storage", r.zoom_facility_mw);
    in.soc.x = r.time_s;
    in.soc.add(rep.variant, r.soc);
  }
  const std::string grid = base ? "grid (" + rep.variant + ")" : "grid";
  in.power.add(grid, r.grid_mw);
  in.zoom.add(grid, r.zoom_grid_mw);
  in.spectrum.add(grid, r.spectrum.amplitude);
  in.clauses.push_back({rep.variant, rep.clauses});
  add_summary_row(in, rep);
  return in;
}

ReportInput compare_report_input(const Scenario& sc, const Spec& spec,
                                 const std::vector<RunReport>& rows,
                                 const std::vector<RunSeries>& series,
                                 const std::string& config_path,
                                 const std::vector<std::string>& visible) {
  if (rows.empty() || rows.size() != series.size())
    throw core::Error(fmt::format("compare report: {} variants but {} series", rows.size(), series.size()));
  ReportInput in = base_input(sc, spec, series[0], config_path);
  in.title = fmt::format("{}: mitigations compared", sc.name);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const RunSeries& s = series[i];
    in.power.add(rows[i].variant, s.grid_mw);
    in.zoom.add(rows[i].variant, s.zoom_grid_mw);
    in.spectrum.add(rows[i].variant, s.spectrum.amplitude);
    if (!s.soc.empty()) {
      in.soc.x = s.time_s;
      in.soc.add(rows[i].variant, s.soc);
    }
    in.clauses.push_back({rows[i].variant, rows[i].clauses});
    add_summary_row(in, rows[i]);
  }
  std::vector<std::string> shown = visible;
  for (const auto& v : visible) {
    bool known = false;
    for (const auto& r : rows) known = known || r.variant == v;
    if (!known) {
      std::string names;
      for (const auto& r : rows) names += (names.empty() ? "" : ", ") + r.variant;
      throw core::InputError("no variant '" + v + "' in this comparison",
                             {"", 0, 0, "--report-variants"}, "choose from " + names);
    }
  }
  if (shown.empty()) {
    shown.push_back("none");
    const RunReport* cheapest = nullptr;
    for (const auto& r : rows)
      if (!r.clauses.empty() && all_pass(r.clauses) &&
          (!cheapest || r.costs.energy_overhead_pct < cheapest->costs.energy_overhead_pct))
        cheapest = &r;
    if (cheapest) shown.push_back(cheapest->variant);
    shown.push_back(mix_name(sc));
  }
  for (const auto& r : rows)
    if (std::find(shown.begin(), shown.end(), r.variant) == shown.end()) in.hidden.push_back(r.variant);
  return in;
}

}  // namespace keel::power
