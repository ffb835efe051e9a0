#include "fuzz.h"
#include "keel/power/trace_in.h"

// The parser, then resampling: what `keel power analyze` does with the parsed series.
KEEL_FUZZ_TARGET({
  keel::power::TraceReadOptions o;
  o.format = keel::power::TraceFormat::nvidia_smi;
  keel::power::resample(keel::power::parse_trace(input, "fuzz.csv", o));
})
