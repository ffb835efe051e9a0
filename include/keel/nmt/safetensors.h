#pragma once
// Reader for Hugging Face's safetensors files (https://github.com/huggingface/safetensors): an
// 8-byte little-endian header length N, N bytes of JSON {name: {"dtype", "shape",
// "data_offsets": [begin, end]}, "__metadata__": {...}}, then the tensors' bytes, offsets
// relative to the end of the header. Written here because no Debian package reads the format
// from C++. Every rule of the format is checked before any data is trusted: the header's size
// and JSON, known dtypes, shapes whose byte size equals their offsets' span, offsets inside the
// file, no overlaps and no holes; a violation is one InputError naming the file and tensor.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace keel::nmt {

class SafeTensors {
 public:
  struct Entry {
    std::string dtype;  // "F32", "F16", "BF16", ...
    std::vector<std::int64_t> shape;
    std::uint64_t begin = 0, end = 0;  // absolute file offsets
  };

  explicit SafeTensors(const std::filesystem::path& file);
  bool has(const std::string& name) const { return entries_.count(name) != 0; }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The tensor as float32 (F32 read as is, F16 and BF16 widened). Throws InputError naming the
  // tensor when absent, of another dtype, or (when `shape` is not empty) of another shape.
  std::vector<float> read_f32(const std::string& name, const std::vector<std::int64_t>& shape = {});
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::ifstream in_;
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace keel::nmt
