// Bad scenarios and specs: one clear error naming file:line:col and the key.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "keel/core/config.h"
#include "keel/core/error.h"
#include "keel/power/spec.h"
#include "scenario_util.h"

using keel::testing::scenario_error;
using keel::testing::scenario_from;

namespace {
const std::string kJob = "[[job]]\ngpus = 8\ncompute_ms = 100\ncomm_ms = 50\n";

std::string spec_error_of(const std::string& toml) {
  try {
    keel::core::parse_config(keel::core::ConfigDoc::parse(toml, "spec.toml"), keel::power::parse_spec);
  } catch (const keel::core::InputError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST(ScenarioInput, ValidScenarioParses) {
  auto sc = scenario_from(kJob);
  EXPECT_EQ(sc.jobs.size(), 1u);
  EXPECT_EQ(sc.jobs[0].gpus, 8);
  EXPECT_FALSE(sc.software.configured);
}

TEST(ScenarioInput, UnknownKeyNamesTheKey) {
  auto msg = scenario_error(kJob + "comm_msec = 3\n");
  EXPECT_EQ(msg, "test.toml:5:1: key 'job[0].comm_msec': unknown key (did you mean 'comm_ms'?)");
}

TEST(ScenarioInput, NegativeDuration) {
  auto msg = scenario_error("[simulation]\nduration_s = -5\n" + kJob);
  EXPECT_EQ(msg, "test.toml:2:14: key 'simulation.duration_s': value -5 is out of range (must be > 0)");
}

TEST(ScenarioInput, NegativePhaseDuration) {
  auto msg = scenario_error("[[job]]\ngpus = 8\ncompute_ms = 100\ncomm_ms = -1\n");
  EXPECT_NE(msg.find("test.toml:4:11: key 'job[0].comm_ms': value -1 is out of range"), std::string::npos) << msg;
}

TEST(ScenarioInput, FloorOverHundredPercent) {
  auto msg =
      scenario_error(kJob +
                     "[mitigation.smoothing]\npercent_tmp_floor = 120\nramp_up_rate_w_per_s = 1\n"
                     "ramp_down_rate_w_per_s = 1\n");
  EXPECT_EQ(msg, "test.toml:6:21: key 'mitigation.smoothing.percent_tmp_floor': value 120 is out "
                 "of range (must be in [0, 100])");
}

TEST(ScenarioInput, EmptyJob) {
  EXPECT_NE(scenario_error("[simulation]\nduration_s = 5\n").find("key 'job': scenario has no job"),
            std::string::npos);
  EXPECT_NE(scenario_error("[[job]]\ngpus = 0\ncompute_ms = 1\ncomm_ms = 1\n")
                .find("test.toml:2:8: key 'job[0].gpus': must be a positive integer"),
            std::string::npos);
}

TEST(ScenarioInput, StopBeforeStartAndUnknownStorageLevel) {
  EXPECT_NE(scenario_error(kJob + "start_s = 5\nstop_s = 2\n")
                .find("key 'job[0].stop_s': must be after start_s"),
            std::string::npos);
  EXPECT_NE(scenario_error(kJob +
                           "[mitigation.storage]\nlevel = \"site\"\nenergy_kwh = 1\npower_kw = 1\n")
                .find("unknown storage level 'site'"),
            std::string::npos);
}

TEST(SpecInput, EmptyBandIsRejected) {
  auto msg = spec_error_of("[frequency_domain]\nf_lo_hz = 3\nf_hi_hz = 1\n");
  EXPECT_EQ(msg, "spec.toml:3:11: key 'frequency_domain.f_hi_hz': critical band is empty: f_lo_hz "
                 "must be < f_hi_hz");
}

TEST(SpecInput, UnknownSpecKey) {
  auto msg = spec_error_of("[time_domain]\nmax_ramp_up_mw_per_sec = 3\n");
  EXPECT_NE(msg.find("key 'time_domain.max_ramp_up_mw_per_sec': unknown key (did you mean "
                     "'max_ramp_up_mw_per_s'?)"),
            std::string::npos)
      << msg;
}

// The shipped examples document each key's default as "[default: X]": every literal X must be
// what the parser takes when the key is left out (the file with the line removed parses to the
// same scenario/spec as the file with the value replaced by X).
template <typename Parse>
int check_documented_defaults(const std::string& file, Parse parse) {
  std::ifstream in(std::string(KEEL_SOURCE_DIR) + "/examples/power/" + file);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  const std::regex key_line(R"(^([a-z_]+)\s*=\s*(\S+)\s*#.*\[default: ([^\]]+)\]\s*$)");
  const std::regex literal(R"(^(-?[0-9][0-9.]*|"[^"]*"|true|false)$)");
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& l : v) s += l + "\n";
    return s;
  };
  int checked = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::smatch m;
    if (!std::regex_match(lines[i], m, key_line)) continue;
    const std::string def = m[3];
    if (!std::regex_match(def, literal)) continue;  // "idle_w", "none", expressions: prose
    auto removed = lines, replaced = lines;
    removed.erase(removed.begin() + static_cast<std::ptrdiff_t>(i));
    replaced[i] = std::string(m[1]) + " = " + def;
    auto a = parse(join(removed)), b = parse(join(replaced));
    EXPECT_TRUE(a == b) << file << ":" << i + 1 << ": " << m[1] << " is documented as defaulting to "
                        << def;
    ++checked;
  }
  return checked;
}

TEST(ShippedExamples, EveryDocumentedDefaultIsTheParsersDefault) {
  EXPECT_GE(check_documented_defaults("default.toml", [](const std::string& t) { return scenario_from(t); }),
            35);
  EXPECT_GE(check_documented_defaults("illustrative_spec.toml", [](const std::string& t) {
              return keel::core::parse_config(keel::core::ConfigDoc::parse(t, "spec.toml"),
                                              keel::power::parse_spec);
            }),
            6);
}

TEST(ScenarioInput, TrillionStepsAreRefusedUpFront) {
  auto msg = scenario_error("[simulation]\nduration_s = 1e9\nstep_ms = 1\n" + kJob);
  EXPECT_NE(msg.find("too many time steps"), std::string::npos) << msg;
  EXPECT_NE(msg.find("step_ms"), std::string::npos) << msg;
}
