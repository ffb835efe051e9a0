#pragma once
// Starts the built `keel` in the background (for fault tests that kill it) with stdout and stderr
// appended to `log`; returns its pid.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace keel::testing {

// `args` is split on spaces (no quoting needed by the callers).
inline pid_t spawn_keel(const std::string& args, const std::filesystem::path& log) {
  std::vector<std::string> words = {KEEL_BINARY};
  std::istringstream in(args);
  for (std::string w; in >> w;) words.push_back(w);
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

}  // namespace keel::testing
