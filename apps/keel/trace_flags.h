#pragma once
// The flags `keel power analyze`, `watch` and (reading only) `fit` share: how to read a power
// log, and how to scale it (trace_in.h, trace_report.h).

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "keel/power/scenario.h"
#include "keel/power/trace_in.h"
#include "keel/power/trace_report.h"

namespace keel::cli {

struct TraceFlags {
  std::string format = "auto", columns, facility;
  std::string time_col, gpu_col, power_col, power_cols, power_unit, time_unit;
  int scale_gpus = 0;
  double resample_ms = 0, dmon_delay_ms = 0;

  static std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= s.size()) {
      std::size_t end = s.find(',', pos);
      if (end == std::string::npos) end = s.size();
      std::string c = s.substr(pos, end - pos);
      c.erase(0, c.find_first_not_of(' '));
      c.erase(c.find_last_not_of(' ') + 1);
      if (!c.empty()) out.push_back(c);
      pos = end + 1;
    }
    return out;
  }

  power::TraceReadOptions read() const {
    power::TraceReadOptions ro;
    ro.format = format == "nvidia-smi" ? power::TraceFormat::nvidia_smi
                : format == "dcgm"     ? power::TraceFormat::dcgm
                : format == "csv"      ? power::TraceFormat::csv
                : format == "nvml"     ? power::TraceFormat::nvml
                                       : power::TraceFormat::automatic;
    ro.columns = split(columns);
    ro.time_col = time_col;
    ro.gpu_col = gpu_col;
    ro.power_col = power_col;
    ro.power_cols = split(power_cols);
    ro.power_unit = power_unit;
    ro.time_unit = time_unit;
    if (dmon_delay_ms > 0) ro.dmon_delay_ms = dmon_delay_ms;
    return ro;
  }

  power::AnalyzeOptions analyze() const {
    power::AnalyzeOptions ao;
    if (scale_gpus > 0) ao.scale_gpus = scale_gpus;
    if (!facility.empty()) ao.facility = power::load_facility(facility);
    if (resample_ms > 0) ao.resample.step_s = resample_ms * 1e-3;
    return ao;
  }

  // The reading flags and the scaling ones (analyze, watch).
  void add(CLI::App& cmd, const CLI::Validator& positive) {
    cmd.add_option("--scale-gpus", scale_gpus,
                   "Scale the file's summed power to N GPUs (assumes synchronous GPUs)")
        ->check(positive);
    cmd.add_option("--facility", facility,
                   "Add a facility's overheads to the GPU power: the [facility] table of this "
                   "scenario TOML (servers' base power, PSU losses, cooling, fixed overhead)")
        ->check(CLI::ExistingFile);
    cmd.add_option("--resample-ms", resample_ms,
                   "Uniform grid step in ms (default: the median sampling interval)")
        ->check(positive);
    add_read(cmd, positive);
  }

  // How to read a log: format, columns and units (fit reads one GPU's samples as they are).
  void add_read(CLI::App& cmd, const CLI::Validator& positive) {
    cmd.add_option("--format", format, "auto|nvidia-smi|dcgm|csv|nvml (default auto)")
        ->check(CLI::IsMember({"auto", "nvidia-smi", "dcgm", "csv", "nvml"}));
    cmd.add_option("--time-col", time_col, "Table logs: the time column");
    cmd.add_option("--gpu-col", gpu_col,
                   "Table logs in long form (one row per GPU sample): the GPU id column");
    cmd.add_option("--power-col", power_col, "Table logs in long form: the power column");
    cmd.add_option("--power-cols", power_cols,
                   "Table logs in wide form: the power columns, one per GPU (comma-separated)");
    cmd.add_option("--power-unit", power_unit, "Power unit of table logs (else from the header)")
        ->check(CLI::IsMember({"W", "mW", "kW"}));
    cmd.add_option("--time-unit", time_unit,
                   "Unit of numeric times in table logs (else from the header, or epoch by size)")
        ->check(CLI::IsMember({"s", "ms", "us", "ns"}));
    cmd.add_option("--columns", columns,
                   "For nvidia-smi logs written with noheader: the --query-gpu list, e.g. "
                   "timestamp,index,power.draw.instant; for a keel compare trace: the column, "
                   "e.g. storage_grid_mw");
    cmd.add_option("--dmon-delay-ms", dmon_delay_ms,
                   "For dcgmi dmon logs (no time column): the -d delay it ran with")
        ->check(positive);
  }
};

}  // namespace keel::cli
