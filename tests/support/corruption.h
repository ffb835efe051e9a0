#pragma once
// The integrity check every file kind keel reads back must pass: `flips` single-byte flips at
// random offsets (one at a time) and `cuts` truncations at random lengths of a good file, each
// written in place with `write` and then read with `load`, which must throw core::InputError.

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>

#include "keel/core/error.h"

namespace keel::testing {

struct CorruptionCounts {
  int flips_refused = 0;       // flips that threw InputError
  int flips_with_message = 0;  // ... whose message contained `message`
  int cuts_refused = 0;
};

template <typename Write, typename Load>
CorruptionCounts corrupt_each(const std::string& good, int flips, int cuts, std::uint64_t seed,
                              Write write, Load load, const std::string& message = "corrupt") {
  CorruptionCounts n;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < flips; ++i) {
    std::string bad = good;
    const std::size_t at = rng() % bad.size();
    bad[at] = static_cast<char>(bad[at] ^ static_cast<char>(1 + rng() % 255));
    write(bad);
    try {
      load();
      ADD_FAILURE() << "a flipped byte at " << at << " of " << bad.size() << " was accepted";
    } catch (const core::InputError& e) {
      ++n.flips_refused;
      n.flips_with_message += std::string(e.what()).find(message) != std::string::npos;
    }
  }
  for (int i = 0; i < cuts; ++i) {
    const std::size_t keep = rng() % good.size();
    write(good.substr(0, keep));
    try {
      load();
      ADD_FAILURE() << "a file cut to " << keep << " bytes was accepted";
    } catch (const core::InputError&) {
      ++n.cuts_refused;
    }
  }
  write(good);
  return n;
}

}  // namespace keel::testing
