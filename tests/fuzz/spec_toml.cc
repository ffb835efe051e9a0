#include "fuzz.h"
#include "keel/core/config.h"
#include "keel/power/spec.h"

KEEL_FUZZ_TARGET({
  keel::core::parse_config(keel::core::ConfigDoc::parse(input, "fuzz.toml"),
                           keel::power::parse_spec);
})
