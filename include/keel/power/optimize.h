#pragma once
// Cheapest compliant mitigation: searches mitigation parameters (software floor and ramps, GPU
// smoothing floor and ramp rates, storage energy and power) and their combinations for the set that
// passes every spec clause at the least cost, and keeps the Pareto front of what it explored.
//
// Search: every combination of the scenario's own settings first (so a configured mix that passes
// is always found), then seeded random samples of each combination over documented ranges, then
// rounds of local refinement around the cheapest candidates with shrinking steps. Deterministic
// for a seed whatever the thread count: candidates are drawn before they are evaluated.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

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
  int budget = 240;  // simulations in all
  int threads = 1;
  std::uint64_t seed = 1;
  // Called after each batch with (evaluated, budget).
  std::function<void(int, int)> progress;
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
};

// Throws core::InputError when the spec has no limits (nothing to comply with).
OptimizeResult optimize(const Scenario& sc, const Spec& spec, const OptimizeOptions& opt);

// One line per setting of the candidate's enabled mitigations, e.g. "smoothing floor 70 %, ...".
std::string describe_mitigations(const Scenario& sc);

}  // namespace keel::power
