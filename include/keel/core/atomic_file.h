#pragma once
// Files written by keel appear whole or not at all: data goes to a temporary name in the same
// directory, is flushed and fsynced, then renamed over the target.

#include <filesystem>
#include <fstream>
#include <string_view>

namespace keel::core {

class AtomicFile {
 public:
  // Opens "<path>.tmp.<host>.<pid>" for writing (first removing such temporaries of this host's
  // dead processes); throws InputError when the directory is not writable.
  explicit AtomicFile(std::filesystem::path path);
  // Removes the temporary file unless commit() succeeded.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  std::ostream& stream() { return out_; }
  // Flushes, fsyncs and renames onto the target; throws Error on any I/O failure.
  void commit();
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& temp_path() const { return tmp_; }

 private:
  std::filesystem::path path_, tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

// Writes `data` to `path` atomically.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

}  // namespace keel::core
