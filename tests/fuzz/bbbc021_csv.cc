#include "fuzz.h"
#include "keel/mcnn/bbbc021.h"

// Both published CSVs' readers on the same bytes.
KEEL_FUZZ_TARGET({
  const std::string f = keel::fuzz::write_scratch(input, ".csv");
  try {
    keel::mcnn::read_image_csv(f);
  } catch (const std::exception&) {
  }
  keel::mcnn::read_moa_csv(f);
})
