#pragma once
// keel's Transformer model: config, vocabularies and named tensors, as stored in the model file
// (docs/nmt_model_format.md). Layers look their weights up by name (CTranslate2 style).

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace keel::nmt {

enum class DType : std::uint8_t { f32 = 0, s8 = 1 };

// The feed-forward layers' nonlinearity: ReLU (keel's own models, OpenNMT-py), GELU with erf
// (Hugging Face "gelu"), swish = SiLU, x·sigmoid(x) (Marian's OPUS-MT models), or GELU's tanh
// approximation (CTranslate2's GELUTanh).
enum class Activation : std::uint8_t { relu = 0, gelu = 1, swish = 2, gelu_tanh = 3 };
// Where sin and cos sit in a sinusoidal position vector: interleaved (sin at even, cos at odd
// indices: Vaswani et al., tensor2tensor, OpenNMT-py, keel), halves (sin in the first half, cos
// in the second: Marian), tensorflow (halves with frequencies exp(-j·ln(10000)/(d/2 - 1)) and
// positions counted from 1: OpenNMT-tf, CTranslate2's own table) or concat (the same from
// position 0: fairseq, OpenNMT-py's SinusoidalConcat).
enum class PositionLayout : std::uint8_t { interleaved = 0, halves = 1, tensorflow = 2, concat = 3 };

struct ModelConfig {
  std::uint32_t encoder_layers = 6, decoder_layers = 6;
  std::uint32_t d_model = 512, heads = 8, ffn = 2048;
  std::uint32_t src_vocab = 32000, tgt_vocab = 32000;
  bool pre_norm = true;
  bool shared_embeddings = true;  // one table for source, target and (if tied) output
  bool tied_output = true;        // output projection = target embedding table
  bool sinusoidal_positions = true;
  bool scale_embeddings = true;  // embeddings multiplied by sqrt(d_model)
  Activation activation = Activation::relu;
  PositionLayout positions = PositionLayout::interleaved;
  // What surrounds a source sentence's tokens: keel and Marian end it with EOS; OpenNMT-py
  // models (and their CTranslate2 conversions) see the bare tokens.
  bool source_bos = false, source_eos = true;
  float layer_norm_eps = 1e-5f;
  std::uint32_t pad_id = 0, bos_id = 1, eos_id = 2, unk_id = 3;

  // Throws core::InputError when inconsistent (d_model % heads, shared vocab sizes, ids >= vocab).
  void validate(std::string_view source,
                std::string_view hint = "fix the exporter or re-create the model") const;
};

// One stored tensor. f32 tensors use `f32`; s8 tensors use `s8` plus one scale per row
// (dim 0 = output channel): real value = s8 / scale.
struct Tensor {
  DType dtype = DType::f32;
  std::vector<std::int64_t> shape;
  std::vector<float> f32;
  std::vector<std::int8_t> s8;
  std::vector<float> scales;
  // Deferred loading (LoadMode::deferred): the data still lies in the file at this byte offset
  // and the vectors above are empty until Model::fetch reads it.
  bool deferred = false;
  std::uint64_t file_offset = 0;

  std::int64_t numel() const;
  std::int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  std::int64_t cols() const { return shape.empty() ? 1 : numel() / rows(); }
};

class Vocabulary {
 public:
  Vocabulary() = default;
  explicit Vocabulary(std::vector<std::string> tokens);
  std::size_t size() const { return tokens_.size(); }
  const std::string& token(std::uint32_t id) const { return tokens_.at(id); }
  // Id of `token`, or `unk` when absent.
  std::uint32_t id(std::string_view token, std::uint32_t unk) const;
  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, std::uint32_t> index_;
};

struct Model {
  ModelConfig config;
  Vocabulary src_vocab, tgt_vocab;  // equal when config.shared_embeddings
  std::map<std::string, Tensor> tensors;
  // The checked file deferred tensors are read from (LoadMode::deferred), else empty.
  std::filesystem::path source;

  bool has(const std::string& name) const { return tensors.count(name) != 0; }
  // Throws core::InputError naming the tensor when absent or when its shape differs, and
  // core::Error when its data is still deferred (fetch it first).
  const Tensor& get(const std::string& name, std::vector<std::int64_t> expected_shape) const;
  // Reads the data of every deferred tensor whose name starts with `prefix` from `source`;
  // nothing to do for a model loaded whole. Throws core::InputError when the file changed.
  void fetch(const std::string& prefix);
};

// Writes the model file atomically. Throws core::Error on I/O failure.
void save_model(const Model& model, const std::filesystem::path& path);
// whole: every tensor read into memory. deferred: the file is checked the same way (checksum,
// every header and size) but tensor data is read only by Model::fetch, so a consumer that builds
// its own weights layer by layer (Transformer(Model&&)) never holds the whole file at once.
enum class LoadMode { whole, deferred };

// Reads and checks (magic, version, sizes, checksum) a model file. Throws core::InputError for a
// missing, truncated or corrupt file, with the byte offset where reading stopped.
Model load_model(const std::filesystem::path& path, LoadMode mode = LoadMode::whole);
// Same, from bytes in memory; `source` names them in errors.
Model parse_model(std::string_view bytes, const std::string& source);
std::string serialize_model(const Model& model);

enum class Preset { tiny, base };
Preset parse_preset(std::string_view name);
ModelConfig preset_config(Preset preset);
// A model with random weights (normal, std 1/sqrt(fan_in)) and a synthetic vocabulary
// (specials, then "w0", "w1", ...): speed and parity can be measured before a trained model.
Model random_model(const ModelConfig& config, std::uint64_t seed);

// Every tensor name (and shape) a model with this config must hold; used by random_model and to
// check files other tools write.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected_tensors(
    const ModelConfig& config);

}  // namespace keel::nmt
