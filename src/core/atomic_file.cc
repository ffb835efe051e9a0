#include "keel/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "keel/core/error.h"

namespace keel::core {

AtomicFile::AtomicFile(std::filesystem::path path)
    : path_(std::move(path)),
      tmp_(path_.string() + ".tmp." + std::to_string(::getpid())) {
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) {
    throw InputError(std::string("cannot write: ") + std::strerror(errno),
                     Location{path_.string(), 0, 0, {}},
                     "check that the directory exists and is writable");
  }
}

AtomicFile::~AtomicFile() {
  if (!committed_) {
    out_.close();
    std::error_code ec;
    std::filesystem::remove(tmp_, ec);
  }
}

void AtomicFile::commit() {
  out_.flush();
  bool ok = static_cast<bool>(out_);
  out_.close();
  if (ok) {
    // fsync so a crash after rename cannot leave an empty file under the final name.
    int fd = ::open(tmp_.c_str(), O_RDONLY);
    ok = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
  }
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp_, path_, ec);
  if (!ok || ec) {
    std::string why = ec ? ec.message() : std::strerror(errno);
    std::filesystem::remove(tmp_, ec);
    throw Error("writing failed: " + why, Location{path_.string(), 0, 0, {}});
  }
  committed_ = true;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  AtomicFile f(path);
  f.stream().write(data.data(), static_cast<std::streamsize>(data.size()));
  f.commit();
}

}  // namespace keel::core
