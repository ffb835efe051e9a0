#pragma once
// libFuzzer harnesses for every parser keel runs on files from outside (docs/reliability.md).
// Each target defines LLVMFuzzerTestOneInput; errors keel reports (core::Error, other
// std::exception) are the expected outcome for bad input, so only crashes, hangs and
// sanitizer reports are findings. Built with libFuzzer under `make fuzz` (clang, fuzz preset), and
// with tests/fuzz/replay_main.cc as plain programs that replay the committed corpora in CI.

#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <string_view>

// The body is a braced block (variadic: its commas are not macro argument separators).
#define KEEL_FUZZ_TARGET(...)                                                         \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    const std::string_view input(reinterpret_cast<const char*>(data), size);          \
    try {                                                                             \
      __VA_ARGS__                                                                     \
    } catch (const std::exception&) {                                                 \
    }                                                                                 \
    return 0;                                                                         \
  }

namespace keel::fuzz {

// A per-process scratch file for parsers that read a path (TIFF, BBBC021 CSVs).
std::string write_scratch(std::string_view bytes, const char* suffix);

}  // namespace keel::fuzz
