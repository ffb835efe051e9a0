#include "fuzz.h"
#include "keel/power/trace_in.h"

KEEL_FUZZ_TARGET({ keel::power::resample(keel::power::parse_keel_trace(input, "fuzz.csv", {})); })
