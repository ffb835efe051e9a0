#pragma once
// Builds scenarios from TOML text for tests.

#include <functional>
#include <string>

#include "keel/core/config.h"
#include "keel/power/scenario.h"

namespace keel::testing {

// The message of the keel error `f` throws; empty when it throws none.
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const core::Error& e) {
    return e.what();
  }
  return "";
}

inline power::Scenario scenario_from(const std::string& toml) {
  return core::parse_config(core::ConfigDoc::parse(toml, "test.toml"), power::parse_scenario);
}

// The message of the input error (exit 2) that building a scenario from `toml` throws; empty
// when none (any other error propagates and fails the test).
inline std::string scenario_error(const std::string& toml) {
  try {
    scenario_from(toml);
  } catch (const core::InputError& e) {
    return e.what();
  }
  return "";
}

// A facility that adds nothing around the GPUs: grid power = summed GPU power.
inline const char* kBareFacility = R"(
[facility]
server_base_w = 0
psu_efficiency = 1.0
cooling_overhead_fraction = 0
fixed_overhead_mw = 0
)";

}  // namespace keel::testing
