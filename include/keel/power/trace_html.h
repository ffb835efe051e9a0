#pragma once
// The HTML report of `keel power analyze`: the measured (resampled, optionally scaled) power,
// a few of its periods at full resolution, its spectrum against the spec, the clauses, and the
// warnings with the head of the log echoed.

#include <string>

#include "keel/power/html_report.h"
#include "keel/power/trace_report.h"

namespace keel::power {

ReportInput analyze_report_input(const TraceAnalysis& a, const Spec& spec,
                                 const std::string& trace_path);

}  // namespace keel::power
