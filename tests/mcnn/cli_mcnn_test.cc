// `keel mcnn` as a user runs it: output and exit codes.
#include <gtest/gtest.h>

#include "../support/run_keel.h"

namespace keel::testing {
namespace {

TEST(McnnCli, InfoPrintsPaperNumbersAtFullSize) {
  auto r = run_keel("mcnn info");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("42577261 (42.58 M)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("51.4"), std::string::npos) << r.out;
}

TEST(McnnCli, InfoJsonAtSmallSize) {
  auto r = run_keel("mcnn info --height 128 --width 256 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\"parameters\": 1682797"), std::string::npos) << r.out;
}

TEST(McnnCli, InfoRejectsSizeNotDivisibleBy128) {
  auto r = run_keel("mcnn info --height 1000");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("multiple of 128"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace keel::testing
