#include "fuzz.h"
#include "keel/power/trace_in.h"

KEEL_FUZZ_TARGET({ keel::power::resample(keel::power::parse_dcgm_csv(input, "fuzz.csv")); })
