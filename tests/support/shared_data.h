#pragma once
// Tests that need ../shared/ (real BBBC021 metadata, not part of the repository) skip with a
// reason when it is absent, and fail instead when KEEL_REQUIRE_SHARED=1 (CI sets it).

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace keel::testing {

// $KEEL_SHARED_DIR, else the directory configured at build time (-DKEEL_SHARED_DIR).
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("KEEL_SHARED_DIR"); env && *env) return env;
  return KEEL_SHARED_DIR;
}

inline bool shared_required() {
  const char* env = std::getenv("KEEL_REQUIRE_SHARED");
  return env && std::string(env) == "1";
}

}  // namespace keel::testing

// Skips the current test (or fails it under KEEL_REQUIRE_SHARED=1) unless `file` exists.
#define KEEL_NEED_SHARED_FILE(file)                                                \
  do {                                                                             \
    const std::filesystem::path keel_need_ = (file);                               \
    if (!std::filesystem::exists(keel_need_)) {                                    \
      if (::keel::testing::shared_required())                                      \
        FAIL() << "KEEL_REQUIRE_SHARED=1 but " << keel_need_ << " is missing";     \
      GTEST_SKIP() << "needs " << keel_need_                                       \
                   << " (shared data beside the repository; set KEEL_SHARED_DIR)"; \
    }                                                                              \
  } while (0)
