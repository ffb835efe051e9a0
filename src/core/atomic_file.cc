#include "keel/core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "keel/core/error.h"

namespace keel::core {

namespace {

// Temporaries of this target left by a process that died before committing (kill -9, power
// loss): removed, so they neither accumulate nor get mistaken for data.
void remove_stale_temporaries(const std::filesystem::path& target) {
  std::error_code ec;
  const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(pid_text));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive: leave it
    std::filesystem::remove(e.path(), ec);
  }
}

}  // namespace

AtomicFile::AtomicFile(std::filesystem::path path)
    : path_(std::move(path)),
      tmp_(path_.string() + ".tmp." + std::to_string(::getpid())) {
  remove_stale_temporaries(path_);
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
  int err = ok ? 0 : errno;
  out_.close();
  if (ok) {
    // fsync so a crash after rename cannot leave an empty file under the final name.
    int fd = ::open(tmp_.c_str(), O_RDONLY);
    ok = fd >= 0 && ::fsync(fd) == 0;
    if (!ok) err = errno;
    if (fd >= 0) ::close(fd);
  }
  std::error_code ec;
  if (ok) std::filesystem::rename(tmp_, path_, ec);
  if (!ok || ec) {
    std::string why = ec ? ec.message() : std::strerror(err ? err : EIO);
    std::filesystem::remove(tmp_, ec);
    throw Error("writing failed: " + why + "; the previous file, if any, is unchanged",
                Location{path_.string(), 0, 0, {}}, "free disk space or raise the file-size limit");
  }
  committed_ = true;
}

void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
  AtomicFile f(path);
  f.stream().write(data.data(), static_cast<std::streamsize>(data.size()));
  f.commit();
}

}  // namespace keel::core
