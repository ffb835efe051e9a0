// CTranslate2 model.bin reader (ct2_file.h).
#include "ct2_file.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <string_view>

#include "keel/core/error.h"
#include "keel/nmt/half.h"

namespace keel::nmt::ct2 {

namespace {

std::size_t width(DType t) {
  switch (t) {
    case DType::f32: case DType::i32: return 4;
    case DType::i16: case DType::f16: case DType::bf16: return 2;
    case DType::i8: return 1;
  }
  return 0;
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "float32";
    case DType::i8: return "int8";
    case DType::i16: return "int16";
    case DType::i32: return "int32";
    case DType::f16: return "float16";
    case DType::bf16: return "bfloat16";
  }
  return "?";
}

class Reader {
 public:
  Reader(const std::filesystem::path& p, std::vector<unsigned char> bytes) : path_(p), b_(std::move(bytes)) {}
  template <typename T>
  T pod(const char* what) {
    need(sizeof(T), what);
    T v{};
    for (std::size_t i = 0; i < sizeof(T); ++i) v = static_cast<T>(v | static_cast<T>(T(b_[at_ + i]) << (8 * i)));
    at_ += sizeof(T);
    return v;
  }
  std::string str(const char* what) {
    const auto n = pod<std::uint16_t>(what);
    need(n, what);
    if (n == 0 || b_[at_ + n - 1] != 0) fail(fmt::format("{} is not NUL-terminated", what));
    std::string s(reinterpret_cast<const char*>(b_.data() + at_), n - 1);
    at_ += n;
    return s.substr(0, std::strlen(s.c_str()));  // CTranslate2 reads it as a C string
  }
  std::vector<unsigned char> bytes(std::uint64_t n, const char* what) {
    need(n, what);
    std::vector<unsigned char> v(b_.begin() + static_cast<std::ptrdiff_t>(at_),
                                 b_.begin() + static_cast<std::ptrdiff_t>(at_ + n));
    at_ += n;
    return v;
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw core::InputError(fmt::format("not a CTranslate2 model file: {} at byte {}", what, at_),
                           core::Location{path_.string(), 0, 0, {}},
                           "pass the model.bin CTranslate2 wrote (re-convert the model if it is damaged)");
  }
  std::uint64_t offset() const { return at_; }
  bool done() const { return at_ == b_.size(); }

 private:
  void need(std::uint64_t n, const char* what) const {
    if (n > b_.size() - at_) fail(fmt::format("file ends inside {}", what));
  }
  std::filesystem::path path_;
  std::vector<unsigned char> b_;
  std::uint64_t at_ = 0;
};

constexpr float kGlobalInt16Scale = 1000.f;

// Revision 1 of the Transformer spec stored OpenNMT-tf's own names (CTranslate2 maps them as it
// registers each variable, TransformerModel::register_variable): e.g.
// "transformer/decoder/layer_0/masked_multi_head/conv1d/kernel:0" is
// "decoder/layer_0/self_attention/linear_0/weight". Like CTranslate2, each rule rewrites the first
// occurrence only; names already in the spec's form pass through unchanged.
std::string v1_name(std::string name) {
  auto once = [&](std::string_view from, std::string_view to) {
    if (const auto at = name.find(from); at != std::string::npos) name.replace(at, from.size(), to);
  };
  once("transformer/", "");
  once(":0", "");
  once("w_embs", "embeddings/weight");
  once("kernel", "weight");
  once("LayerNorm", "layer_norm");
  once("dense", "projection");
  once("conv1d_", "linear_");
  once("conv1d", "linear_0");
  if (name.find("encoder") != std::string::npos) {
    once("multi_head", "self_attention");
  } else {
    once("masked_multi_head", "self_attention");
    once("multi_head", "attention");
  }
  return name;
}

}  // namespace

std::int64_t Variable::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

File read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw core::InputError("missing", core::Location{path.string(), 0, 0, {}},
                           "a CTranslate2 model directory holds model.bin");
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Reader r(path, std::move(bytes));
  File f;
  f.path = path;
  f.version = r.pod<std::uint32_t>("the binary version");
  if (f.version < 1 || f.version > 6) r.fail(fmt::format("binary version {} (CTranslate2 4.x reads 1 to 6)", f.version));
  if (f.version >= 2) {
    f.spec = r.str("the spec name");
    f.revision = r.pod<std::uint32_t>("the spec revision");
  }  // else: no spec name (CTranslate2 runs it as TransformerBase), revision 1
  const auto n = r.pod<std::uint32_t>("the variable count");
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::string name = r.str("a variable name");
    Variable v;
    const auto rank = r.pod<std::uint8_t>("a rank");
    if (rank > 8) r.fail(fmt::format("variable '{}' has rank {}", name, rank));
    std::uint64_t numel = 1;
    for (int k = 0; k < rank; ++k) {
      const auto dim = r.pod<std::uint32_t>("a dimension");
      numel *= dim;
      if (numel > (1ull << 34)) r.fail(fmt::format("variable '{}' is implausibly large", name));
      v.shape.push_back(dim);
    }
    std::uint64_t nbytes = 0;
    if (f.version >= 4) {
      const auto t = r.pod<std::uint8_t>("a dtype");
      if (t > 5) r.fail(fmt::format("variable '{}' has unknown dtype {}", name, t));
      v.dtype = static_cast<DType>(t);
      nbytes = r.pod<std::uint32_t>("a byte count");
    } else {
      const auto item = r.pod<std::uint8_t>("an item size");
      if (item == 4) v.dtype = DType::f32;
      else if (item == 2) v.dtype = DType::i16;
      else if (item == 1) v.dtype = DType::i8;
      else r.fail(fmt::format("variable '{}' has item size {}", name, item));
      nbytes = static_cast<std::uint64_t>(r.pod<std::uint32_t>("an element count")) * item;
    }
    if (nbytes != numel * width(v.dtype))
      r.fail(fmt::format("variable '{}': {} bytes for {} [{}]", name, nbytes, dtype_name(v.dtype),
                         fmt::join(v.shape, ", ")));
    v.data = r.bytes(nbytes, "variable data");
    const std::string key = f.revision == 1 && is_transformer_spec(f.spec) ? v1_name(name) : name;
    if (!f.variables.emplace(key, std::move(v)).second) r.fail(fmt::format("variable '{}' is stored twice", key));
  }
  if (f.version >= 3) {
    const auto m = r.pod<std::uint32_t>("the alias count");
    for (std::uint32_t i = 0; i < m; ++i) {
      std::string alias = r.str("an alias"), target = r.str("an alias target");
      f.aliases[alias] = target;
    }
  }
  if (!r.done()) r.fail("data after the last section");
  return f;
}

bool is_transformer_spec(const std::string& spec) {
  return spec.empty() || spec == "TransformerBase" || spec == "TransformerBig" || spec == "TransformerSpec";
}

std::string File::resolve(const std::string& name) const {
  if (variables.count(name)) return name;
  if (auto it = aliases.find(name); it != aliases.end()) return it->second;
  // "<alias>_scale" follows its weight's alias (Model::load does the same).
  for (const char* suffix : {"_scale"})
    if (name.ends_with(suffix)) {
      const std::string base = name.substr(0, name.size() - std::strlen(suffix));
      if (auto it = aliases.find(base); it != aliases.end()) return it->second + suffix;
    }
  return name;
}

const Variable* File::find(const std::string& name) const {
  const auto it = variables.find(resolve(name));
  return it == variables.end() ? nullptr : &it->second;
}

std::vector<float> File::floats(const std::string& name, const std::vector<std::int64_t>& shape) const {
  auto bad = [&](const std::string& what, const std::string& fix) {
    return core::InputError(what, core::Location{path.string(), 0, 0, name}, fix);
  };
  const Variable* v = find(name);
  if (!v) throw bad("missing", "the model is not an encoder-decoder Transformer as CTranslate2's TransformerSpec writes it");
  if (!shape.empty() && v->shape != shape)
    throw bad(fmt::format("shape [{}], expected [{}]", fmt::join(v->shape, ", "), fmt::join(shape, ", ")),
              "model.bin is inconsistent: re-convert the model");
  const auto n = static_cast<std::size_t>(v->numel());
  std::vector<float> out(n);
  const unsigned char* p = v->data.data();
  auto u16 = [&](std::size_t i) { return static_cast<std::uint16_t>(p[2 * i] | p[2 * i + 1] << 8); };
  switch (v->dtype) {
    case DType::f32:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint32_t u = std::uint32_t{p[4 * i]} | std::uint32_t{p[4 * i + 1]} << 8 |
                                std::uint32_t{p[4 * i + 2]} << 16 | std::uint32_t{p[4 * i + 3]} << 24;
        out[i] = std::bit_cast<float>(u);
      }
      return out;
    case DType::f16:
      for (std::size_t i = 0; i < n; ++i) out[i] = half_to_float_ref(u16(i));
      return out;
    case DType::bf16:
      for (std::size_t i = 0; i < n; ++i) out[i] = std::bit_cast<float>(std::uint32_t{u16(i)} << 16);
      return out;
    case DType::i8:
    case DType::i16: {
      // Quantized: real = q / scale, one scale per row (int8) or for the whole tensor (int16).
      // int16 weights of early models carry no scale: CTranslate2 then uses its global one
      // (ops::Quantize::global_int16_scale, 1000).
      const Variable* s = find(name + "_scale");
      if (!s && v->dtype == DType::i8)
        throw bad(fmt::format("{} without {}_scale", dtype_name(v->dtype), name), "re-convert the model");
      const auto scales = s ? floats(name + "_scale") : std::vector<float>{kGlobalInt16Scale};
      const std::int64_t rows = v->shape.empty() ? 1 : v->shape[0], cols = rows ? v->numel() / rows : 0;
      if (scales.size() != 1 && static_cast<std::int64_t>(scales.size()) != rows)
        throw bad(fmt::format("{} scales for {} rows", scales.size(), rows), "re-convert the model");
      for (std::int64_t r = 0; r < rows; ++r) {
        const float sc = scales[scales.size() == 1 ? 0 : static_cast<std::size_t>(r)];
        if (!(sc > 0.f)) throw bad(fmt::format("scale {} of row {} is not positive", sc, r), "re-convert the model");
        for (std::int64_t c = 0; c < cols; ++c) {
          const auto i = static_cast<std::size_t>(r * cols + c);
          const float q = v->dtype == DType::i8 ? static_cast<float>(static_cast<std::int8_t>(p[i]))
                                                : static_cast<float>(static_cast<std::int16_t>(u16(i)));
          out[i] = q / sc;
        }
      }
      return out;
    }
    case DType::i32:
      break;
  }
  throw bad(fmt::format("{} where weights were expected", dtype_name(v->dtype)), "re-convert the model");
}

double File::scalar(const std::string& name, double fallback) const {
  const Variable* v = find(name);
  if (!v) return fallback;
  if (v->numel() != 1)
    throw core::InputError("attribute is not a scalar", core::Location{path.string(), 0, 0, name}, "re-convert the model");
  const unsigned char* p = v->data.data();
  switch (v->dtype) {
    case DType::i8: return static_cast<std::int8_t>(p[0]);
    case DType::i16: return static_cast<std::int16_t>(p[0] | p[1] << 8);
    case DType::i32: {
      std::int32_t x;
      std::memcpy(&x, p, 4);
      return x;
    }
    default: return floats(name)[0];
  }
}

std::string File::text(const std::string& name, const std::string& fallback) const {
  const Variable* v = find(name);
  if (!v) return fallback;
  if (v->dtype != DType::i8)
    throw core::InputError("text attribute is not an int8 array", core::Location{path.string(), 0, 0, name},
                           "re-convert the model");
  return std::string(v->data.begin(), v->data.end());
}

}  // namespace keel::nmt::ct2
