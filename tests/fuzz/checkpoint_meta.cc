#include <nlohmann/json.hpp>

#include "fuzz.h"
#include "keel/core/checksum.h"

// What keel reads of a checkpoint before LibTorch: the sealed trailer, then (as the trainers do)
// the JSON metadata; here the payload itself is parsed as that JSON.
KEEL_FUZZ_TARGET({
  const auto payload = keel::core::unseal(input, "fuzz.ckpt");
  const auto j = nlohmann::json::parse(payload);
  (void)j.value("next_batch", std::size_t{0});
})
