#include "fuzz.h"
#include "keel/core/timeline.h"

KEEL_FUZZ_TARGET({ keel::core::parse_timeline_csv(input, "fuzz.csv"); })
