#include "fuzz.h"
#include "keel/power/trace_in.h"

KEEL_FUZZ_TARGET({
  keel::power::TraceReadOptions o;
  o.dmon_delay_ms = 100;
  keel::power::resample(keel::power::parse_dcgm_dmon(input, "fuzz.txt", o));
})
