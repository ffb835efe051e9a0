// safetensors reader (safetensors.h).
#include "keel/nmt/safetensors.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <nlohmann/json.hpp>

#include "keel/core/error.h"
#include "keel/nmt/half.h"

namespace keel::nmt {

namespace {

constexpr std::uint64_t kMaxHeader = 100'000'000;  // the format's own limit (100 MB)

std::size_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL" || dtype == "F8_E4M3" || dtype == "F8_E5M2")
    return 1;
  return 0;
}

}  // namespace

SafeTensors::SafeTensors(const std::filesystem::path& file) : path_(file), in_(file, std::ios::binary) {
  auto bad = [&](const std::string& what, const std::string& key = {}) {
    return core::InputError(what, core::Location{file.string(), 0, 0, key},
                            "the file is not a valid safetensors file: re-download or re-save it");
  };
  if (!in_) throw core::InputError("cannot open the weights", core::Location{file.string(), 0, 0, {}}, "check the path");
  const auto size = static_cast<std::uint64_t>(std::filesystem::file_size(file));
  unsigned char len[8];
  if (size < 8 || !in_.read(reinterpret_cast<char*>(len), 8)) throw bad("shorter than the 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = n << 8 | len[i];  // little-endian whatever the host
  if (n < 2 || n > kMaxHeader || n > size - 8)
    throw bad(fmt::format("header length {} does not fit the file ({} bytes)", n, size));
  std::string header(static_cast<std::size_t>(n), '\0');
  if (!in_.read(header.data(), static_cast<std::streamsize>(n))) throw bad("truncated header");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);  // trailing spaces (the format's padding) are allowed
  } catch (const nlohmann::json::parse_error& e) {
    throw bad(fmt::format("header is not valid JSON ({})", e.what()));
  }
  if (!j.is_object()) throw bad("header is not a JSON object");
  const std::uint64_t data0 = 8 + n, data_bytes = size - data0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw bad("__metadata__ is not an object", name);
      for (const auto& [k, m] : v.items()) {
        if (!m.is_string()) throw bad("__metadata__ values must be strings", k);
        metadata_[k] = m.get<std::string>();
      }
      continue;
    }
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") ||
        !v["dtype"].is_string() || !v["shape"].is_array() || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2)
      throw bad("tensor entry needs dtype, shape and data_offsets [begin, end]", name);
    Entry e;
    e.dtype = v["dtype"].get<std::string>();
    const std::size_t width = dtype_bytes(e.dtype);
    if (width == 0) throw bad(fmt::format("unknown dtype '{}'", e.dtype), name);
    std::uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw bad("shape entries must be non-negative integers", name);
      const auto dim = d.get<std::uint64_t>();
      if (dim > (1ull << 40) || (dim != 0 && numel > (1ull << 40) / dim)) throw bad("shape too large", name);
      numel *= dim;
      e.shape.push_back(static_cast<std::int64_t>(dim));
    }
    for (const auto& o : v["data_offsets"])
      if (!o.is_number_unsigned()) throw bad("data_offsets must be non-negative integers", name);
    const auto b = v["data_offsets"][0].get<std::uint64_t>(), en = v["data_offsets"][1].get<std::uint64_t>();
    if (b > en || en > data_bytes)
      throw bad(fmt::format("data_offsets [{}, {}] outside the {} data bytes", b, en, data_bytes), name);
    if (en - b != numel * width)
      throw bad(fmt::format("{} {} x {} bytes do not fill data_offsets [{}, {}]", e.dtype,
                            fmt::join(e.shape, "x"), width, b, en),
                name);
    e.begin = data0 + b;
    e.end = data0 + en;
    spans.emplace_back(b, en);
    entries_.emplace(name, std::move(e));
  }
  // The format forbids overlaps and holes: sorted spans must tile [0, data_bytes).
  std::sort(spans.begin(), spans.end());
  std::uint64_t at = 0;
  for (const auto& [b, en] : spans) {
    if (b != at) throw bad(fmt::format("tensor data {} at byte {} (holes and overlaps are not allowed)",
                                       b < at ? "overlaps" : "leaves a hole", b));
    at = en;
  }
  if (at != data_bytes) throw bad(fmt::format("{} bytes after the last tensor", data_bytes - at));
}

std::vector<float> SafeTensors::read_f32(const std::string& name, const std::vector<std::int64_t>& shape) {
  const auto it = entries_.find(name);
  if (it == entries_.end())
    throw core::InputError(fmt::format("tensor '{}' is missing", name), core::Location{path_.string(), 0, 0, name},
                           "the checkpoint does not match its config.json");
  const Entry& e = it->second;
  if (!shape.empty() && e.shape != shape)
    throw core::InputError(fmt::format("tensor '{}' has shape [{}], the config needs [{}]", name,
                                       fmt::join(e.shape, ", "), fmt::join(shape, ", ")),
                           core::Location{path_.string(), 0, 0, name},
                           "the checkpoint does not match its config.json");
  const std::size_t width = dtype_bytes(e.dtype);
  if (e.dtype != "F32" && e.dtype != "F16" && e.dtype != "BF16")
    throw core::InputError(fmt::format("tensor '{}' is {}; weights must be F32, F16 or BF16", name, e.dtype),
                           core::Location{path_.string(), 0, 0, name}, "save the model in float32 or float16");
  const std::size_t n = static_cast<std::size_t>((e.end - e.begin) / width);
  std::vector<unsigned char> raw(static_cast<std::size_t>(e.end - e.begin));
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(e.begin));
  if (!in_.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(raw.size())))
    throw core::InputError(fmt::format("cannot read tensor '{}' (file truncated?)", name),
                           core::Location{path_.string(), 0, 0, name}, "re-download the file");
  std::vector<float> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char* p = raw.data() + i * width;
    if (width == 4) {
      const std::uint32_t u = std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 |
                              std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
      out[i] = std::bit_cast<float>(u);
    } else {
      const auto u = static_cast<std::uint16_t>(p[0] | p[1] << 8);
      out[i] = e.dtype == "BF16" ? std::bit_cast<float>(std::uint32_t{u} << 16) : half_to_float_ref(u);
    }
  }
  return out;
}

}  // namespace keel::nmt
