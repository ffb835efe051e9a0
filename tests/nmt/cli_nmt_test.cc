// `keel nmt` as a user runs it: outputs, files and exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "../support/run_keel.h"
#include "keel/nmt/model.h"

using keel::testing::run_keel;
namespace fs = std::filesystem;

namespace {
fs::path temp(const std::string& name) {
  return fs::temp_directory_path() / (std::to_string(::getpid()) + "_" + name);
}
}  // namespace

TEST(CliNmt, RandomModelWritesALoadableFile) {
  auto m = temp("cli_tiny.keelnmt");
  auto r = run_keel("nmt random-model --preset tiny --seed 5 --out " + m.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("tiny preset"), std::string::npos);
  auto model = keel::nmt::load_model(m);
  EXPECT_EQ(model.config.d_model, 32u);
  fs::remove(m);
}

TEST(CliNmt, BadPresetOrUnwritableOutIsAnInputError) {
  auto r = run_keel("nmt random-model --preset huge --out x");
  EXPECT_EQ(r.rc, 2);
  r = run_keel("nmt random-model --preset tiny --out /nonexistent_dir/m");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("keel: error:"), std::string::npos);
  EXPECT_EQ(keel::testing::count_lines(r.err), 1);
}
