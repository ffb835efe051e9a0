// The model file (docs/nmt_model_format.md): magic, version, body size, body, CRC32.
// Values are little-endian; keel only builds for little-endian hosts (static_assert below), so
// numbers are copied as they lie in memory.
#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <bit>
#include <cstring>
#include <fstream>
#include <istream>
#include <limits>
#include <sstream>

#include "keel/core/atomic_file.h"
#include "keel/core/error.h"
#include "keel/nmt/model.h"

namespace keel::nmt {

static_assert(std::endian::native == std::endian::little, "the model file is little-endian");

namespace {

constexpr std::array<char, 8> kMagic = {'K', 'E', 'E', 'L', 'N', 'M', 'T', '\0'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeaderBytes = 8 + 4 + 8;  // magic, version, body size
constexpr std::uint32_t kMaxRank = 8;
constexpr std::uint32_t kMaxName = 4096;

// Config flag bits.
constexpr std::uint32_t kPreNorm = 1u << 0, kSharedEmbeddings = 1u << 1, kTiedOutput = 1u << 2,
                        kSinusoidal = 1u << 3, kScaleEmbeddings = 1u << 4,
                        kPositionLow = 1u << 5, kNoSourceEos = 1u << 8, kSourceBos = 1u << 9,
                        kPositionHigh = 1u << 10;
constexpr int kActivationShift = 6;  // bits 6-7: Activation
constexpr std::uint32_t kKnownFlags = 0x7ffu;

// Sink that either only counts bytes (to know the body size up front) or writes them and keeps
// the running CRC32 (zlib's: table-driven and widely available, so other tools can check it).
class Sink {
 public:
  explicit Sink(std::ostream* out) : out_(out) {}
  void bytes(const void* p, std::size_t n) {
    size_ += n;
    if (!out_) return;
    out_->write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
    const auto* b = static_cast<const Bytef*>(p);
    while (n > 0) {  // zlib's crc32 takes uInt lengths
      auto chunk = static_cast<uInt>(std::min<std::size_t>(n, 1u << 30));
      crc_ = crc32(crc_, b, chunk);
      b += chunk;
      n -= chunk;
    }
  }
  template <typename T>
  void pod(T v) {
    bytes(&v, sizeof v);
  }
  void str(std::string_view s) {
    pod(static_cast<std::uint32_t>(s.size()));
    bytes(s.data(), s.size());
  }
  std::uint64_t size() const { return size_; }
  uLong crc() const { return crc_; }

 private:
  std::ostream* out_;
  std::uint64_t size_ = 0;
  uLong crc_ = crc32(0L, Z_NULL, 0);
};

void write_body(const Model& m, Sink& s) {
  const ModelConfig& c = m.config;
  for (auto v :
       {c.encoder_layers, c.decoder_layers, c.d_model, c.heads, c.ffn, c.src_vocab, c.tgt_vocab})
    s.pod(v);
  std::uint32_t flags =
      (c.pre_norm ? kPreNorm : 0u) | (c.shared_embeddings ? kSharedEmbeddings : 0u) |
      (c.tied_output ? kTiedOutput : 0u) | (c.sinusoidal_positions ? kSinusoidal : 0u) |
      (c.scale_embeddings ? kScaleEmbeddings : 0u) |
      ((static_cast<std::uint32_t>(c.positions) & 1u) ? kPositionLow : 0u) |
      ((static_cast<std::uint32_t>(c.positions) & 2u) ? kPositionHigh : 0u) |
      (c.source_eos ? 0u : kNoSourceEos) | (c.source_bos ? kSourceBos : 0u) |
      (static_cast<std::uint32_t>(c.activation) << kActivationShift);
  s.pod(flags);
  s.pod(c.layer_norm_eps);
  for (auto v : {c.pad_id, c.bos_id, c.eos_id, c.unk_id}) s.pod(v);

  std::vector<const Vocabulary*> vocabs{&m.src_vocab};
  if (!c.shared_embeddings) vocabs.push_back(&m.tgt_vocab);
  s.pod(static_cast<std::uint32_t>(vocabs.size()));
  for (const auto* v : vocabs) {
    s.pod(static_cast<std::uint32_t>(v->size()));
    for (const auto& t : v->tokens()) s.str(t);
  }

  s.pod(static_cast<std::uint32_t>(m.tensors.size()));
  for (const auto& [name, t] : m.tensors) {
    s.str(name);
    s.pod(static_cast<std::uint8_t>(t.dtype));
    s.pod(static_cast<std::uint8_t>(t.shape.size()));
    for (auto d : t.shape) s.pod(static_cast<std::uint64_t>(d));
    if (t.dtype == DType::s8) {
      s.bytes(t.scales.data(), t.scales.size() * sizeof(float));
      s.bytes(t.s8.data(), t.s8.size());
    } else {
      s.bytes(t.f32.data(), t.f32.size() * sizeof(float));
    }
  }
}

void check_tensor_storage(const std::string& name, const Tensor& t) {
  if (t.deferred) throw core::Error(fmt::format("tensor '{}': data not fetched yet", name));
  auto n = static_cast<std::size_t>(t.numel());
  bool ok = t.dtype == DType::s8 ? t.s8.size() == n && t.scales.size() == std::size_t(t.rows())
                                 : t.f32.size() == n;
  if (!ok || t.shape.size() > kMaxRank)
    throw core::Error(fmt::format("tensor '{}': data size does not match its shape", name));
}

// Reads the body from a stream of known length, turning every short read into an InputError
// that names the byte offset.
class Reader {
 public:
  Reader(std::istream& in, std::uint64_t end, std::string source)
      : in_(in), end_(end), source_(std::move(source)) {}
  [[noreturn]] void fail(const std::string& what, const std::string& hint = {}) const {
    throw core::InputError(fmt::format("corrupt model file at byte {}: {}", pos_, what),
                           core::Location{source_, 0, 0, {}},
                           hint.empty() ? "re-create or re-export the model file" : hint);
  }
  void bytes(void* p, std::uint64_t n) {
    if (n > end_ - pos_)
      fail(fmt::format("needs {} more bytes, the body ends at byte {}", n, end_));
    in_.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
    if (!in_) fail("read failed (truncated file?)");
    pos_ += n;
  }
  void skip(std::uint64_t n) {
    if (n > end_ - pos_)
      fail(fmt::format("needs {} more bytes, the body ends at byte {}", n, end_));
    in_.seekg(static_cast<std::streamoff>(n), std::ios::cur);
    if (!in_) fail("seek failed (truncated file?)");
    pos_ += n;
  }
  template <typename T>
  T pod() {
    T v;
    bytes(&v, sizeof v);
    return v;
  }
  std::string str(std::uint32_t max_len) {
    auto n = pod<std::uint32_t>();
    if (n > max_len || n > end_ - pos_) fail(fmt::format("string length {} is implausible", n));
    std::string s(n, '\0');
    bytes(s.data(), n);
    return s;
  }
  std::uint64_t pos() const { return pos_; }
  std::uint64_t left() const { return end_ - pos_; }
  void seek_to(std::uint64_t p) { pos_ = p; }

 private:
  std::istream& in_;
  std::uint64_t end_, pos_ = 0;
  std::string source_;
};

// Reads one tensor's data (scales then s8 values, or f32 values) into `t`.
void read_tensor_data(Reader& r, Tensor& t) {
  const auto numel = static_cast<std::uint64_t>(t.numel());
  if (t.dtype == DType::s8) {
    t.scales.resize(static_cast<std::size_t>(t.shape[0]));
    r.bytes(t.scales.data(), t.scales.size() * sizeof(float));
    t.s8.resize(numel);
    r.bytes(t.s8.data(), numel);
  } else {
    t.f32.resize(numel);
    r.bytes(t.f32.data(), numel * sizeof(float));
  }
}

std::uint64_t tensor_data_bytes(const Tensor& t) {
  const auto numel = static_cast<std::uint64_t>(t.numel());
  return t.dtype == DType::s8 ? static_cast<std::uint64_t>(t.shape[0]) * sizeof(float) + numel
                              : numel * sizeof(float);
}

Model read_body(Reader& r, bool deferred) {
  Model m;
  ModelConfig& c = m.config;
  for (auto* v : {&c.encoder_layers, &c.decoder_layers, &c.d_model, &c.heads, &c.ffn, &c.src_vocab,
                  &c.tgt_vocab})
    *v = r.pod<std::uint32_t>();
  auto flags = r.pod<std::uint32_t>();
  if (flags & ~kKnownFlags) r.fail(fmt::format("unknown config flags 0x{:x}", flags));
  c.activation = static_cast<Activation>((flags >> kActivationShift) & 3u);
  const std::uint32_t layout = (flags & kPositionLow ? 1u : 0u) | (flags & kPositionHigh ? 2u : 0u);
  c.positions = static_cast<PositionLayout>(layout);
  c.source_eos = !(flags & kNoSourceEos);
  c.source_bos = flags & kSourceBos;
  c.pre_norm = flags & kPreNorm;
  c.shared_embeddings = flags & kSharedEmbeddings;
  c.tied_output = flags & kTiedOutput;
  c.sinusoidal_positions = flags & kSinusoidal;
  c.scale_embeddings = flags & kScaleEmbeddings;
  c.layer_norm_eps = r.pod<float>();
  for (auto* v : {&c.pad_id, &c.bos_id, &c.eos_id, &c.unk_id}) *v = r.pod<std::uint32_t>();

  auto nvocab = r.pod<std::uint32_t>();
  if (nvocab != (c.shared_embeddings ? 1u : 2u))
    r.fail(fmt::format("{} vocabularies stored, the config needs {}", nvocab,
                       c.shared_embeddings ? 1 : 2));
  std::vector<Vocabulary> vocabs;
  for (std::uint32_t v = 0; v < nvocab; ++v) {
    auto n = r.pod<std::uint32_t>();
    if (n > r.left() / 4) r.fail(fmt::format("vocabulary size {} is implausible", n));
    std::vector<std::string> tokens;
    tokens.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) tokens.push_back(r.str(kMaxName));
    vocabs.emplace_back(std::move(tokens));
  }
  m.src_vocab = vocabs[0];
  m.tgt_vocab = vocabs.back();

  auto ntensors = r.pod<std::uint32_t>();
  for (std::uint32_t i = 0; i < ntensors; ++i) {
    std::string name = r.str(kMaxName);
    Tensor t;
    auto dtype = r.pod<std::uint8_t>();
    if (dtype > 1) r.fail(fmt::format("tensor '{}': unknown dtype {}", name, dtype));
    t.dtype = static_cast<DType>(dtype);
    auto rank = r.pod<std::uint8_t>();
    if (rank > kMaxRank) r.fail(fmt::format("tensor '{}': rank {} > {}", name, rank, kMaxRank));
    std::uint64_t numel = 1;
    for (int d = 0; d < rank; ++d) {
      auto dim = r.pod<std::uint64_t>();
      // Bound every product by the bytes left so a corrupt dim cannot request a huge allocation.
      if (dim != 0 && numel > r.left() / dim)
        r.fail(fmt::format("tensor '{}': shape too large", name));
      numel *= dim;
      t.shape.push_back(static_cast<std::int64_t>(dim));
    }
    if (t.dtype == DType::s8 && rank == 0)
      r.fail(fmt::format("tensor '{}': s8 tensors need a row dimension", name));
    if (t.dtype == DType::f32 && numel > r.left() / sizeof(float))
      r.fail(fmt::format("tensor '{}': data truncated", name));
    if (deferred) {
      t.deferred = true;
      t.file_offset = kHeaderBytes + r.pos();
      r.skip(tensor_data_bytes(t));
    } else {
      read_tensor_data(r, t);
    }
    if (!m.tensors.emplace(name, std::move(t)).second)
      r.fail(fmt::format("tensor '{}' stored twice", name));
  }
  if (r.left() != 0) r.fail(fmt::format("{} unexpected bytes after the last tensor", r.left()));
  return m;
}

// Checks magic, version and length, then the CRC over the whole file before parsing anything.
Model read_model(std::istream& in, std::uint64_t file_size, const std::string& source,
                 bool deferred) {
  auto bad = [&](const std::string& what, const std::string& hint) {
    return core::InputError(what, core::Location{source, 0, 0, {}}, hint);
  };
  if (file_size < kHeaderBytes + 4)
    throw bad(fmt::format("not a keel model file: only {} bytes", file_size),
              "pass a file written by 'keel nmt random-model' or the trainer");
  std::array<char, 8> magic{};
  in.read(magic.data(), 8);
  if (!in || magic != kMagic)
    throw bad("not a keel model file (bad magic)",
              "pass a file written by 'keel nmt random-model' or the trainer");
  std::uint32_t version = 0;
  std::uint64_t body = 0;
  in.read(reinterpret_cast<char*>(&version), 4);
  in.read(reinterpret_cast<char*>(&body), 8);
  if (version != kVersion)
    throw bad(fmt::format("model file version {} is not supported (this keel reads {})", version,
                          kVersion),
              "re-export the model with this keel version");
  if (body > file_size - kHeaderBytes - 4 || body != file_size - kHeaderBytes - 4)
    throw bad(fmt::format("truncated or padded model file: header says {} bytes, file has {}",
                          kHeaderBytes + body + 4, file_size),
              "the file was cut short while copying; copy or re-create it");

  // Pass 1: checksum, in chunks so the file is never held twice in memory.
  in.seekg(0);
  uLong crc = crc32(0L, Z_NULL, 0);
  std::vector<char> buf(1 << 20);
  std::uint64_t left = kHeaderBytes + body;
  while (left > 0) {
    auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    in.read(buf.data(), static_cast<std::streamsize>(n));
    if (!in) throw bad("read failed", "check the file");
    crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(n));
    left -= n;
  }
  std::uint32_t stored = 0;
  in.read(reinterpret_cast<char*>(&stored), 4);
  if (!in || stored != static_cast<std::uint32_t>(crc))
    throw bad(fmt::format("model file checksum mismatch (stored {:08x}, computed {:08x})", stored,
                          static_cast<std::uint32_t>(crc)),
              "the file is corrupt; copy or re-create it");

  // Pass 2: parse the body.
  in.clear();
  in.seekg(static_cast<std::streamoff>(kHeaderBytes));
  Reader r(in, body, source);
  Model m = read_body(r, deferred);
  m.config.validate(source);
  if (m.src_vocab.size() != m.config.src_vocab || m.tgt_vocab.size() != m.config.tgt_vocab)
    throw bad(
        fmt::format("vocabulary sizes {}/{} differ from the config's {}/{}", m.src_vocab.size(),
                    m.tgt_vocab.size(), m.config.src_vocab, m.config.tgt_vocab),
        "re-export the model");
  return m;
}

void write_model(const Model& m, std::ostream& out) {
  for (const auto& [name, t] : m.tensors) check_tensor_storage(name, t);
  Sink counter(nullptr);
  write_body(m, counter);
  Sink s(&out);
  s.bytes(kMagic.data(), kMagic.size());
  s.pod(kVersion);
  s.pod(counter.size());
  write_body(m, s);
  auto crc = static_cast<std::uint32_t>(s.crc());
  out.write(reinterpret_cast<const char*>(&crc), 4);
}

}  // namespace

void save_model(const Model& model, const std::filesystem::path& path) {
  core::AtomicFile f(path);
  write_model(model, f.stream());
  f.commit();
}

std::string serialize_model(const Model& model) {
  std::ostringstream out;
  write_model(model, out);
  return std::move(out).str();
}

Model load_model(const std::filesystem::path& path, LoadMode mode) {
  std::ifstream in(path, std::ios::binary);
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (!in || ec)
    throw core::InputError("cannot read model file", core::Location{path.string(), 0, 0, {}},
                           "check the path (create one with 'keel nmt random-model')");
  Model m = read_model(in, size, path.string(), mode == LoadMode::deferred);
  if (mode == LoadMode::deferred) m.source = path;
  return m;
}

void Model::fetch(const std::string& prefix) {
  std::ifstream in;
  for (auto it = tensors.lower_bound(prefix); it != tensors.end() && it->first.starts_with(prefix);
       ++it) {
    Tensor& t = it->second;
    if (!t.deferred) continue;
    if (!in.is_open()) {
      in.open(source, std::ios::binary);
      if (!in)
        throw core::InputError("cannot reopen the model file",
                               core::Location{source.string(), 0, 0, {}},
                               "keep the file in place while the model loads");
    }
    // The whole file was checksummed at load; a file replaced since then shows as a short read.
    in.seekg(static_cast<std::streamoff>(t.file_offset));
    Reader r(in, t.file_offset + tensor_data_bytes(t), source.string());
    r.seek_to(t.file_offset);  // errors name the file's own byte offset
    read_tensor_data(r, t);
    t.deferred = false;
  }
}

Model parse_model(std::string_view bytes, const std::string& source) {
  std::istringstream in{std::string(bytes)};
  return read_model(in, bytes.size(), source, false);
}

}  // namespace keel::nmt
