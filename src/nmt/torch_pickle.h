#pragma once
// Reader for PyTorch checkpoints (torch.save's zip format, PyTorch >= 1.6): a zip archive (read
// with libzip) holding <name>/data.pkl, a pickle (protocols 2-4), and <name>/data/<key>, the raw
// tensor storages. The pickle is interpreted by a restricted machine written here (no Debian
// package unpickles from C++, and LibTorch's unpickler refuses the Python objects checkpoints
// carry, such as argparse.Namespace): only data opcodes; a class is never instantiated, it is
// kept as its name and state; tensors are rebuilt from torch._utils._rebuild_tensor_v2 as
// references into their storage. Private to the importers.
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace keel::nmt::pt {

struct Value;
using Ref = std::shared_ptr<Value>;

struct Value {
  enum class Kind { none, boolean, integer, real, string, bytes, list, tuple, dict, global, object, storage, tensor };
  Kind kind = Kind::none;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;  // string / bytes; global and object: "module.Name"; storage: its key
  std::vector<Ref> items;  // list, tuple; object: constructor arguments
  std::vector<std::pair<Ref, Ref>> dict;
  Ref state;  // object: what BUILD gave it (a dict for argparse.Namespace)
  // storage: s = key, dtype = "float" | "half" | "bfloat16" | "long" | ...; tensor: storage, offset, shape, stride
  std::string dtype;
  Ref storage;
  std::int64_t offset = 0;
  std::vector<std::int64_t> shape, stride;

  // For a dict, or an object whose state is a dict: the value under string `key`, or nullptr.
  const Value* get(const std::string& key) const;
  bool is_int() const { return kind == Kind::integer || kind == Kind::boolean; }
};

class Checkpoint {
 public:
  explicit Checkpoint(const std::filesystem::path& file);
  ~Checkpoint();
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;
  const Value& root() const { return *root_; }
  const std::filesystem::path& path() const { return path_; }
  // A tensor value as float32 (float, half and bfloat16 storages), checked against its storage.
  // Throws InputError naming `name` otherwise.
  std::vector<float> floats(const Value& tensor, const std::string& name) const;

 private:
  std::vector<unsigned char> entry(const std::string& name) const;
  std::filesystem::path path_;
  void* zip_ = nullptr;
  std::string prefix_;
  Ref root_;
};

// The pickle machine alone, over bytes (exposed for tests).
Ref unpickle(const std::vector<unsigned char>& bytes, const std::string& where);

}  // namespace keel::nmt::pt
