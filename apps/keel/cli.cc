#include "cli.h"

#include "keel/core/atomic_file.h"
#include "keel/core/error.h"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string_view>

namespace keel::cli {

namespace {

CLI::Validator number_at_least(double low, bool strict, const char* name) {
  return CLI::Validator(
      [low, strict](std::string& v) -> std::string {
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (end == v.c_str() || *end != '\0') return "'" + v + "' is not a number";
        if (!std::isfinite(x))
          return "must be a finite number, got " + v;  // inf as a count or time
        if (strict ? x > low : x >= low) return {};
        return std::string(strict ? "must be greater than 0" : "must be 0 or more") + ", got " + v;
      },
      name, name);
}

}  // namespace

const CLI::Validator Positive = number_at_least(0, true, "POSITIVE");
const CLI::Validator NonNegative = number_at_least(0, false, "NONNEGATIVE");
const CLI::Validator Finite(
    [](std::string& v) -> std::string {
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      if (end == v.c_str() || *end != '\0') return "'" + v + "' is not a number";
      return std::isfinite(x) ? std::string() : "must be a finite number, got " + v;
    },
    "NUMBER", "FINITE");
namespace {

// A validator from a core check that throws InputError; the message names the value.
CLI::Validator from_check(void (*check)(const std::filesystem::path&, std::string_view),
                          const char* type, const char* name) {
  return CLI::Validator(
      [check](std::string& v) -> std::string {
        try {
          check(v, {});
          return {};
        } catch (const core::InputError& e) {
          return (v.empty() ? "" : "'" + v + "' ") + e.bare_message() + " (" + e.hint() + ")";
        }
      },
      type, name);
}

}  // namespace

const CLI::Validator OutputFile = from_check(core::check_output_file, "FILE", "OUTPUT_FILE");
const CLI::Validator OutputDirectory =
    from_check(core::check_output_directory, "DIR", "OUTPUT_DIRECTORY");

void check_stdin_readable() {
  struct stat st {};
  if (::fstat(0, &st) == 0 && S_ISDIR(st.st_mode))
    throw core::InputError("standard input is a directory", {"stdin", 0, 0, {}},
                           "redirect a text file, e.g. < in.txt");
}

std::string one_line(std::string s) {
  for (auto& c : s)
    if (c == '\n') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

void print_out(const std::string& text) {
  std::cout << text;
  if (text.empty() || text.back() != '\n') std::cout << '\n';
  std::cout.flush();
}

}  // namespace keel::cli
