#pragma once
// `keel power analyze`: a measured trace judged like a simulated one (the same metrics and spec
// clauses), optionally scaled to a fleet of synchronous GPUs, with the data's problems and the
// limits of its sampling stated next to the numbers.

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "keel/power/analysis.h"
#include "keel/power/spec.h"
#include "keel/power/scenario.h"
#include "keel/power/trace_in.h"

namespace keel::power {

struct AnalyzeOptions {
  std::optional<int> scale_gpus;  // sum of the file's GPUs × scale_gpus / gpus in the file
  // Turns the (scaled) GPU power into facility power as the simulator does: servers' base power,
  // PSU losses, lagged cooling, fixed overhead (facility.h).
  std::optional<FacilityParams> facility;
  ResampleOptions resample;
};

struct TraceAnalysis {
  ParsedTrace trace;
  Resampled grid;  // total_w already scaled
  int gpus_in_file = 0;
  double scale = 1.0;
  std::optional<int> scale_gpus;
  bool facility = false;  // overheads added (AnalyzeOptions::facility)
  Metrics metrics;
  std::vector<Clause> clauses;
  std::vector<std::string> warnings;  // what the numbers cannot show, and why
};

TraceAnalysis analyze_trace(ParsedTrace trace, const Spec& spec, const AnalyzeOptions& opt);

// The sampling-limit and data-quality warnings for a trace (also part of analyze_trace).
std::vector<std::string> trace_warnings(const ParsedTrace& trace, const Resampled& grid,
                                        const Spec& spec);

std::string format_trace_summary(const TraceAnalysis& a, const Spec& spec);
nlohmann::json trace_to_json(const TraceAnalysis& a, const Spec& spec);

}  // namespace keel::power
