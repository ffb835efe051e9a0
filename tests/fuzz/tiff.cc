#include "keel/mcnn/tiff.h"
#include "fuzz.h"

KEEL_FUZZ_TARGET({
  const std::string f = keel::fuzz::write_scratch(input, ".tif");
  try {
    keel::mcnn::check_tiff16(f);
  } catch (const std::exception&) {
  }
  keel::mcnn::read_tiff16(f);
})
