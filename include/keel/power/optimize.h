#pragma once
// Cheapest compliant mitigation: searches mitigation parameters (software floor and ramps, GPU
// smoothing floor and ramp rates, storage energy and power) and their combinations for the set that
// passes every spec clause at the least cost, and keeps the Pareto front of what it explored.
//
// Search: every combination of the scenario's own settings first (so a configured mix that passes
// is always found); seeded random samples of every combination over documented ranges; then a
// pattern search (compass steps along each knob, halved when no neighbour improves, until below
// the resolution) in every combination from its best point, and more from distinct points in the
// combinations that came out best. The search has converged when at least two independent searches of the winning mix
// end within `agree_pct` of its cost; otherwise the result says it has not (and why). The budget
// is a cap: searches stop early once converged. Deterministic for a seed whatever the thread
// count: candidates are drawn before they are evaluated.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "keel/power/analysis.h"
#include "keel/power/scenario.h"
#include "keel/power/spec.h"

namespace keel::power {

// Cost = energy * energy overhead % + slowdown * slowdown % + storage_mwh * MWh + storage_mw * MW,
// in the user's units (default: one unit per % of energy).
struct CostWeights {
  double energy_pct = 1.0;
  double slowdown_pct = 3.0;
  double storage_mwh = 2.0;
  double storage_mw = 0.2;
};

struct OptimizeOptions {
  CostWeights weights;
  int budget = 2000;  // most simulations in all (the search stops earlier once converged)
  int threads = 1;
  std::uint64_t seed = 1;
  // A candidate complies only with every clause at most (100 - margin_pct) % of its limit.
  double margin_pct = 0;
  int samples_per_mix = 12;  // random samples of each combination before the local searches
  int mixes_refined = 2;     // combinations that get more local searches (the best ones)
  int starts = 3;            // independent local searches in each of those (one in the others)
  double min_step = 1.0 / 32;  // pattern-search resolution in the unit cube of the knobs
  double agree_pct = 5.0;      // convergence: independent searches agree within this
  // Called after each batch with (evaluated, budget).
  std::function<void(int, int)> progress;
  // Several processes (MPI ranks) share the evaluations: candidate i of each batch is simulated
  // by process i % size, and `sum` adds a vector element-wise over all processes (an allreduce)
  // so that every process continues the same search. The result equals one process's.
  struct Ranks {
    int rank = 0, size = 1;
    std::function<void(std::vector<double>&)> sum;
  } ranks;
};

struct Candidate {
  Scenario scenario;  // the mitigation settings tried (software/smoothing/storage tables)
  std::string mix;    // "software+storage", ...
  RunReport report;
  double storage_mwh = 0, storage_mw = 0;
  double cost = 0;
  double violation = 0;  // sum over failing clauses of (value / limit - 1); 0 when compliant
  bool pass = false;
  bool from_scenario = false;  // the scenario's own settings (first stage), not a searched point
};

struct OptimizeResult {
  std::vector<Candidate> explored;  // in evaluation order
  int best = -1;                    // index of the cheapest compliant candidate, -1 if none
  std::vector<int> pareto;          // compliant, non-dominated in (energy %, slowdown %, storage MWh)
  bool converged = false;
  std::string convergence;          // what the convergence test found, in a sentence
  int searches = 0, searches_finished = 0;  // local searches started / run to their resolution
};

// Throws core::InputError when the spec has no limits (nothing to comply with).
OptimizeResult optimize(const Scenario& sc, const Spec& spec, const OptimizeOptions& opt);

// One line per setting of the candidate's enabled mitigations, e.g. "smoothing floor 70 %, ...".
std::string describe_mitigations(const Scenario& sc);
// The chosen settings as [mitigation.*] TOML tables to paste into the scenario (enabled = false
// for the scenario's other mitigation tables), and as structured JSON.
std::string mitigations_toml(const Scenario& sc);
nlohmann::json mitigations_json(const Scenario& sc);

}  // namespace keel::power
