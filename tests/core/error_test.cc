#include "keel/core/error.h"

#include <gtest/gtest.h>

using keel::core::Error;
using keel::core::InputError;
using keel::core::Location;

TEST(Error, LocationFormatsKnownParts) {
  EXPECT_EQ((Location{"a.toml", 3, 7, "job.gpus"}).format(), "a.toml:3:7: key 'job.gpus'");
  EXPECT_EQ((Location{"a.toml", 3, 0, ""}).format(), "a.toml:3");
  EXPECT_EQ((Location{"", 0, 0, "x"}).format(), "key 'x'");
  EXPECT_EQ((Location{}).format(), "");
}

TEST(Error, MessageHasLocationAndHint) {
  InputError e("must be positive", Location{"s.toml", 2, 1, "duration_s"}, "use a value > 0");
  EXPECT_STREQ(e.what(), "s.toml:2:1: key 'duration_s': must be positive (use a value > 0)");
  EXPECT_EQ(e.exit_code(), 2);
  EXPECT_EQ(Error("boom").exit_code(), 1);
}
