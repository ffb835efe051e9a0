#include "fuzz.h"
#include "keel/mcnn/bbbc021.h"
#include "keel/mcnn/manifest.h"

// Both published CSVs' readers and the manifest reader (without touching image files) on the
// same bytes.
KEEL_FUZZ_TARGET({
  const std::string f = keel::fuzz::write_scratch(input, ".csv");
  try {
    keel::mcnn::read_image_csv(f);
  } catch (const std::exception&) {
  }
  try {
    keel::mcnn::ManifestSpec spec;
    spec.channels = {"DAPI", "Actin"};
    keel::mcnn::LoadOptions lo;
    lo.check_files = false;
    lo.keep_unlabeled = true;
    keel::mcnn::load_manifest(f, spec, lo);
  } catch (const std::exception&) {
  }
  keel::mcnn::read_moa_csv(f);
})
