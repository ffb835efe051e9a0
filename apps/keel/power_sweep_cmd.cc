// `keel power sweep`: a scenario over a grid of parameter values, one CSV row per point. Under
// `mpirun -np N` (OpenMPI's environment says so) the points are dealt to whichever rank asks
// next and gathered on rank 0, which writes them in point order: the output equals one rank's.
#include <chrono>
#include <exception>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "mpi_ranks.h"
#include "keel/core/atomic_file.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"
#include "keel/power/spec.h"
#include "keel/power/sweep.h"

namespace keel::cli {

namespace {

struct SweepArgs {
  std::string scenario, grid, spec, out;
};

void run_sweep(const SweepArgs& a, const GlobalOptions& g) {
  const auto t0 = std::chrono::steady_clock::now();
  Ranks ranks;
  // Every rank reads and checks the inputs: a bad file fails everywhere with the same line.
  power::Spec spec = a.spec.empty() ? power::Spec{} : power::load_spec(a.spec);
  power::Sweep sweep(a.scenario, power::load_sweep(a.grid), spec);
  const std::size_t n = sweep.grid().points();
  std::map<std::size_t, std::string> mine;
  core::Progress bar("sweep", n, ranks.rank() == 0 && core::progress_enabled(g.quiet), "point");
  std::exception_ptr error;  // rethrown as it was: bad input stays exit 2
  ranks.deal(n);
  try {
    while (const auto p = ranks.next()) {
      mine[*p] = sweep.row(*p);
      bar.update(ranks.dealt());
    }
  } catch (const std::exception&) {
    error = std::current_exception();
    ranks.leave();
  }
  bar.finish();
  core::log_debug("sweep rank {}/{}: {} points in {:.3f} s", ranks.rank(), ranks.size(), mine.size(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (ranks.any(error != nullptr)) {
    // A failing rank prints its own line before any rank may exit: mpirun kills the rest of the
    // job at the first non-zero exit, which could otherwise cut that line off.
    int code = 1;
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const core::Error& e) {
        std::cerr << "keel: error: " << one_line(e.what()) << std::endl;
        code = e.exit_code();
      } catch (const std::exception& e) {
        std::cerr << "keel: error: " << one_line(e.what()) << std::endl;
      }
    }
    ranks.barrier();
    if (error) throw AlreadyReported(code);
    throw core::Error(fmt::format("sweep: another rank failed (rank {} of {} stops)", ranks.rank(),
                                  ranks.size()));
  }
  const auto rows = ranks.gather(mine);
  core::log_debug("sweep rank {}: gathered at {:.3f} s", ranks.rank(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (ranks.rank() != 0) return;
  std::string csv = sweep.header() + "\n";
  for (const auto& [p, r] : rows) csv += r + "\n";
  if (a.out.empty()) {
    std::cout << csv;
  } else {
    core::AtomicFile f(a.out);
    f.stream() << csv;
    f.commit();
    std::size_t pass = 0;
    for (const auto& [p, r] : rows) pass += r.find(",PASS,") != std::string::npos;
    if (g.json)
      print_out(nlohmann::json{
          {"out", a.out}, {"points", rows.size()}, {"pass", pass}, {"ranks", ranks.size()}}
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    else if (!g.quiet)
      print_out(fmt::format("wrote {} ({} points, {} pass the spec; {} rank(s))", a.out,
                            rows.size(), pass, ranks.size()));
  }
}

}  // namespace

void register_power_sweep(CLI::App& power, const GlobalOptions& global) {
  auto a = std::make_shared<SweepArgs>();
  auto* s = power.add_subcommand(
      "sweep",
      "Evaluate a scenario over a grid of parameter values (one CSV row per point; split over "
      "ranks under mpirun)");
  s->add_option("scenario", a->scenario, "Scenario TOML")->required()->check(CLI::ExistingFile);
  s->add_option("--grid", a->grid,
                "Sweep TOML: a [sweep] table listing values per scenario key, e.g. "
                "\"mitigation.smoothing.percent_tmp_floor\" = [50, 70, 90]")
      ->required()
      ->check(CLI::ExistingFile);
  s->add_option("--spec", a->spec, "Utility spec TOML each point is judged against")
      ->check(CLI::ExistingFile);
  s->add_option("--out", a->out, "CSV to write (default: stdout)")->check(OutputFile);
  s->callback([a, &global] { run_sweep(*a, global); });
}

}  // namespace keel::cli
