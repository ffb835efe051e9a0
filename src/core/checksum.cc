#include "keel/core/checksum.h"

#include <fmt/format.h>
#include <zlib.h>

#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "keel/core/atomic_file.h"
#include "keel/core/error.h"

namespace keel::core {

namespace {
constexpr char kMagic[8] = {'K', 'E', 'E', 'L', 'S', 'U', 'M', '1'};

void put_le(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}

std::uint64_t get_le(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |=
        static_cast<std::uint64_t>(static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)]))
        << (8 * i);
  return v;
}
}  // namespace

std::uint32_t crc32_of(std::string_view data) {
  uLong crc = ::crc32(0L, Z_NULL, 0);
  // zlib takes uInt lengths: feed large buffers in pieces.
  for (std::size_t off = 0; off < data.size();) {
    const std::size_t n =
        std::min<std::size_t>(data.size() - off, std::numeric_limits<uInt>::max());
    crc = ::crc32(crc, reinterpret_cast<const Bytef*>(data.data() + off), static_cast<uInt>(n));
    off += n;
  }
  return static_cast<std::uint32_t>(crc);
}

std::string seal(std::string payload) {
  const std::uint32_t crc = crc32_of(payload);
  const std::uint64_t size = payload.size();
  payload.append(kMagic, sizeof kMagic);
  put_le(payload, size, 8);
  put_le(payload, crc, 4);
  return payload;
}

std::string_view unseal(std::string_view bytes, const std::string& file) {
  const std::string hint =
      "the file was damaged or cut short: use a good copy (or an earlier "
      "checkpoint); keel never reads a file that fails its check";
  if (bytes.size() < kSealSize ||
      std::memcmp(bytes.data() + bytes.size() - kSealSize, kMagic, 8) != 0)
    throw InputError("truncated or corrupt (no keel checksum trailer at the end)",
                     Location{file, 0, 0, {}}, hint);
  const std::size_t at = bytes.size() - kSealSize + 8;
  const std::uint64_t size = get_le(bytes, at, 8);
  const auto crc = static_cast<std::uint32_t>(get_le(bytes, at + 8, 4));
  if (size != bytes.size() - kSealSize)
    throw InputError(
        fmt::format("truncated or corrupt (holds {} bytes of data, its trailer says {})",
                    bytes.size() - kSealSize, size),
        Location{file, 0, 0, {}}, hint);
  const std::string_view payload = bytes.substr(0, bytes.size() - kSealSize);
  if (crc32_of(payload) != crc)
    throw InputError("corrupt (checksum mismatch)", Location{file, 0, 0, {}}, hint);
  return payload;
}

void write_sealed_file(const std::filesystem::path& path, std::string payload) {
  write_file_atomic(path, seal(std::move(payload)));
}

std::string read_sealed_file(const std::filesystem::path& path, const std::string& what,
                             bool* legacy_zip) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(what + " path is a directory", Location{path.string(), 0, 0, {}},
                     "pass the " + what + " file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(what + " not found or unreadable", Location{path.string(), 0, 0, {}});
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  if (legacy_zip) {
    // Written before keel sealed its files: a zip archive ending in its intact end-of-central-
    // directory record (a sealed file never ends so, whatever byte of its trailer is damaged).
    *legacy_zip = bytes.size() >= 22 &&
                  (bytes.size() < kSealSize ||
                   std::memcmp(bytes.data() + bytes.size() - kSealSize, kMagic, 8) != 0) &&
                  bytes.compare(bytes.size() - 22, 4, "PK\x05\x06") == 0;
    if (*legacy_zip) return bytes;
  }
  const auto payload = unseal(bytes, path.string());
  bytes.resize(payload.size());
  return bytes;
}

namespace {
std::string read_whole(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot read file", Location{file.string(), 0, 0, {}});
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

void write_manifest(const std::filesystem::path& dir, const std::vector<std::string>& names) {
  std::string text;
  for (const auto& n : names) {
    const std::string bytes = read_whole(dir / n);
    text += fmt::format("{:08x} {} {}\n", crc32_of(bytes), bytes.size(), n);
  }
  write_file_atomic(dir / kManifest, text);
}

void add_to_manifest(const std::filesystem::path& file) {
  const auto dir = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  const auto manifest = dir / kManifest;
  const std::string name = file.filename().string();
  std::string kept;
  std::error_code ec;
  if (std::filesystem::is_regular_file(manifest, ec)) {
    std::istringstream in(read_whole(manifest));
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string crc, size, listed;
      if ((fields >> crc >> size >> listed) && listed != name) kept += line + "\n";
    }
  }
  const std::string bytes = read_whole(file);
  kept += fmt::format("{:08x} {} {}\n", crc32_of(bytes), bytes.size(), name);
  write_file_atomic(manifest, kept);
}

void verify_listed(const std::filesystem::path& file) {
  const auto manifest = file.parent_path() / kManifest;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(manifest, ec)) return;
  std::istringstream in(read_whole(manifest));
  const std::string name = file.filename().string();
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    std::istringstream fields(line);
    std::string crc_hex, listed;
    std::uint64_t size = 0;
    if (!(fields >> crc_hex >> size >> listed) || crc_hex.size() != 8)
      throw InputError("unreadable checksum line", Location{manifest.string(), line_no, 0, {}},
                       "the manifest was damaged: restore the directory from a good copy");
    if (listed != name) continue;
    const std::string bytes = read_whole(file);
    const std::string hint = "it differs from what keel wrote (damaged, cut short or edited): use a "
                             "good copy, or if you edited it on purpose delete its line from " +
                             manifest.string();
    if (bytes.size() != size)
      throw InputError(fmt::format("truncated or corrupt ({} bytes, {} lists {})", bytes.size(),
                                   kManifest, size),
                       Location{file.string(), 0, 0, {}}, hint);
    if (fmt::format("{:08x}", crc32_of(bytes)) != crc_hex)
      throw InputError("corrupt (checksum mismatch)", Location{file.string(), 0, 0, {}}, hint);
    return;
  }
}

}  // namespace keel::core
