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

// CSV: time_s, facility_mw, grid_mw[, soc][, rack_<i>_kw ...]; written atomically.
void write_trace_csv(const std::filesystem::path& path, const SimResult& r);

}  // namespace keel::power
