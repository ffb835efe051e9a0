#pragma once
// Runs the built `keel` binary as a user would and captures exit code, stdout and stderr.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace keel::testing {

struct RunResult {
  int rc = -1;
  std::string out, err;
};

inline std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs a shell command with its output captured and its standard input from `input` (the command
// must not redirect them).
inline RunResult run_shell(const std::string& command, const std::string& input = "/dev/null") {
  auto dir = std::filesystem::temp_directory_path();
  auto tag = std::to_string(::getpid()) + "_" + std::to_string(reinterpret_cast<std::uintptr_t>(&command));
  auto out = dir / ("keel_out_" + tag), err = dir / ("keel_err_" + tag);
  std::string cmd = command + " >" + out.string() + " 2>" + err.string() + " <" + input;
  int status = std::system(cmd.c_str());
  RunResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_all(out);
  r.err = read_all(err);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

// `args` is appended to the binary path as shell words (callers quote what needs it).
inline RunResult run_keel(const std::string& args) { return run_shell(std::string(KEEL_BINARY) + " " + args); }

// run_keel with standard input from `input` (run_keel itself reads /dev/null).
inline RunResult run_keel_stdin(const std::string& args, const std::filesystem::path& input) {
  return run_shell(std::string(KEEL_BINARY) + " " + args, input.string());
}

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace keel::testing
