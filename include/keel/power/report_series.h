#pragma once
// Turns simulation results into the bounded series an HTML report plots (html_report.h): long
// runs are decimated to min/max per time bucket, a few iterations are kept at full resolution,
// spectra are thinned on a log axis. What is kept per run does not grow with the run's length,
// so compare() can hand every variant over (RunObserver) without holding its full series.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "keel/power/analysis.h"
#include "keel/power/html_report.h"
#include "keel/power/scenario.h"
#include "keel/power/sim.h"

namespace keel::power {

// What to keep of each run.
struct ReportWindow {
  std::size_t buckets = 5000;         // overview: 2 points per bucket (min, max)
  double zoom_start_s = 0, zoom_end_s = 0;
  std::size_t spectrum_points = 1500; // log-spaced, largest line per bucket
};

// Zoom on three iterations of the first job, halfway through its run.
ReportWindow choose_report_window(const Scenario& sc);

// Overview of a series of n samples, step_s apart: each bucket of consecutive samples gives its
// minimum then its maximum, at the bucket's start and middle. Series of the same n, step_s and
// buckets share these times (decimated_time), so they plot on one axis. Fewer samples than
// 2 x buckets are kept as they are.
std::vector<double> decimated_time(std::size_t n, double step_s, std::size_t buckets);
std::vector<double> decimate_min_max(const std::vector<double>& v, std::size_t buckets,
                                     double scale = 1.0);

// Samples of [start_s, end_s) at full resolution (times and values x scale).
std::vector<double> window_time(std::size_t n, double step_s, double start_s, double end_s);
std::vector<double> window_values(const std::vector<double>& v, double step_s, double start_s,
                                  double end_s, double scale = 1.0);

// A spectrum thinned to about `points` log-spaced buckets above 0 Hz, each keeping its largest
// line (limits are on peaks). The frequency axis depends only on the spectrum's bins, so spectra
// of equal length and segment share it.
struct ThinSpectrum {
  std::vector<double> freq_hz, amplitude;
};
ThinSpectrum thin_spectrum(const Spectrum& s, std::size_t points, double scale = 1.0);

// The bounded copy of one run a report keeps.
struct RunSeries {
  std::vector<double> time_s, grid_mw, facility_mw;  // overview; facility only with storage
  std::vector<double> zoom_time_s, zoom_grid_mw, zoom_facility_mw;
  std::vector<double> soc;                           // overview; empty without storage
  ThinSpectrum spectrum;                             // of the grid power, MW
};
RunSeries capture_run(const SimResult& run, const Spec& spec, const ReportWindow& w);

// The report of `keel power simulate`: the run's grid power, its facility power before storage,
// and the unmitigated baseline (`base` null when the run has no mitigation).
ReportInput simulate_report_input(const Scenario& sc, const Spec& spec, const RunReport& rep,
                                  const SimResult& run, const SimResult* base,
                                  const std::string& config_path);
// (config_path is read and echoed; its name titles the scenario section.)
// The report of `keel power compare`: every variant's grid power, rows and series in the same order.
// `series` comes from capture_run with one ReportWindow for all. Drawn at first: `visible` (variant
// names; throws core::InputError naming an unknown one), or by default the unmitigated job, the
// cheapest passing mix (least energy overhead) and the scenario's own mix (`sc`'s enabled
// mitigations); the others are one legend click away.
ReportInput compare_report_input(const Scenario& sc, const Spec& spec,
                                 const std::vector<RunReport>& rows,
                                 const std::vector<RunSeries>& series,
                                 const std::string& config_path,
                                 const std::vector<std::string>& visible = {});

// A TOML text without its comments (full-line and trailing, strings respected) or blank runs.
std::string strip_toml_comments(std::string_view text);

}  // namespace keel::power
