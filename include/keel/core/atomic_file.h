#pragma once
// Files written by keel appear whole or not at all: data goes to a temporary name in the same
// directory, is flushed and fsynced, then renamed over the target.

#include <filesystem>
#include <fstream>
#include <functional>
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

// Throws InputError (naming `option`, e.g. "--out") unless `path` can be a file keel writes: not
// empty, not a directory, in an existing directory. Commands call it before long work, so a bad
// output path fails at once instead of after the work.
void check_output_file(const std::filesystem::path& path, std::string_view option = {});

// Throws InputError (naming `option`) unless `path` can be a new directory: not empty, not
// existing (keel never writes into a directory it did not create), its parent a directory or
// not yet there.
void check_new_directory(const std::filesystem::path& path, std::string_view option = {});

// Throws InputError (naming `option`) unless `path` can be a directory keel writes into, creating
// it when missing: not empty, a directory if it exists, otherwise its nearest existing ancestor a
// directory.
void check_output_directory(const std::filesystem::path& path, std::string_view option = {});

// Creates the directory `path` whole or not at all: `fill` writes into a hidden sibling
// (".<name>.partial.<pid>", parents created as needed), renamed to `path` when `fill` returns and
// removed when it throws. check_new_directory() first.
void write_new_directory(const std::filesystem::path& path, std::string_view option,
                         const std::function<void(const std::filesystem::path&)>& fill);

// Writes `data` to `path` atomically.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

}  // namespace keel::core
