#include "keel/power/trace_html.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "keel/power/report_series.h"
#include "keel/power/spectrum.h"

namespace keel::power {

namespace {
constexpr double kToMw = 1e-6;

// The first lines of the log, so the report shows what was read (binary tails cut off).
std::string head_of(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary);
  std::string out, line;
  for (int i = 0; i < lines && std::getline(in, line); ++i) {
    line.erase(std::remove(line.begin(), line.end(), '\0'), line.end());
    out += line + "\n";
  }
  return out;
}
}  // namespace

ReportInput analyze_report_input(const TraceAnalysis& a, const Spec& spec,
                                 const std::string& trace_path) {
  const std::vector<double>& w = a.grid.total_w;
  const double step = a.grid.step_s, dur = step * static_cast<double>(w.size());
  ReportInput in;
  in.title = fmt::format("{}: measured power", std::filesystem::path(trace_path).filename().string());
  in.subtitle = fmt::format("{} GPU(s) in the file{}, {:.1f} s resampled at {:g} ms; spec: {}{}",
                            a.gpus_in_file,
                            a.scale_gpus ? fmt::format(", scaled to {} synchronous GPUs", *a.scale_gpus) : "",
                            dur, step * 1e3, spec.name, spec.illustrative ? " (illustrative)" : "");
  in.spec = spec;
  const std::string label = a.scale_gpus ? "measured, scaled" : "measured";
  const std::size_t buckets = 5000;
  in.power.x = decimated_time(w.size(), step, buckets);
  in.power.add(label, decimate_min_max(w, buckets, kToMw));
  // Zoom: three periods of the dominant line (or 10 s), in the middle of the log.
  double len = a.metrics.dominant_hz > 0 ? 3.0 / a.metrics.dominant_hz : 10.0;
  len = std::min(len, dur);
  double start = std::clamp(0.5 * (dur - len), 0.0, std::max(0.0, dur - len));
  in.zoom.x = window_time(w.size(), step, start, start + len);
  in.zoom.add(label, window_values(w, step, start, start + len, kToMw));
  if (w.size() >= 4) {
    ThinSpectrum s = thin_spectrum(welch(w, step, spec.segment_s), 1500, kToMw);
    in.spectrum.x = s.freq_hz;
    in.spectrum.add(label, s.amplitude);
  }
  in.clauses.push_back({label, a.clauses});
  in.config_name = std::filesystem::path(trace_path).filename().string() + " (first lines)";
  for (const auto& warn : a.warnings) in.config_text += "# warning: " + warn + "\n";
  in.config_text += head_of(trace_path, 40);
  return in;
}

}  // namespace keel::power
