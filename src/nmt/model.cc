// Model config checks, named-tensor lookup, presets and random models.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <numbers>

#include "keel/core/error.h"
#include "keel/nmt/model.h"

namespace keel::nmt {

std::int64_t Tensor::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

Vocabulary::Vocabulary(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  index_.reserve(tokens_.size());
  for (std::uint32_t i = 0; i < tokens_.size(); ++i) index_.emplace(tokens_[i], i);
}

std::uint32_t Vocabulary::id(std::string_view token, std::uint32_t unk) const {
  auto it = index_.find(std::string(token));
  return it == index_.end() ? unk : it->second;
}

void ModelConfig::validate(std::string_view source, std::string_view hint) const {
  auto fail = [&](const std::string& what) {
    throw core::InputError("model config: " + what, core::Location{std::string(source), 0, 0, {}},
                           std::string(hint));
  };
  if (d_model == 0 || heads == 0 || d_model % heads != 0)
    fail(fmt::format("d_model {} must be a positive multiple of heads {}", d_model, heads));
  if (ffn == 0 || src_vocab == 0 || tgt_vocab == 0) fail("ffn and vocabulary sizes must be > 0");
  if (encoder_layers == 0 || decoder_layers == 0)
    fail("needs at least one encoder and decoder layer");
  if (encoder_layers > 256 || decoder_layers > 256 || d_model > 65536 || ffn > 1 << 20)
    fail("layer counts or widths are implausibly large");
  if (shared_embeddings && src_vocab != tgt_vocab)
    fail(fmt::format("shared embeddings need equal vocabularies ({} vs {})", src_vocab, tgt_vocab));
  if (!sinusoidal_positions) fail("only sinusoidal positions are supported");
  for (auto id : {pad_id, bos_id, eos_id, unk_id})
    if (id >= tgt_vocab || id >= src_vocab)
      fail(fmt::format("special token id {} >= vocabulary", id));
  if (!(layer_norm_eps > 0.f)) fail("layer_norm_eps must be > 0");
}

const Tensor& Model::get(const std::string& name, std::vector<std::int64_t> expected_shape) const {
  auto it = tensors.find(name);
  if (it == tensors.end())
    throw core::InputError(fmt::format("model has no tensor '{}'", name), {},
                           "see docs/nmt_model_format.md for the names a model must hold");
  if (it->second.shape != expected_shape)
    throw core::InputError(
        fmt::format("tensor '{}' has shape [{}], expected [{}]", name,
                    fmt::join(it->second.shape, ", "), fmt::join(expected_shape, ", ")),
        {}, "the tensor does not match the model config");
  if (it->second.deferred)
    throw core::Error(fmt::format("tensor '{}' is not fetched from the model file yet", name));
  return it->second;
}

Preset parse_preset(std::string_view name) {
  if (name == "tiny") return Preset::tiny;
  if (name == "base") return Preset::base;
  throw core::InputError(fmt::format("unknown preset '{}'", name), {}, "use base or tiny");
}

ModelConfig preset_config(Preset preset) {
  ModelConfig c;  // the defaults are Transformer-base
  if (preset == Preset::tiny) {
    c.encoder_layers = 2;
    c.decoder_layers = 2;
    c.d_model = 32;
    c.heads = 4;
    c.ffn = 64;
    c.src_vocab = c.tgt_vocab = 50;
  }
  return c;
}

std::vector<std::pair<std::string, std::vector<std::int64_t>>> expected_tensors(
    const ModelConfig& c) {
  const std::int64_t d = c.d_model, f = c.ffn;
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> out;
  auto norm = [&](const std::string& p) {
    out.push_back({p + ".weight", {d}});
    out.push_back({p + ".bias", {d}});
  };
  auto linear = [&](const std::string& p, std::int64_t n_out, std::int64_t n_in) {
    out.push_back({p + ".weight", {n_out, n_in}});
    out.push_back({p + ".bias", {n_out}});
  };
  auto attention = [&](const std::string& p) {
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"})
      linear(p + "." + proj, d, d);
  };
  auto ffn = [&](const std::string& p) {
    linear(p + ".fc1", f, d);
    linear(p + ".fc2", d, f);
  };
  out.push_back({"encoder.embed.weight", {c.src_vocab, d}});
  if (!c.shared_embeddings) out.push_back({"decoder.embed.weight", {c.tgt_vocab, d}});
  if (!c.tied_output) out.push_back({"decoder.output.weight", {c.tgt_vocab, d}});
  for (std::uint32_t i = 0; i < c.encoder_layers; ++i) {
    auto p = fmt::format("encoder.layers.{}", i);
    norm(p + ".self_attn_norm");
    attention(p + ".self_attn");
    norm(p + ".ffn_norm");
    ffn(p + ".ffn");
  }
  for (std::uint32_t i = 0; i < c.decoder_layers; ++i) {
    auto p = fmt::format("decoder.layers.{}", i);
    norm(p + ".self_attn_norm");
    attention(p + ".self_attn");
    norm(p + ".cross_attn_norm");
    attention(p + ".cross_attn");
    norm(p + ".ffn_norm");
    ffn(p + ".ffn");
  }
  if (c.pre_norm) {
    norm("encoder.final_norm");
    norm("decoder.final_norm");
  }
  return out;
}

namespace {

// splitmix64 + Box-Muller: the same stream on every platform (std::normal_distribution is
// implementation-defined) and fast enough for the 60 M weights of Transformer-base.
class Normal {
 public:
  explicit Normal(std::uint64_t seed) : s_(seed) {}
  float operator()() {
    if (have_) {
      have_ = false;
      return spare_;
    }
    double u1 = (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53;
    double u2 = static_cast<double>(next() >> 11) * 0x1.0p-53;
    double r = std::sqrt(-2.0 * std::log(u1)), a = 2.0 * std::numbers::pi * u2;
    spare_ = static_cast<float>(r * std::sin(a));
    have_ = true;
    return static_cast<float>(r * std::cos(a));
  }

 private:
  std::uint64_t next() {
    std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  std::uint64_t s_;
  float spare_ = 0.f;
  bool have_ = false;
};

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Model random_model(const ModelConfig& config, std::uint64_t seed) {
  config.validate("random model");
  Model m;
  m.config = config;
  auto vocab = [&](std::uint32_t n) {
    std::vector<std::string> t{"<pad>", "<s>", "</s>", "<unk>"};
    for (std::uint32_t i = static_cast<std::uint32_t>(t.size()); i < n; ++i)
      t.push_back(fmt::format("w{}", i));
    t.resize(n);
    return Vocabulary(std::move(t));
  };
  m.src_vocab = vocab(config.src_vocab);
  m.tgt_vocab = config.shared_embeddings ? m.src_vocab : vocab(config.tgt_vocab);

  Normal normal(seed);
  auto specs = expected_tensors(config);
  // The output bias is optional in files (docs/nmt_model_format.md); random models carry one.
  specs.push_back({"decoder.output.bias", {config.tgt_vocab}});
  for (auto& [name, shape] : specs) {
    Tensor t;
    t.shape = shape;
    t.f32.resize(static_cast<std::size_t>(t.numel()));
    const bool is_norm = name.find("norm") != std::string::npos;
    // Linear weights: std 1/sqrt(fan_in) keeps activations O(1) through the layers; embeddings:
    // std 1/sqrt(d) so that after the sqrt(d) scale they are O(1) too.
    float std_dev = shape.size() == 2 ? 1.f / std::sqrt(static_cast<float>(shape[1])) : 0.02f;
    float mean = is_norm && ends_with(name, ".weight") ? 1.f : 0.f;
    if (is_norm) std_dev = 0.05f;
    for (auto& v : t.f32) v = mean + std_dev * normal();
    m.tensors.emplace(name, std::move(t));
  }
  return m;
}

}  // namespace keel::nmt
