#include "keel/core/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "keel/core/error.h"

namespace keel::core {

namespace {

// This host's name: temporaries carry it, so a writer on another node sharing the directory is
// never mistaken for a dead one.
std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "host";
  std::string h(buf);
  for (char& c : h)
    if (c == '.' || c == '/') c = '_';
  return h;
}

// Temporaries of this target left by a process of this host that died before committing
// (kill -9, power loss): removed, so they neither accumulate nor get mistaken for data.
void remove_stale_temporaries(const std::filesystem::path& target) {
  std::error_code ec;
  const auto dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const std::string prefix = target.filename().string() + ".tmp." + host_name() + ".";
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(prefix)) continue;
    const char* first = name.data() + prefix.size();
    const char* last = name.data() + name.size();
    long pid = 0;
    auto [end, err] = std::from_chars(first, last, pid);
    if (err != std::errc() || end != last || pid <= 0) continue;
    if (pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    std::filesystem::remove(e.path(), ec);
  }
}

}  // namespace

void check_output_file(const std::filesystem::path& path, std::string_view option) {
  const Location where{path.string(), 0, 0, std::string(option)};
  if (path.empty())
    throw InputError("no file name given", where, "give the path of the file to write");
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec) || !path.has_filename())
    throw InputError("is a directory, not a file", where,
                     "give a file name, e.g. " + (path / "out").string());
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(dir, ec))
    throw InputError(std::filesystem::exists(dir, ec) ? "its directory is not a directory"
                                                      : "its directory does not exist",
                     where, "create " + dir.string() + " first, or write elsewhere");
}

namespace {

// The nearest existing ancestor of `path` must be a directory (create_directories would fail).
void check_ancestors(const std::filesystem::path& path, const Location& where) {
  std::error_code ec;
  for (auto dir = path.lexically_normal().parent_path(); !dir.empty() && dir != dir.parent_path();
       dir = dir.parent_path())
    if (std::filesystem::exists(dir, ec)) {
      if (!std::filesystem::is_directory(dir, ec))
        throw InputError(dir.string() + " is not a directory", where,
                         "choose a path inside a directory");
      break;
    }
}

}  // namespace

void check_new_directory(const std::filesystem::path& path, std::string_view option) {
  const Location where{path.string(), 0, 0, std::string(option)};
  if (path.empty())
    throw InputError("no directory name given", where, "give the path of a new directory");
  std::error_code ec;
  if (std::filesystem::exists(path, ec))
    throw InputError("already exists", where, "choose a new directory, or remove this one");
  check_ancestors(path, where);
}

void check_output_directory(const std::filesystem::path& path, std::string_view option) {
  const Location where{path.string(), 0, 0, std::string(option)};
  if (path.empty()) throw InputError("no directory name given", where, "give a directory path");
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) {
    if (!std::filesystem::is_directory(path, ec))
      throw InputError("is a file, not a directory", where, "give a directory path");
    return;
  }
  check_ancestors(path, where);
}

void write_new_directory(const std::filesystem::path& path, std::string_view option,
                         const std::function<void(const std::filesystem::path&)>& fill) {
  check_new_directory(path, option);
  std::filesystem::path full = path.lexically_normal();
  if (!full.has_filename()) full = full.parent_path();  // "out/" as typed with tab completion
  const std::filesystem::path parent = full.has_parent_path() ? full.parent_path() : ".";
  std::filesystem::create_directories(parent);
  const std::filesystem::path tmp =
      parent / ("." + full.filename().string() + ".partial." + std::to_string(::getpid()));
  std::error_code ec;
  std::filesystem::remove_all(tmp, ec);
  std::filesystem::create_directory(tmp);
  try {
    fill(tmp);
    std::filesystem::rename(tmp, full);
  } catch (...) {
    std::filesystem::remove_all(tmp, ec);
    throw;
  }
}

AtomicFile::AtomicFile(std::filesystem::path path)
    : path_(std::move(path)),
      tmp_(path_.string() + ".tmp." + host_name() + "." + std::to_string(::getpid())) {
  check_output_file(path_);
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
