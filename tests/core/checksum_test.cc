// The sealed-file trailer (core/checksum.h): round trip, the standard CRC-32 check value, and
// every flipped byte or truncation refused.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "keel/core/checksum.h"
#include "keel/core/error.h"

namespace keel::core {
namespace {

TEST(Checksum, Crc32IsZlibsAndSealRoundTrips) {
  EXPECT_EQ(crc32_of("123456789"), 0xCBF43926u);  // the CRC-32 check value of the standard
  EXPECT_EQ(crc32_of(""), 0u);
  const std::string payload = "payload \0 with a NUL";
  const std::string sealed = seal(payload);
  EXPECT_EQ(sealed.size(), payload.size() + kSealSize);
  EXPECT_EQ(unseal(sealed, "f"), payload);
  EXPECT_EQ(unseal(seal(""), "f"), "");
}

TEST(Checksum, FlippedBytesAndTruncationsAreRefused) {
  std::mt19937_64 rng(5);
  std::string payload(10000, '\0');
  for (auto& c : payload) c = static_cast<char>(rng());
  const std::string sealed = seal(payload);
  for (int i = 0; i < 100; ++i) {
    std::string bad = sealed;
    const std::size_t at = rng() % bad.size();
    bad[at] = static_cast<char>(bad[at] ^ static_cast<char>(1 + rng() % 255));
    try {
      unseal(bad, "m.ckpt");
      ADD_FAILURE() << "flip at " << at << " passed";
    } catch (const InputError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("m.ckpt"), std::string::npos) << what;
      EXPECT_NE(what.find("corrupt"), std::string::npos) << what;
    }
  }
  for (int i = 0; i < 20; ++i) {
    const std::size_t keep = rng() % sealed.size();
    EXPECT_THROW(unseal(std::string_view(sealed).substr(0, keep), "m.ckpt"), InputError) << keep;
  }
  // A payload flip gives the checksum message.
  std::string flipped = sealed;
  flipped[10] ^= 1;
  try {
    unseal(flipped, "m.ckpt");
    ADD_FAILURE() << "a flipped payload byte was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt (checksum mismatch)"), std::string::npos);
  }
}

}  // namespace
}  // namespace keel::core
