#pragma once
// Starts the built `keel` in the background: for fault tests that kill it (spawn_keel, output to a
// log) and for servers whose stdout a test reads (KeelProcess).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace keel::testing {

// Spawns the built `keel` with `args` (split on spaces: no quoting needed by the callers) and the
// given file actions; returns its pid.
inline pid_t spawn_keel_with(const std::string& args, const posix_spawn_file_actions_t* fa) {
  std::vector<std::string> words = {KEEL_BINARY};
  std::istringstream in(args);
  for (std::string w; in >> w;) words.push_back(w);
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], fa, nullptr, argv.data(), environ), 0);
  return pid;
}

// stdout and stderr appended to `log`; returns its pid.
inline pid_t spawn_keel(const std::string& args, const std::filesystem::path& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  const pid_t pid = spawn_keel_with(args, &fa);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// A `keel` started with stdout on a pipe (read it with read_line) and stderr appended to `log`;
// killed with SIGKILL if still running when destroyed.
class KeelProcess {
 public:
  KeelProcess(const std::string& args, const std::filesystem::path& log) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    pid_ = spawn_keel_with(args, &fa);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    out_ = fds[0];
  }
  ~KeelProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
  }
  KeelProcess(const KeelProcess&) = delete;
  KeelProcess& operator=(const KeelProcess&) = delete;

  // The next line of its stdout; empty at EOF or when `timeout` passes without one.
  std::string read_line(std::chrono::milliseconds timeout) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return {};
      char buf[4096];
      const auto n = ::read(out_, buf, sizeof buf);
      if (n <= 0) return {};
      buffer_.append(buf, static_cast<std::size_t>(n));
    }
  }
  void signal(int sig) { kill(pid_, sig); }
  // Waits for it to end; its exit code, or 128 + the signal that ended it.
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::string buffer_;
};

}  // namespace keel::testing
