#pragma once
// A scratch directory per test (mkdtemp under /tmp), removed with everything in it at the end.

#include <unistd.h>

#include <filesystem>
#include <string>

namespace keel::testing {

struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& prefix = "keel_test") {
    std::string tmpl = "/tmp/" + prefix + "_XXXXXX";
    path = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace keel::testing
