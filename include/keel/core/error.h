#pragma once
// keel's exception types. Errors carry where they happened (file, line, column, key) so the CLI can
// print one line that tells the user what is wrong, where, and how to fix it.

#include <optional>
#include <stdexcept>
#include <string>

namespace keel::core {

// Where in an input a problem sits. Every field is optional; format() prints what is known.
struct Location {
  std::string file;
  int line = 0;    // 1-based; 0 = unknown
  int column = 0;  // 1-based; 0 = unknown
  std::string key; // dotted key path, e.g. "job[0].compute_ms"

  // "file:line:col: key 'k'" with the unknown parts left out.
  std::string format() const;
};

// Base of keel's errors. Runtime failures (exit code 1) use this type directly.
class Error : public std::runtime_error {
 public:
  explicit Error(std::string what, Location where = {}, std::string hint = {});

  const Location& where() const { return where_; }
  const std::string& hint() const { return hint_; }
  const std::string& bare_message() const { return message_; }
  // Exit code the CLI uses for this error: 1 runtime, 2 usage/input.
  virtual int exit_code() const { return 1; }

 private:
  Location where_;
  std::string message_;
  std::string hint_;
};

// The user's input (a file, a flag, a value) is wrong: exit code 2.
class InputError : public Error {
 public:
  using Error::Error;
  int exit_code() const override { return 2; }
};

}  // namespace keel::core
