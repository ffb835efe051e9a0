#include <gtest/gtest.h>

#include "../support/run_keel.h"

using keel::testing::count_lines;
using keel::testing::run_keel;

TEST(Cli, VersionPrintsAndExitsZero) {
  auto r = run_keel("--version");
  EXPECT_EQ(r.rc, 0);
  EXPECT_EQ(r.out.rfind("keel ", 0), 0u) << r.out;
}

TEST(Cli, HelpListsEngines) {
  auto r = run_keel("--help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("power"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--json"), std::string::npos);
}

TEST(Cli, SubcommandHelpWorks) {
  auto r = run_keel("power --help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("simulate"), std::string::npos) << r.out;
}

TEST(Cli, BadFlagExitsTwoWithOneLine) {
  auto r = run_keel("--no-such-flag");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("keel: error:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

TEST(Cli, MissingSubcommandIsUsageError) {
  auto r = run_keel("");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
}

TEST(Cli, BadLogLevelIsUsageError) {
  auto r = run_keel("--log-level loud power --help");
  // --help wins over everything else in CLI11; a real command shows the level error.
  r = run_keel("--log-level loud power simulate " KEEL_SOURCE_DIR "/examples/power/default.toml");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("unknown log level 'loud'"), std::string::npos) << r.err;
}

// NaN passes CLI11's Range (every comparison with it is false) and inf passed keel's Positive and
// NonNegative: both are refused when the flags are read, naming the flag.
TEST(Cli, NanAndInfinityAreRefusedWhereANumberIsExpected) {
  const std::string ex = std::string(KEEL_SOURCE_DIR) + "/examples/power/";
  struct Case {
    std::string args, flag;
  } cases[] = {
      {"power optimize " + ex + "default.toml --spec " + ex +
           "illustrative_spec.toml --margin-pct nan",
       "--margin-pct"},
      {"power simulate " + ex + "default.toml --trace-step-ms inf", "--trace-step-ms"},
      {"nmt bench-serve --url http://127.0.0.1:1 --sentences /dev/null --seconds inf", "--seconds"},
  };
  for (const auto& c : cases) {
    auto r = run_keel(c.args);
    EXPECT_EQ(r.rc, 2) << c.args;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(c.flag + ": must be a finite number, got "), std::string::npos) << r.err;
  }
}
