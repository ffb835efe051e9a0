#pragma once
// CTranslate2's model.bin (private to the importer). Written here because CTranslate2 is not in
// Debian; the layout follows CTranslate2's own writer (python/ctranslate2/specs/model_spec.py,
// ModelSpec._serialize) and reader (src/models/model.cc, Model::load), little-endian:
//   u32 binary_version (1..6)
//   v >= 2: string spec_name, u32 spec_revision (v1: no name, revision 1)
//   u32 n; n × { string name, u8 rank, u32 dims[rank],
//                v >= 4: u8 dtype (0 f32, 1 i8, 2 i16, 3 i32, 4 f16, 5 bf16), u32 bytes
//                v <= 3: u8 item size (4 f32, 2 i16, 1 i8), u32 elements;  data }
//   v >= 3: u32 m; m × { string alias, string target }
// where a string is a u16 length (NUL included) and that many bytes ending in NUL. Every size is
// checked against the file before it is trusted. Revision 1 Transformers stored OpenNMT-tf's
// variable names: read() renames them to the spec's, as CTranslate2 does.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace keel::nmt::ct2 {

enum class DType : std::uint8_t { f32 = 0, i8 = 1, i16 = 2, i32 = 3, f16 = 4, bf16 = 5 };

struct Variable {
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::vector<unsigned char> data;
  std::int64_t numel() const;
};

struct File {
  std::filesystem::path path;
  std::uint32_t version = 0, revision = 1;
  std::string spec;
  std::map<std::string, Variable> variables;
  std::map<std::string, std::string> aliases;

  // The variable (through an alias, with "<alias>_scale" following its target as CTranslate2
  // does), or nullptr.
  const Variable* find(const std::string& name) const;
  bool has(const std::string& name) const { return find(name) != nullptr; }
  // The name an alias stands for (itself when not an alias).
  std::string resolve(const std::string& name) const;
  // As float32: floats widened, int8 / int16 divided by their "<name>_scale" (per row / whole
  // tensor). Throws InputError naming the file and variable when absent, of another shape (when
  // `shape` is given) or of an unusable type.
  std::vector<float> floats(const std::string& name, const std::vector<std::int64_t>& shape = {}) const;
  // A scalar attribute of any numeric type, or `fallback` when absent.
  double scalar(const std::string& name, double fallback) const;
  // A string stored as an int8 array (binary versions before 6), or `fallback`.
  std::string text(const std::string& name, const std::string& fallback) const;
};

File read(const std::filesystem::path& path);

// The spec names CTranslate2 runs as an encoder-decoder Transformer: TransformerSpec, the legacy
// TransformerBase / TransformerBig, and none (binary version 1).
bool is_transformer_spec(const std::string& spec);

}  // namespace keel::nmt::ct2
