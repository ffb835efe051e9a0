#pragma once
// Directories of the source tree that several test files read from.

#include <fstream>
#include <string>
#include <vector>

namespace keel::testing {

inline const std::string kPowerExamples = std::string(KEEL_SOURCE_DIR) + "/examples/power/";
inline const std::string kPowerTestData = std::string(KEEL_SOURCE_DIR) + "/tests/power/data/";
inline const std::string kBleuTestData = std::string(KEEL_SOURCE_DIR) + "/tests/data/bleu/";

// The lines of a text file, without their newlines (none when it cannot be opened).
inline std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

}  // namespace keel::testing
