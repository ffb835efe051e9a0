// `keel power analyze`: measured GPU power logs judged like simulated power. Parsing only here;
// the engine is keel::power (trace_in.h, trace_report.h).
#include <fmt/format.h>

#include <memory>

#include "cli.h"
#include "power_window.h"
#include "trace_flags.h"
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
  std::string spec, report;
  TraceFlags trace;
  bool align_clocks = false;
  bool strict = false;
  WindowArgs window;
};

void run_analyze(const AnalyzeArgs& a, const GlobalOptions& g) {
  power::Spec spec = a.spec.empty() ? power::Spec{} : power::load_spec(a.spec);
  apply_window(spec, a.window);
  const power::TraceReadOptions ro = a.trace.read();
  const power::AnalyzeOptions ao = a.trace.analyze();
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
  args->trace.add(*cmd, Positive);
  cmd->add_flag("--align-clocks", args->align_clocks,
                "Several files: shift each by its clock offset estimated against the first");
  cmd->add_option("--report", args->report,
                  "Write a self-contained HTML report with interactive plots to this file")
      ->check(OutputFile);
  cmd->add_flag("--strict", args->strict, "Exit 1 when any spec clause fails");
  cmd->callback([args, &global] { run_analyze(*args, global); });
}

}  // namespace keel::cli
