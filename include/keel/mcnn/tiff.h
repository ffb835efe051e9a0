#pragma once
// 16-bit single-channel TIFF, the format of BBBC021's images (1280x1024, uncompressed, one file per
// channel), through libtiff. Errors are InputErrors naming the file; libtiff's own messages are
// captured into them instead of going to stderr.

#include <cstdint>
#include <filesystem>
#include <vector>

namespace keel::mcnn {

struct Image16 {
  int width = 0, height = 0;
  std::vector<std::uint16_t> pixels;  // row-major, height * width
};

// Decodes the first directory. Throws InputError when the file is missing or not a TIFF, is not
// 16-bit unsigned single-sample, or its data is truncated or corrupt.
Image16 read_tiff16(const std::filesystem::path& file);
// Header and strip-bounds check without decoding (catches truncated files cheaply). Same errors
// as read_tiff16 for what it can see; returns {width, height} with empty pixels.
Image16 check_tiff16(const std::filesystem::path& file);
// Writes an uncompressed 16-bit grayscale TIFF atomically (temp name + rename).
void write_tiff16(const std::filesystem::path& file, const Image16& image);

}  // namespace keel::mcnn
