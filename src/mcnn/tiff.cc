#include "keel/mcnn/tiff.h"

#include <tiffio.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include "keel/core/error.h"

namespace keel::mcnn {

namespace {

// libtiff reports through global handlers; keep the last message per thread for our errors.
thread_local std::string g_tiff_error;

void on_tiff_error(const char* module, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  g_tiff_error = (module ? std::string(module) + ": " : std::string()) + buf;
}
void on_tiff_warning(const char*, const char*, va_list) {}

void install_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    TIFFSetErrorHandler(on_tiff_error);
    TIFFSetWarningHandler(on_tiff_warning);
  });
}

[[noreturn]] void fail(const std::filesystem::path& f, const std::string& what) {
  std::string msg = what;
  if (!g_tiff_error.empty()) msg += " (" + g_tiff_error + ")";
  g_tiff_error.clear();
  throw core::InputError(msg, {f.string(), 0, 0, {}});
}

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};
using TiffPtr = std::unique_ptr<TIFF, TiffCloser>;

TiffPtr open_checked(const std::filesystem::path& f, Image16& img) {
  install_handlers();
  g_tiff_error.clear();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(f, ec)) fail(f, "image file not found");
  TiffPtr t(TIFFOpen(f.c_str(), "r"));
  if (!t) {
    // A TIFF header whose directory cannot be read is a cut-off or damaged file.
    char magic[4] = {};
    std::ifstream(f, std::ios::binary).read(magic, 4);
    bool tiff = (magic[0] == 'I' && magic[1] == 'I' && magic[2] == 42 && magic[3] == 0) ||
                (magic[0] == 'M' && magic[1] == 'M' && magic[2] == 0 && magic[3] == 42);
    fail(f, tiff ? "truncated or corrupt TIFF" : "not a readable TIFF");
  }
  std::uint32_t w = 0, h = 0;
  std::uint16_t bits = 0, spp = 1, fmt = SAMPLEFORMAT_UINT;
  if (!TIFFGetField(t.get(), TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t.get(), TIFFTAG_IMAGELENGTH, &h))
    fail(f, "TIFF without image size");
  TIFFGetFieldDefaulted(t.get(), TIFFTAG_BITSPERSAMPLE, &bits);
  TIFFGetFieldDefaulted(t.get(), TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(t.get(), TIFFTAG_SAMPLEFORMAT, &fmt);
  if (bits != 16 || fmt != SAMPLEFORMAT_UINT)
    fail(f, "expected 16-bit unsigned samples, found " + std::to_string(bits) + "-bit" +
                (fmt == SAMPLEFORMAT_UINT ? "" : " non-integer"));
  if (spp != 1) fail(f, "expected one channel per file, found " + std::to_string(spp));
  // Checked before any pixel buffer is allocated: a damaged or hostile header cannot ask for
  // gigabytes (BBBC021 fields are 1280 x 1024).
  constexpr std::uint64_t kMaxSide = 65536, kMaxPixels = std::uint64_t{1} << 28;
  if (w == 0 || h == 0 || w > kMaxSide || h > kMaxSide ||
      std::uint64_t{w} * h > kMaxPixels)
    fail(f, "image of " + std::to_string(w) + " x " + std::to_string(h) +
                " pixels exceeds keel's limit (at most 65536 per side and 268 M pixels)");
  img.width = static_cast<int>(w);
  img.height = static_cast<int>(h);
  return t;
}

}  // namespace

Image16 check_tiff16(const std::filesystem::path& file) {
  Image16 img;
  TiffPtr t = open_checked(file, img);
  // Uncompressed strips must lie inside the file; compressed ones are checked when decoded.
  std::uint16_t comp = COMPRESSION_NONE;
  TIFFGetFieldDefaulted(t.get(), TIFFTAG_COMPRESSION, &comp);
  if (comp == COMPRESSION_NONE && !TIFFIsTiled(t.get())) {
    auto size = std::filesystem::file_size(file);
    std::uint64_t* offsets = nullptr;
    std::uint64_t* counts = nullptr;
    if (!TIFFGetField(t.get(), TIFFTAG_STRIPOFFSETS, &offsets) ||
        !TIFFGetField(t.get(), TIFFTAG_STRIPBYTECOUNTS, &counts))
      fail(file, "TIFF without strip offsets");
    std::uint64_t need = 0;
    for (std::uint32_t s = 0; s < TIFFNumberOfStrips(t.get()); ++s)
      need = std::max(need, offsets[s] + counts[s]);
    if (need > size) fail(file, "truncated TIFF: data runs past the end of the file");
  }
  return img;
}

Image16 read_tiff16(const std::filesystem::path& file) {
  Image16 img;
  TiffPtr t = open_checked(file, img);
  img.pixels.resize(static_cast<std::size_t>(img.width) * static_cast<std::size_t>(img.height));
  if (TIFFIsTiled(t.get())) fail(file, "tiled TIFFs are not supported");
  if (static_cast<std::size_t>(TIFFScanlineSize64(t.get())) !=
      static_cast<std::size_t>(img.width) * 2)
    fail(file, "unexpected scanline size");
  for (int y = 0; y < img.height; ++y)
    if (TIFFReadScanline(t.get(), img.pixels.data() + static_cast<std::size_t>(y) * img.width,
                         static_cast<std::uint32_t>(y), 0) < 0)
      fail(file, "corrupt or truncated TIFF data at row " + std::to_string(y));
  return img;
}

void write_tiff16(const std::filesystem::path& file, const Image16& img) {
  install_handlers();
  g_tiff_error.clear();
  auto tmp = file;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    TiffPtr t(TIFFOpen(tmp.c_str(), "w"));
    if (!t) fail(file, "cannot create TIFF");
    TIFF* tf = t.get();
    TIFFSetField(tf, TIFFTAG_IMAGEWIDTH, static_cast<std::uint32_t>(img.width));
    TIFFSetField(tf, TIFFTAG_IMAGELENGTH, static_cast<std::uint32_t>(img.height));
    TIFFSetField(tf, TIFFTAG_BITSPERSAMPLE, 16);
    TIFFSetField(tf, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(tf, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT);
    TIFFSetField(tf, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    TIFFSetField(tf, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    TIFFSetField(tf, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tf, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tf, 0));
    std::vector<std::uint16_t> row(static_cast<std::size_t>(img.width));
    for (int y = 0; y < img.height; ++y) {
      std::copy_n(img.pixels.data() + static_cast<std::size_t>(y) * img.width, img.width, row.data());
      if (TIFFWriteScanline(tf, row.data(), static_cast<std::uint32_t>(y), 0) < 0) {
        t.reset();
        std::filesystem::remove(tmp);
        fail(file, "cannot write TIFF");
      }
    }
  }
  std::filesystem::rename(tmp, file);
}

}  // namespace keel::mcnn
