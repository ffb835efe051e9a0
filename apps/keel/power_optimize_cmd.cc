// `keel power optimize`: argument parsing and output only; the search is keel::power::optimize.
#include <fmt/format.h>

#include <memory>
#include <thread>

#include "cli.h"
#include "mpi_ranks.h"
#include "keel/core/error.h"
#include "keel/core/progress.h"
#include "keel/core/table.h"
#include "keel/power/optimize.h"
#include "keel/power/html_report.h"
#include "keel/power/report.h"
#include "keel/power/report_series.h"
#include "keel/power/sim.h"

namespace keel::cli {

namespace {

struct OptimizeArgs {
  std::string scenario, spec, report;
  power::OptimizeOptions opt;
  int threads = 0;
  int show = 12;
};

nlohmann::json candidate_json(const power::Candidate& c) {
  nlohmann::json j = power::to_json(c.report);
  j["settings"] = power::mitigations_json(c.scenario);
  j["settings_text"] = power::describe_mitigations(c.scenario);
  j["cost"]["total"] = c.cost;
  j["cost"]["storage_mwh"] = c.storage_mwh;
  j["cost"]["storage_mw"] = c.storage_mw;
  return j;
}

std::string front_table(const power::OptimizeResult& r, int show) {
  core::Table t({"#", "mix", "cost", "energy +%", "slow +%", "storage MWh", "settings"});
  t.set_align(6, core::Table::Align::left);
  int n = 0;
  for (int i : r.pareto) {
    if (n++ >= show) break;
    const auto& c = r.explored[static_cast<std::size_t>(i)];
    t.add_row({std::to_string(i), c.mix, fmt::format("{:.2f}", c.cost),
               fmt::format("{:+.2f}", c.report.costs.energy_overhead_pct),
               fmt::format("{:+.2f}", c.report.costs.slowdown_pct),
               fmt::format("{:.2f}", c.storage_mwh), power::describe_mitigations(c.scenario)});
  }
  return t.render();
}

void run_optimize(OptimizeArgs& a, const GlobalOptions& g) {
  power::Scenario sc = power::load_scenario(a.scenario);
  power::Spec spec = power::load_spec(a.spec);
  // Under mpirun the ranks share each batch's simulations (every rank runs the same search);
  // rank 0 prints and writes.
  Ranks ranks;
  a.opt.ranks = {ranks.rank(), ranks.size(), [&ranks](std::vector<double>& v) { ranks.sum(v); }};
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  a.opt.threads = a.threads > 0 ? a.threads : std::max(1, cores / ranks.size());
  core::Progress bar("optimize", static_cast<std::uint64_t>(a.opt.budget),
                     ranks.rank() == 0 && core::progress_enabled(g.quiet), "sim");
  a.opt.progress = [&](int done, int) { bar.update(static_cast<std::uint64_t>(done)); };
  power::OptimizeResult r = power::optimize(sc, spec, a.opt);
  bar.finish();
  if (ranks.rank() != 0) {
    if (r.best < 0) throw core::Error("no compliant mitigation found", core::Location{a.spec, 0, 0, {}});
    return;
  }
  const power::Candidate* best = r.best >= 0 ? &r.explored[static_cast<std::size_t>(r.best)] : nullptr;
  if (best && !a.report.empty()) {
    // The chosen mix beside the unmitigated job, as `simulate --report` draws it.
    const power::SimResult run = power::simulate(best->scenario);
    const power::SimResult base = power::simulate(power::without_mitigations(sc));
    power::write_html_report(a.report, power::simulate_report_input(best->scenario, spec, best->report,
                                                                    run, &base, a.scenario));
  }
  if (g.json) {
    nlohmann::json j = {{"scenario", sc.name}, {"spec", power::spec_json(spec)},
                        {"evaluated", r.explored.size()}, {"seed", a.opt.seed},
                        {"budget", a.opt.budget}, {"margin_pct", a.opt.margin_pct},
                        {"converged", r.converged}, {"convergence", r.convergence},
                        {"weights", {{"energy_pct", a.opt.weights.energy_pct},
                                     {"slowdown_pct", a.opt.weights.slowdown_pct},
                                     {"storage_mwh", a.opt.weights.storage_mwh},
                                     {"storage_mw", a.opt.weights.storage_mw}}}};
    j["best"] = best ? candidate_json(*best) : nlohmann::json();
    if (best) j["best"]["toml"] = power::mitigations_toml(best->scenario);
    j["pareto"] = nlohmann::json::array();
    for (int i : r.pareto) j["pareto"].push_back(candidate_json(r.explored[static_cast<std::size_t>(i)]));
    print_out(j.dump(2));
  } else {
    std::string out = fmt::format("scenario {}; spec {}{}{}; {} simulations (budget {}), seed {}\n",
                                  sc.name, spec.name, spec.illustrative ? " (illustrative)" : "",
                                  a.opt.margin_pct > 0
                                      ? fmt::format(", every clause within {:g} % of its limit",
                                                    100 - a.opt.margin_pct)
                                      : "",
                                  r.explored.size(), a.opt.budget, a.opt.seed);
    out += "search    " + r.convergence + "\n";
    if (!best) {
      out += "no explored mix passes every clause (raise --budget or widen the mitigations)\n";
    } else {
      out += fmt::format("cheapest compliant: {} (cost {:.2f})\n  {}\n", best->mix, best->cost,
                         power::describe_mitigations(best->scenario));
      out += fmt::format("  energy overhead {:+.2f} %, slowdown {:+.2f} %, storage {:.2f} MWh / {:.1f} MW\n",
                         best->report.costs.energy_overhead_pct, best->report.costs.slowdown_pct,
                         best->storage_mwh, best->storage_mw);
      for (const auto& c : best->report.clauses)
        out += fmt::format("  {:<16} {:>9.3f} {:<8} limit {:>9.3f} ({:.0f} % of it)\n", c.name,
                           c.value, c.unit, c.limit, c.limit > 0 ? 100 * c.value / c.limit : 0.0);
      out += "\nTo use it, put these tables in the scenario:\n\n" +
             power::mitigations_toml(best->scenario) + "\n";
      out += fmt::format("Pareto front (compliant, non-dominated in energy, slowdown, storage; {} "
                         "of {}):\n", std::min<std::size_t>(r.pareto.size(), static_cast<std::size_t>(a.show)), r.pareto.size());
      out += front_table(r, a.show);
    }
    print_out(out);
  }
  if (!best) throw core::Error("no compliant mitigation found", core::Location{a.spec, 0, 0, {}});
}

}  // namespace

void register_power_optimize(CLI::App& power, const GlobalOptions& global) {
  auto a = std::make_shared<OptimizeArgs>();
  auto* cmd = power.add_subcommand(
      "optimize", "Search mitigation settings for the cheapest mix that passes a spec");
  cmd->add_option("scenario", a->scenario, "Scenario TOML (its mitigation tables seed the search)")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("--spec", a->spec, "Utility spec TOML to comply with")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("--budget", a->opt.budget,
                  "Most simulations in all (the search stops earlier once it has converged)")
      ->capture_default_str()
      ->check(CLI::Range(8, 100000));
  cmd->add_option("--margin-pct", a->opt.margin_pct,
                  "Safety margin: a mix complies only with every clause at most (100 - this) % "
                  "of its limit")
      ->capture_default_str()
      ->check(Finite & CLI::Range(0.0, 99.0));
  cmd->add_option("--report", a->report,
                  "Write an HTML report of the chosen mix beside the unmitigated job")
      ->check(OutputFile);
  cmd->add_option("--seed", a->opt.seed, "Search seed")->check(NonNegative)->capture_default_str();
  cmd->add_option("--threads", a->threads, "Parallel simulations (default: cores)")
      ->check(Positive);
  cmd->add_option("--weight-energy", a->opt.weights.energy_pct, "Cost per % of energy overhead")
      ->capture_default_str()->check(NonNegative);
  cmd->add_option("--weight-slowdown", a->opt.weights.slowdown_pct, "Cost per % of slowdown")
      ->capture_default_str()->check(NonNegative);
  cmd->add_option("--weight-storage-mwh", a->opt.weights.storage_mwh, "Cost per MWh of storage")
      ->capture_default_str()->check(NonNegative);
  cmd->add_option("--weight-storage-mw", a->opt.weights.storage_mw, "Cost per MW of storage")
      ->capture_default_str()->check(NonNegative);
  cmd->add_option("--show", a->show, "Rows of the Pareto front to print")->capture_default_str();
  cmd->callback([a, &global] { run_optimize(*a, global); });
}

}  // namespace keel::cli
