#include "keel/core/atomic_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "keel/core/error.h"

namespace fs = std::filesystem;

namespace {
fs::path temp_dir() {
  auto d = fs::temp_directory_path() /
           ("keel_atomic_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
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

// Output paths checked before any work: empty, a directory, or inside something that is not a
// directory are the user's input errors (exit 2), not I/O failures after the work.
TEST(AtomicFile, PathsThatCannotBeFilesAreInputErrors) {
  const auto d = temp_dir();
  std::ofstream(d / "afile") << "x";
  using keel::core::check_output_file;
  EXPECT_THROW(check_output_file(""), keel::core::InputError);
  EXPECT_THROW(check_output_file(d), keel::core::InputError);
  EXPECT_THROW(check_output_file(d / "afile" / "x.csv"), keel::core::InputError);
  EXPECT_THROW(check_output_file(d / "missing" / "x.csv"), keel::core::InputError);
  EXPECT_THROW(keel::core::AtomicFile{d}, keel::core::InputError);
  EXPECT_NO_THROW(check_output_file(d / "new.csv"));
  EXPECT_NO_THROW(check_output_file(d / "afile"));  // replaced whole by AtomicFile
  fs::remove_all(d);
}

// A new directory appears whole or not at all, and never over an existing one.
TEST(NewDirectory, IsWrittenWholeOrNotAtAllAndNeverOverAnother) {
  const auto d = temp_dir();
  using keel::core::write_new_directory;
  write_new_directory(d / "a" / "out", "--out", [](const fs::path& tmp) {
    EXPECT_NE(tmp.filename().string().find(".partial."), std::string::npos);
    std::ofstream(tmp / "f") << "data";
  });
  EXPECT_EQ(slurp(d / "a" / "out" / "f"), "data");
  write_new_directory((d / "slash").string() + "/", "--out",
                      [](const fs::path& tmp) { std::ofstream(tmp / "f") << "s"; });
  EXPECT_EQ(slurp(d / "slash" / "f"), "s");
  std::ofstream(d / "a" / "out" / "stale") << "old";
  EXPECT_THROW(write_new_directory(d / "a" / "out", "--out", [](const fs::path&) {}),
               keel::core::InputError);
  EXPECT_EQ(slurp(d / "a" / "out" / "stale"), "old");  // untouched
  EXPECT_THROW(write_new_directory(d / "b", "--out",
                                   [](const fs::path& tmp) {
                                     std::ofstream(tmp / "half") << "x";
                                     throw keel::core::Error("disk full");
                                   }),
               keel::core::Error);
  EXPECT_FALSE(fs::exists(d / "b"));
  for (const auto& e : fs::directory_iterator(d))  // no .partial left
    EXPECT_TRUE(e.path().filename() == "a" || e.path().filename() == "slash") << e.path();
  std::ofstream(d / "afile") << "x";
  EXPECT_THROW(keel::core::check_new_directory(d / "afile" / "sub"), keel::core::InputError);
  EXPECT_THROW(keel::core::check_new_directory(""), keel::core::InputError);
  fs::remove_all(d);
}
