// `keel power analyze`: measured GPU power logs judged like simulated power. Parsing only here;
// the engine is keel::power (trace_in.h, trace_report.h).
#include <fmt/format.h>

#include <memory>

#include "cli.h"
#include "power_window.h"
#include "keel/core/error.h"
#include "keel/power/scenario.h"
#include "keel/power/spec.h"
#include "keel/power/trace_html.h"
#include "keel/power/trace_in.h"
#include "keel/power/trace_report.h"

namespace keel::cli {

namespace {

struct AnalyzeArgs {
  std::vector<std::string> traces;
  std::string spec, format = "auto", columns, report, facility;
  std::string time_col, gpu_col, power_col, power_cols, power_unit, time_unit;
  bool align_clocks = false;
  int scale_gpus = 0;
  double resample_ms = 0, dmon_delay_ms = 0;
  bool strict = false;
  WindowArgs window;
};

std::vector<std::string> split_columns(const std::string& s) {
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

void run_analyze(const AnalyzeArgs& a, const GlobalOptions& g) {
  power::Spec spec = a.spec.empty() ? power::Spec{} : power::load_spec(a.spec);
  apply_window(spec, a.window);
  power::TraceReadOptions ro;
  ro.format = a.format == "nvidia-smi" ? power::TraceFormat::nvidia_smi
              : a.format == "dcgm"     ? power::TraceFormat::dcgm
              : a.format == "csv"      ? power::TraceFormat::csv
              : a.format == "nvml"     ? power::TraceFormat::nvml
                                       : power::TraceFormat::automatic;
  ro.columns = split_columns(a.columns);
  ro.time_col = a.time_col;
  ro.gpu_col = a.gpu_col;
  ro.power_col = a.power_col;
  ro.power_cols = split_columns(a.power_cols);
  ro.power_unit = a.power_unit;
  ro.time_unit = a.time_unit;
  if (a.dmon_delay_ms > 0) ro.dmon_delay_ms = a.dmon_delay_ms;
  power::AnalyzeOptions ao;
  if (a.scale_gpus > 0) ao.scale_gpus = a.scale_gpus;
  if (!a.facility.empty()) ao.facility = power::load_facility(a.facility);
  if (a.resample_ms > 0) ao.resample.step_s = a.resample_ms * 1e-3;
  std::vector<power::ParsedTrace> parsed;
  for (const auto& t : a.traces) parsed.push_back(power::read_trace(t, ro));
  const std::string name = parsed.size() == 1 ? a.traces[0] : fmt::format("{} files", a.traces.size());
  power::TraceAnalysis res =
      power::analyze_trace(power::merge_traces(std::move(parsed), a.align_clocks), spec, ao);
  if (!a.report.empty())
    power::write_html_report(a.report, power::analyze_report_input(res, spec, name));
  if (g.json)
    print_out(power::trace_to_json(res, spec).dump(2));
  else
    print_out(power::format_trace_summary(res, spec));
  if (a.strict && !power::all_pass(res.clauses))
    throw core::Error("the trace fails the spec", core::Location{a.spec, 0, 0, {}});
}

}  // namespace

void register_power_analyze(CLI::App& power, const GlobalOptions& global) {
  auto args = std::make_shared<AnalyzeArgs>();
  auto* cmd = power.add_subcommand(
      "analyze",
      "Judge a measured GPU power log (nvidia-smi CSV, dcgmi dmon, DCGM CSV) or a keel trace");
  cmd->add_option("trace", args->traces,
                  "Power log(s): nvidia-smi --query-gpu CSV, dcgmi dmon text, DCGM CSV, any CSV "
                  "table (long or wide), NVML whitespace logs, or keel's own --trace CSV; several "
                  "files (one per node) are merged on their timestamps")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("--spec", args->spec, "Utility spec TOML to judge the power against")
      ->check(CLI::ExistingFile);
  add_window_options(*cmd, args->window);
  cmd->add_option("--scale-gpus", args->scale_gpus,
                  "Scale the file's summed power to N GPUs (assumes synchronous GPUs)")
      ->check(Positive);
  cmd->add_option("--facility", args->facility,
                  "Add a facility's overheads to the GPU power: the [facility] table of this "
                  "scenario TOML (servers' base power, PSU losses, cooling, fixed overhead)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--format", args->format, "auto|nvidia-smi|dcgm|csv|nvml (default auto)")
      ->check(CLI::IsMember({"auto", "nvidia-smi", "dcgm", "csv", "nvml"}));
  cmd->add_option("--time-col", args->time_col, "Table logs: the time column");
  cmd->add_option("--gpu-col", args->gpu_col,
                  "Table logs in long form (one row per GPU sample): the GPU id column");
  cmd->add_option("--power-col", args->power_col, "Table logs in long form: the power column");
  cmd->add_option("--power-cols", args->power_cols,
                  "Table logs in wide form: the power columns, one per GPU (comma-separated)");
  cmd->add_option("--power-unit", args->power_unit, "Power unit of table logs (else from the header)")
      ->check(CLI::IsMember({"W", "mW", "kW"}));
  cmd->add_option("--time-unit", args->time_unit,
                  "Unit of numeric times in table logs (else from the header, or epoch by size)")
      ->check(CLI::IsMember({"s", "ms", "us", "ns"}));
  cmd->add_flag("--align-clocks", args->align_clocks,
                "Several files: shift each by its clock offset estimated against the first");
  cmd->add_option("--resample-ms", args->resample_ms,
                  "Uniform grid step in ms (default: the median sampling interval)")
      ->check(Positive);
  cmd->add_option("--columns", args->columns,
                  "For nvidia-smi logs written with noheader: the --query-gpu list, e.g. "
                  "timestamp,index,power.draw.instant; for a keel compare trace: the column, "
                  "e.g. storage_grid_mw");
  cmd->add_option("--dmon-delay-ms", args->dmon_delay_ms,
                  "For dcgmi dmon logs (no time column): the -d delay it ran with")
      ->check(Positive);
  cmd->add_option("--report", args->report,
                  "Write a self-contained HTML report with interactive plots to this file");
  cmd->add_flag("--strict", args->strict, "Exit 1 when any spec clause fails");
  cmd->callback([args, &global] { run_analyze(*args, global); });
}

}  // namespace keel::cli
