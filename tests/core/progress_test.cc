#include "keel/core/progress.h"

#include <gtest/gtest.h>

#include <sstream>

using keel::core::Progress;

TEST(Progress, RenderShowsPercentCountRateAndEta) {
  auto line = Progress::render("sim", 50, 200, 10.0, "step", 10);
  EXPECT_EQ(line, "sim [##........]  25% 50/200 5.0 step/s ETA 00:30");
}

TEST(Progress, RenderHandlesZeroElapsedAndLongEta) {
  EXPECT_NE(Progress::render("x", 0, 10, 0.0, "it").find("ETA --:--"), std::string::npos);
  EXPECT_NE(Progress::render("x", 1, 10000, 1.0, "it").find("ETA 2:46:39"), std::string::npos);
}

TEST(Progress, DisabledWritesNothing) {
  std::ostringstream out;
  {
    Progress p("x", 10, false, "it", out);
    for (int i = 0; i < 10; ++i) p.add();
    p.finish();
  }
  EXPECT_TRUE(out.str().empty());
}

TEST(Progress, EnabledFinishDrawsFinalLine) {
  std::ostringstream out;
  Progress p("x", 4, true, "it", out);
  p.update(4);
  p.finish();
  EXPECT_NE(out.str().find("100% 4/4"), std::string::npos);
  EXPECT_EQ(out.str().back(), '\n');
}
