#pragma once
// Human and machine renderings of power results, and the trace file.

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "keel/power/analysis.h"

namespace keel::power {

// The 10-second summary: levels, swing, ramps, spectrum, costs, storage, PASS/FAIL per clause.
std::string format_summary(const Scenario& sc, const Spec& spec, const RunReport& r);
// The comparison table, one row per variant.
std::string format_comparison(const Scenario& sc, const Spec& spec,
                              const std::vector<RunReport>& rows);

nlohmann::json to_json(const RunReport& r);
nlohmann::json spec_json(const Spec& spec);

// CSV: time_s, facility_mw, grid_mw[, soc][, rack_<i>_kw ...]; written atomically. With
// step_ms above the simulation's step, each row is the mean of the steps in its interval (energy
// kept; rows start at multiples of step_ms). time_s has enough decimals to tell steps apart.
void write_trace_csv(const std::filesystem::path& path, const SimResult& r, double step_ms = 0);
// `compare --trace`: time_s, then <variant>_grid_mw per variant, the same decimation.
void write_compare_trace_csv(const std::filesystem::path& path,
                             const std::vector<std::string>& variants,
                             const std::vector<std::vector<double>>& grid_w, double step_s,
                             double step_ms = 0);
// Decimals of time_s that print every multiple of `step_s` exactly (at least 3, at most 9).
int time_decimals(double step_s);
// Throws core::InputError unless trace_step_ms is a whole multiple of the simulation step (rows
// are means of whole steps; the last row may cover fewer when the run does not divide evenly).
void check_trace_step(double sim_step_ms, double trace_step_ms);
// Simulation steps per output row for `step_ms` (1 when step_ms <= 0; checked as above).
std::size_t block_of(double sim_step_s, double step_ms);
// Mean of v[k0, k1).
double block_mean(const std::vector<double>& v, std::size_t k0, std::size_t k1);

}  // namespace keel::power
