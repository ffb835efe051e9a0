#pragma once
// The HTML report: one self-contained file (uPlot, its CSS and the data inline; works offline,
// opened from disk) with zoomable plots of power over time, a zoom on a few iterations, battery
// state of charge, the spectrum against the spec's band and limit, the PASS/FAIL table and the
// echoed configuration. simulate, compare and (measured series) analyze fill a ReportInput;
// report_series.h builds its parts from simulation results.

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "keel/power/analysis.h"
#include "keel/power/spec.h"

namespace keel::power {

// Named curves over one shared x axis (time in s, or frequency in Hz). NaN values are gaps.
struct Plot {
  std::vector<double> x;
  std::vector<std::pair<std::string, std::vector<double>>> traces;  // each as long as x

  bool empty() const { return traces.empty() || x.empty(); }
  void add(std::string name, std::vector<double> values);  // checks the length
};

// One row of the PASS/FAIL table (a variant, or a measured series).
struct ClauseRow {
  std::string label;
  std::vector<Clause> clauses;
};

struct ReportInput {
  std::string title;     // e.g. "pretrain-24k: mitigations compared"
  std::string subtitle;  // one line: GPUs, duration, step, spec
  Plot power;            // MW vs s over the whole window (decimated: report_series.h)
  Plot zoom;             // MW vs s over a few iterations, full resolution
  Plot soc;              // state of charge (0..1) vs s; empty: no storage, section left out
  Plot spectrum;         // amplitude MW vs Hz (x > 0; log axes)
  Spec spec;             // band and amplitude limit drawn on the spectrum
  std::vector<ClauseRow> clauses;
  std::string config_name, config_text;  // the scenario file echoed (escaped)
  // Traces drawn unticked at first (a click on the legend shows them): many variants at once
  // overplot into one colour.
  std::vector<std::string> hidden;
  // The numbers beside the plots: one row per variant (peak, mean, energy, costs, verdict).
  std::vector<std::string> summary_header;
  std::vector<std::vector<std::string>> summary_rows;
};

// The page. Throws Error when a plot's traces do not match its x axis.
std::string render_html_report(const ReportInput& in);
// Writes the page atomically (core::AtomicFile): whole or not at all.
void write_html_report(const std::filesystem::path& path, const ReportInput& in);

}  // namespace keel::power
