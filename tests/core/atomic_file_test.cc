#include "keel/core/atomic_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "keel/core/error.h"

namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  auto d = fs::temp_directory_path() / ("keel_atomic_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::create_directories(d);
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST(AtomicFile, CommitReplacesTargetWhole) {
  auto d = temp_dir();
  auto p = d / "out.csv";
  keel::core::write_file_atomic(p, "old");
  {
    keel::core::AtomicFile f(p);
    f.stream() << "new content";
    EXPECT_EQ(slurp(p), "old");  // target untouched until commit
    f.commit();
    EXPECT_FALSE(fs::exists(f.temp_path()));
  }
  EXPECT_EQ(slurp(p), "new content");
  fs::remove_all(d);
}

TEST(AtomicFile, AbandonedWriteLeavesNothing) {
  auto d = temp_dir();
  auto p = d / "out.csv";
  fs::path tmp;
  {
    keel::core::AtomicFile f(p);
    tmp = f.temp_path();
    f.stream() << "partial";
  }
  EXPECT_FALSE(fs::exists(p));
  EXPECT_FALSE(fs::exists(tmp));
  fs::remove_all(d);
}

TEST(AtomicFile, MissingDirectoryIsInputError) {
  EXPECT_THROW(keel::core::AtomicFile("/nonexistent/dir/x.csv"), keel::core::InputError);
}
