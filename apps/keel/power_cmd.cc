// `keel power ...`: argument parsing and output only; the engine is keel::power.
#include <fmt/format.h>

#include <memory>
#include <thread>

#include "cli.h"
#include "power_window.h"
#include "keel/core/error.h"
#include "keel/core/progress.h"
#include "keel/power/analysis.h"
#include "keel/power/html_report.h"
#include "keel/power/export.h"
#include "keel/power/report.h"
#include "keel/power/report_series.h"
#include "keel/power/scenario.h"
#include "keel/power/sim.h"
#include "keel/power/spec.h"

namespace keel::cli {

namespace {

struct PowerArgs {
  std::string scenario, spec, trace, report;
  int trace_racks = 0;
  double trace_step_ms = 0;
  WindowArgs window;
  std::vector<std::string> report_variants;
  bool report_bare = false;
  int threads = 0;
  bool reference = false;
  bool strict = false;
  std::string export_comtrade, comtrade_format = "binary", export_opendss;
  power::OpenDssOptions opendss;
};

power::Spec spec_or_default(const std::string& path) {
  return path.empty() ? power::Spec{} : power::load_spec(path);
}

void run_simulate(const PowerArgs& a, const GlobalOptions& g) {
  power::Scenario sc = power::load_scenario(a.scenario);
  power::Spec spec = spec_or_default(a.spec);
  apply_window(spec, a.window);
  power::check_trace_step(sc.sim.step_ms, a.trace_step_ms);  // before minutes of simulation
  const std::string variant = power::mix_name(sc);
  const bool mitigated = variant != "none";
  core::Progress bar("simulate", static_cast<std::uint64_t>(sc.steps()) * (mitigated ? 2 : 1),
                     core::progress_enabled(g.quiet), "step");
  std::uint64_t done_before = 0;
  power::SimOptions opt;
  opt.trace_racks = a.trace_racks;
  opt.trace_jobs = !a.export_comtrade.empty() || !a.export_opendss.empty();
  opt.progress = [&](std::int64_t k, std::int64_t) { bar.update(done_before + static_cast<std::uint64_t>(k)); };
  auto sim = a.reference ? power::simulate_reference : power::simulate;
  power::SimResult run = sim(sc, opt);
  std::unique_ptr<power::SimResult> base;
  if (mitigated) {
    done_before = static_cast<std::uint64_t>(sc.steps());
    power::SimOptions bopt;
    bopt.progress = opt.progress;
    base = std::make_unique<power::SimResult>(sim(power::without_mitigations(sc), bopt));
  }
  bar.finish();
  power::RunReport rep = power::make_report(variant, run, base ? *base : run, spec, sc.sim.step_ms);
  if (base) rep.per_mitigation = power::costs_of_each(sc, *base, spec, rep);
  if (!a.trace.empty()) power::write_trace_csv(a.trace, run, a.trace_step_ms);
  if (opt.trace_jobs) {
    const power::ExportSeries series = power::export_series(sc, run, a.trace_step_ms);
    if (!a.export_comtrade.empty())
      power::write_comtrade(a.export_comtrade, series,
                            a.comtrade_format == "ascii" ? power::ComtradeFormat::ascii
                                                         : power::ComtradeFormat::binary);
    if (!a.export_opendss.empty()) power::write_opendss(a.export_opendss, series, a.opendss);
  }
  if (!a.report.empty()) {
    auto in = power::simulate_report_input(sc, spec, rep, run, base.get(), a.scenario);
    if (a.report_bare) in.config_text = power::strip_toml_comments(in.config_text);
    power::write_html_report(a.report, in);
  }
  if (g.json) {
    nlohmann::json j = {{"scenario", sc.name}, {"gpus", sc.total_gpus()},
                        {"duration_s", sc.sim.duration_s}, {"step_ms", sc.sim.step_ms},
                        {"spec", power::spec_json(spec)}, {"result", power::to_json(rep)}};
    print_out(j.dump(2));
  } else {
    print_out(power::format_summary(sc, spec, rep));
  }
  if (a.strict && !power::all_pass(rep.clauses))
    throw core::Error("the scenario fails the spec", core::Location{a.spec, 0, 0, {}});
}

void run_compare(const PowerArgs& a, const GlobalOptions& g) {
  power::Scenario sc = power::load_scenario(a.scenario);
  power::Spec spec = spec_or_default(a.spec);
  apply_window(spec, a.window);
  power::check_trace_step(sc.sim.step_ms, a.trace_step_ms);
  int threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // The report keeps a bounded copy of each variant's series (report_series.h).
  std::vector<power::RunSeries> series;
  // --trace keeps each variant's grid power (8 variants x 300 000 steps: 19 MB).
  std::vector<std::vector<double>> grid(a.trace.empty() ? 0 : power::variants(sc).size());
  double step_s = 0;
  power::RunObserver observe;
  if (!a.report.empty()) series.resize(power::variants(sc).size());
  if (!a.report.empty() || !a.trace.empty()) {
    observe = [&, w = power::choose_report_window(sc)](std::size_t i, const power::SimResult& r) {
      if (!series.empty()) series[i] = power::capture_run(r, spec, w);
      if (!grid.empty()) grid[i] = r.grid_w;
      step_s = r.step_s;
    };
  }
  auto rows = power::compare(sc, spec, threads, observe);
  if (!a.trace.empty()) {
    std::vector<std::string> names;
    for (const auto& r : rows) names.push_back(r.variant);
    power::write_compare_trace_csv(a.trace, names, grid, step_s, a.trace_step_ms);
  }
  if (!a.report.empty()) {
    auto in = power::compare_report_input(sc, spec, rows, series, a.scenario, a.report_variants);
    if (a.report_bare) in.config_text = power::strip_toml_comments(in.config_text);
    power::write_html_report(a.report, in);
  }
  if (g.json) {
    nlohmann::json j = {{"scenario", sc.name}, {"gpus", sc.total_gpus()},
                        {"spec", power::spec_json(spec)}, {"variants", nlohmann::json::array()}};
    for (const auto& r : rows) j["variants"].push_back(power::to_json(r));
    print_out(j.dump(2));
  } else {
    print_out(power::format_comparison(sc, spec, rows));
  }
}

}  // namespace

void register_power(CLI::App& app, const GlobalOptions& global) {
  auto* power = app.add_subcommand("power", "Datacenter power simulator for synchronous training");
  power->require_subcommand(1);
  auto args = std::make_shared<PowerArgs>();

  auto* sim = power->add_subcommand("simulate", "Simulate a scenario and judge it against a spec");
  sim->add_option("scenario", args->scenario, "Scenario TOML (see examples/power/)")
      ->required()->check(CLI::ExistingFile);
  sim->add_option("--spec", args->spec, "Utility spec TOML to judge the grid-side power against")
      ->check(CLI::ExistingFile);
  sim->add_option("--trace", args->trace, "Write the power time series to this CSV file")
      ->check(OutputFile);
  sim->add_option("--trace-racks", args->trace_racks, "Also trace the first N racks (AC kW)")
      ->check(NonNegative);
  sim->add_option("--trace-step-ms", args->trace_step_ms,
                  "One trace row per this many ms (the mean over it; default: every step)")
      ->check(Positive);
  add_window_options(*sim, args->window);
  sim->add_option("--export-comtrade", args->export_comtrade,
                  "Write IEEE C37.111-2013 COMTRADE (<scenario>.cfg + .dat) to this directory: "
                  "grid, facility, per-job and battery MW, SoC %; rows per --trace-step-ms");
  sim->add_option("--comtrade-format", args->comtrade_format, "ascii or binary .dat")
      ->capture_default_str()
      ->check(CLI::IsMember({"ascii", "binary"}));
  sim->add_option("--export-opendss", args->export_opendss,
                  "Write an OpenDSS Loadshape of the grid power (per-unit mult file, sinterval) "
                  "and a .dss snippet defining it and a Load to this directory");
  sim->add_option("--opendss-bus", args->opendss.bus, "bus1 of the OpenDSS Load")
      ->capture_default_str();
  sim->add_option("--opendss-kv", args->opendss.kv, "Nominal kV of the OpenDSS Load")
      ->capture_default_str()
      ->check(Positive);
  sim->add_option("--report", args->report,
                  "Write a self-contained HTML report with interactive plots to this file")
      ->check(OutputFile);
  sim->add_flag("--report-strip-comments", args->report_bare,
                "Echo the scenario in the report without its comments");
  sim->add_flag("--reference", args->reference,
                "Use the dense reference simulator (every GPU every step; slow)");
  sim->add_flag("--strict", args->strict, "Exit 1 when any spec clause fails");
  sim->callback([args, &global] { run_simulate(*args, global); });

  auto* cmp = power->add_subcommand(
      "compare", "Same job with no mitigation, each alone and combined, side by side");
  cmp->add_option("scenario", args->scenario, "Scenario TOML (see examples/power/)")
      ->required()->check(CLI::ExistingFile);
  cmp->add_option("--spec", args->spec, "Utility spec TOML")->check(CLI::ExistingFile);
  cmp->add_option("--trace", args->trace,
                  "Write every variant's grid power to this CSV file (time_s, <variant>_grid_mw...)")
      ->check(OutputFile);
  cmp->add_option("--trace-step-ms", args->trace_step_ms,
                  "One trace row per this many ms (the mean over it; default: every step)")
      ->check(Positive);
  add_window_options(*cmp, args->window);
  cmp->add_option("--threads", args->threads, "Variants simulated in parallel (default: cores)")
      ->check(Positive);
  cmp->add_option("--report-variants", args->report_variants,
                  "Variants drawn at first in the report, comma-separated (default: none, the "
                  "cheapest passing mix and the scenario's own; the rest are a legend click away)")
      ->delimiter(',');
  cmp->add_flag("--report-strip-comments", args->report_bare,
                "Echo the scenario in the report without its comments");
  cmp->add_option("--report", args->report,
                  "Write a self-contained HTML report with every variant's plots to this file")
      ->check(OutputFile);
  cmp->callback([args, &global] { run_compare(*args, global); });

  register_power_optimize(*power, global);
  register_power_analyze(*power, global);
  register_power_watch(*power, global);
  register_power_fit(*power, global);
  register_power_sweep(*power, global);
}

}  // namespace keel::cli
