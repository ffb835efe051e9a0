#pragma once
// What a power engineer reads: metrics of the grid-side power, the cost of the mitigations
// against an unmitigated baseline, and PASS/FAIL per spec clause. Also the side-by-side comparison
// of every combination of the scenario's mitigations.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "keel/power/scenario.h"
#include "keel/power/sim.h"
#include "keel/power/spec.h"
#include "keel/power/spectrum.h"

namespace keel::power {

struct Metrics {
  double peak_mw = 0, min_mw = 0, mean_mw = 0;
  double swing_mw = 0;  // largest max-min inside spec.swing_window_s
  double swing_pct_of_peak = 0;
  double ramp_up_mw_per_s = 0, ramp_down_mw_per_s = 0;  // over spec.ramp_window_s
  double dominant_hz = 0, dominant_amplitude_mw = 0;    // largest spectral line, f > 0
  double band_peak_hz = 0, band_amplitude_mw = 0;       // largest line in the critical band
  double band_rms_mw = 0, band_energy_fraction = 0;
  double energy_mwh = 0;
};

// Metrics of `power_w` inside the spec's evaluation window (all of it when none is set).
Metrics measure(const std::vector<double>& power_w, double step_s, const Spec& spec,
                Spectrum* spectrum_out = nullptr);
// The samples inside the spec's window; throws core::InputError when it holds fewer than 2.
std::vector<double> evaluation_window(const std::vector<double>& power_w, double step_s,
                                      const Spec& spec);

struct Clause {
  std::string name;
  double value = 0, limit = 0;
  std::string unit;
  bool pass = true;
};

std::vector<Clause> evaluate(const Metrics& m, const Spec& spec);
bool all_pass(const std::vector<Clause>& clauses);
// "PASS", "-" (no clause) or "FAIL: swing, band energy": which clauses failed, for every table.
std::string verdict(const std::vector<Clause>& clauses);

// Costs of the mitigations relative to the same scenario with none.
struct Costs {
  double energy_overhead_pct = 0;  // grid energy over the same window
  double slowdown_pct = 0;         // mean iteration time, first job
  double software_energy_mwh = 0, smoothing_energy_mwh = 0, storage_loss_mwh = 0;
  double power_burn_mwh = 0;  // psu storage's power burn at planned stops
};

struct MitigationCost {
  std::string name;
  Costs costs;
};

struct RunReport {
  std::string variant;
  std::vector<MitigationCost> per_mitigation;  // each enabled mitigation alone (simulate)
  Metrics metrics;
  Costs costs;
  std::vector<Clause> clauses;
  bool has_storage = false;
  bool coordinated = false;  // jobs' stats say how long each profile ran
  double soc_min = 0, soc_max = 0, storage_power_limited_pct = 0, storage_energy_limited_pct = 0;
  // EDP peaks over the whole run: the GPUs' most above TDP at once, and what they add to the
  // facility's peak over the peak with every GPU held at TDP (MW; 0 without EDP peaks).
  double gpu_above_tdp_mw = 0, edp_peak_excess_mw = 0;
  std::vector<JobStats> jobs;
  double step_ms = 0;
  std::int64_t steps = 0;  // time steps of the run
};

// The scenario with every mitigation switched off.
Scenario without_mitigations(Scenario sc);
RunReport make_report(const std::string& variant, const SimResult& run, const SimResult& baseline,
                      const Spec& spec, double step_ms);

// The cost of each mitigation the scenario enables, each simulated alone against `base` (the
// unmitigated run); a single mitigation is `combined` itself.
std::vector<MitigationCost> costs_of_each(const Scenario& sc, const SimResult& base,
                                          const Spec& spec, const RunReport& combined);

// Every combination of the mitigations the scenario configures ("none" first, all of them last);
// with [mitigation.coordinated], "coordinated" (and "software+coordinated") after
// "smoothing+storage" (and all three).
std::vector<std::pair<std::string, Scenario>> variants(const Scenario& sc);
// "none", "software", "smoothing+storage", ...: the name of a set of mitigations (mask bits:
// 1 software, 2 smoothing, 4 storage), or of a scenario's enabled ones.
std::string mix_name(int mask);
// "coordinated" for smoothing+storage under coordinated control ("software+coordinated").
std::string mix_name(int mask, bool coordinated);
std::string mix_name(const Scenario& sc);
// Sees each variant's full result (index in variants() order) before compare() drops it; called
// from the worker threads, at most once per index, so it may write slot i of a presized vector.
using RunObserver = std::function<void(std::size_t variant, const SimResult& run)>;

// Runs the variants on up to `threads` threads; reports in variant order.
std::vector<RunReport> compare(const Scenario& sc, const Spec& spec, int threads,
                               const RunObserver& observe = {});

}  // namespace keel::power
