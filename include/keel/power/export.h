#pragma once
// A simulation's power series in the formats grid studies read:
// - COMTRADE (IEEE C37.111-2013): a .cfg describing the channels and sampling, and a .dat of
//   samples, ASCII or binary (16-bit samples scaled per channel: value = a * raw + b);
// - OpenDSS: a Loadshape (per-unit `mult` file, `sinterval` in seconds) and a .dss snippet that
//   defines it and a Load following it in duty-cycle mode.
// Written here: neither format has a library in Debian; both are short text/binary layouts.

#include <filesystem>
#include <string>
#include <vector>

#include "keel/power/scenario.h"
#include "keel/power/sim.h"

namespace keel::power {

struct ExportChannel {
  std::string name, unit;  // e.g. "grid", "MW"
  std::vector<double> values;
};

struct ExportSeries {
  std::string station;  // the scenario's name
  double step_s = 0;
  std::vector<ExportChannel> channels;
};

// grid, facility and per-job power (MW; jobs when the run traced them), battery power (MW,
// positive when discharging) and state of charge (%) with storage; rows are means over
// `trace_step_ms` (0: every step; checked like --trace-step-ms).
ExportSeries export_series(const Scenario& sc, const SimResult& r, double trace_step_ms);

enum class ComtradeFormat { ascii, binary };
// Writes DIR/<station>.cfg and DIR/<station>.dat (atomically; DIR is created). Returns the .cfg.
std::filesystem::path write_comtrade(const std::filesystem::path& dir, const ExportSeries& s,
                                     ComtradeFormat format);

struct OpenDssOptions {
  std::string bus = "datacenter";  // bus1 of the Load
  double kv = 34.5;                // its nominal line-to-line kV
  double pf = 0.98;
};
// Writes DIR/<station>_grid.csv (grid power per unit of its peak, one value per line) and
// DIR/<station>.dss (Loadshape npts/sinterval/mult=(file=...), and a Load with kW = the peak,
// duty = the shape). Returns the .dss.
std::filesystem::path write_opendss(const std::filesystem::path& dir, const ExportSeries& s,
                                    const OpenDssOptions& options);

}  // namespace keel::power
