#include "keel/core/log.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "keel/core/error.h"

using keel::core::LogLevel;

TEST(Log, ParsesLevels) {
  EXPECT_EQ(keel::core::parse_log_level("debug"), LogLevel::debug);
  EXPECT_EQ(keel::core::parse_log_level("off"), LogLevel::off);
  EXPECT_EQ(keel::core::to_string(LogLevel::warn), "warn");
  EXPECT_THROW(keel::core::parse_log_level("loud"), keel::core::InputError);
}

TEST(Log, EnvironmentSetsLevelAndFlagOverridesIt) {
  ::setenv("KEEL_LOG_LEVEL", "error", 1);
  keel::core::init_logging();
  EXPECT_EQ(keel::core::log_level(), LogLevel::error);
  EXPECT_EQ(spdlog::get_level(), spdlog::level::err);
  keel::core::init_logging(LogLevel::debug);
  EXPECT_EQ(keel::core::log_level(), LogLevel::debug);
  ::unsetenv("KEEL_LOG_LEVEL");
  keel::core::init_logging();
  EXPECT_EQ(keel::core::log_level(), LogLevel::info);
}
