#include "fuzz.h"
#include "keel/nmt/model.h"

KEEL_FUZZ_TARGET({ keel::nmt::parse_model(input, "fuzz.keel"); })
