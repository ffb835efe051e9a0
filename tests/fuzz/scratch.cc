#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fuzz.h"

namespace keel::fuzz {

std::string write_scratch(std::string_view bytes, const char* suffix) {
  const auto path =
      std::filesystem::temp_directory_path() / ("keel_fuzz_" + std::to_string(::getpid()) + suffix);
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}

}  // namespace keel::fuzz
