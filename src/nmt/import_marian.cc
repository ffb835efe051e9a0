// Hugging Face MarianMT (OPUS-MT) → keel model directory (import.h). The architecture, as
// transformers' modeling_marian.py defines it: post-norm encoder and decoder layers (no final
// layer norms), embeddings × sqrt(d_model) when scale_embedding, static sinusoidal positions with
// sines in the first half and cosines in the second, attention with biases, the FFN activation
// of config.json, logits = decoder output · embeddingsᵀ + final_logits_bias, decoding starting
// from decoder_start_token_id (= pad).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <fstream>
#include <nlohmann/json.hpp>

#include "keel/core/error.h"
#include "keel/nmt/import.h"
#include "import_util.h"
#include "keel/nmt/layers.h"
#include "keel/nmt/safetensors.h"
#include "torch_pickle.h"

namespace keel::nmt {

namespace fs = std::filesystem;
using detail::import_error;
using nlohmann::json;

namespace {

json read_json(const fs::path& file) {
  std::ifstream in(file);
  if (!in) throw import_error(file, {}, "missing", "a MarianMT directory holds config.json, vocab.json, source.spm, target.spm and model.safetensors");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw import_error(file, {}, fmt::format("not valid JSON ({})", e.what()), "re-download the file");
  }
}

// config.json's integer `key` (required unless a fallback is given).
std::int64_t integer(const json& c, const fs::path& file, const std::string& key,
                     std::optional<std::int64_t> fallback = std::nullopt) {
  if (!c.contains(key) || c[key].is_null()) {
    if (fallback) return *fallback;
    throw import_error(file, key, "missing", "every MarianMT config.json has it");
  }
  if (!c[key].is_number_integer()) throw import_error(file, key, "must be an integer", "fix config.json");
  return c[key].get<std::int64_t>();
}

bool boolean(const json& c, const fs::path& file, const std::string& key, bool fallback) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  if (!c[key].is_boolean()) throw import_error(file, key, "must be true or false", "fix config.json");
  return c[key].get<bool>();
}

// vocab.json: piece → id, ids exactly 0..size-1.
Vocabulary read_vocab(const fs::path& file, std::int64_t size) {
  const json v = read_json(file);
  if (!v.is_object()) throw import_error(file, {}, "must map pieces to ids", "re-download the file");
  if (static_cast<std::int64_t>(v.size()) != size)
    throw import_error(file, {}, fmt::format("{} entries, config.json's vocabulary size is {}", v.size(), size),
              "use the vocab.json that came with the model");
  std::vector<std::string> tokens(static_cast<std::size_t>(size));
  std::vector<char> seen(static_cast<std::size_t>(size), 0);
  for (const auto& [piece, id] : v.items()) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() >= size)
      throw import_error(file, piece, fmt::format("id must be an integer in [0, {})", size), "re-download the file");
    const auto i = static_cast<std::size_t>(id.get<std::int64_t>());
    if (seen[i]++) throw import_error(file, piece, fmt::format("id {} is given twice", i), "re-download the file");
    tokens[i] = piece;
  }
  return Vocabulary(std::move(tokens));
}

std::uint32_t special(const Vocabulary& vocab, const fs::path& file, const std::string& piece) {
  const auto id = vocab.id(piece, static_cast<std::uint32_t>(-1));
  if (id == static_cast<std::uint32_t>(-1))
    throw import_error(file, piece, "the vocabulary lacks this special piece", "use the vocab.json that came with the model");
  return id;
}

// Decoding defaults from generation_config.json (else config.json): num_beams, max_length (HF
// counts the start token), length_penalty, no_repeat_ngram_size, repetition_penalty.
DecodeOptions generation_defaults(const fs::path& dir, const json& config) {
  DecodeOptions o = keel_decoding_defaults();
  const fs::path gen_file = dir / "generation_config.json";
  const json g = fs::exists(gen_file) ? read_json(gen_file) : config;
  const fs::path& f = fs::exists(gen_file) ? gen_file : dir / "config.json";
  // A value no decoder could use is refused, not clamped into something the model never had.
  auto refuse = [&](const char* key, const std::string& why) {
    return core::InputError(fmt::format("{} {}", g[key].dump(), why), core::Location{f.string(), 0, 0, key},
                            "fix the value, or remove it to take keel's default");
  };
  if (g.contains("num_beams") && g["num_beams"].is_number_integer()) {
    const auto v = g["num_beams"].get<std::int64_t>();
    if (v < 1) throw refuse("num_beams", "is not a beam size (1 or more)");
    o.beam_size = static_cast<int>(std::min<std::int64_t>(v, 16));
  }
  if (g.contains("max_length") && g["max_length"].is_number_integer()) {
    const auto v = g["max_length"].get<std::int64_t>();
    if (v < 2) throw refuse("max_length", "leaves no target token (it counts the start token)");
    o.max_length = static_cast<int>(std::min<std::int64_t>(v - 1, 4096));
  }
  if (g.contains("length_penalty") && g["length_penalty"].is_number()) {
    o.length_penalty = g["length_penalty"].get<float>();
    if (!std::isfinite(o.length_penalty)) throw refuse("length_penalty", "is not finite");
  }
  if (g.contains("no_repeat_ngram_size") && g["no_repeat_ngram_size"].is_number_integer()) {
    const auto v = g["no_repeat_ngram_size"].get<std::int64_t>();
    if (v < 0) throw refuse("no_repeat_ngram_size", "is negative");
    o.no_repeat_ngram_size = static_cast<int>(std::min<std::int64_t>(v, 1 << 20));
  }
  if (g.contains("repetition_penalty") && g["repetition_penalty"].is_number()) {
    o.repetition_penalty = g["repetition_penalty"].get<float>();
    if (!(std::isfinite(o.repetition_penalty) && o.repetition_penalty > 0))
      throw refuse("repetition_penalty", "is not a positive number");
  }
  try {
    check_decode_options(o);
  } catch (const core::Error& e) {
    throw import_error(f, {}, e.bare_message(), "fix the generation settings");
  }
  return o;
}

// The weights of a MarianMT directory from model.safetensors or pytorch_model.bin, by name.
class WeightFile {
 public:
  explicit WeightFile(const fs::path& file) {
    if (file.extension() == ".safetensors") {
      st_ = std::make_unique<SafeTensors>(file);
      return;
    }
    pt_ = std::make_unique<pt::Checkpoint>(file);
    if (pt_->root().kind != pt::Value::Kind::dict)
      throw import_error(file, {}, "not a state dict (a dict of tensors)", "save the model with save_pretrained");
    for (const auto& [k, v] : pt_->root().dict)
      if (k->kind == pt::Value::Kind::string && v->kind == pt::Value::Kind::tensor) tensors_[k->s] = v.get();
  }
  bool has(const std::string& name) const { return st_ ? st_->has(name) : tensors_.count(name) != 0; }
  std::vector<std::int64_t> shape(const std::string& name) const {
    return st_ ? st_->entries().at(name).shape : tensors_.at(name)->shape;
  }
  std::vector<float> read_f32(const std::string& name, const std::vector<std::int64_t>& shape = {}) const {
    if (st_) return st_->read_f32(name, shape);
    const auto it = tensors_.find(name);
    if (it == tensors_.end())
      throw import_error(pt_->path(), name, fmt::format("tensor '{}' is missing", name), "the checkpoint does not match its config.json");
    if (!shape.empty() && it->second->shape != shape)
      throw import_error(pt_->path(), name,
                fmt::format("tensor '{}' has shape [{}], the config needs [{}]", name, fmt::join(it->second->shape, ", "),
                            fmt::join(shape, ", ")),
                "the checkpoint does not match its config.json");
    return pt_->floats(*it->second, name);
  }

 private:
  std::unique_ptr<SafeTensors> st_;
  std::unique_ptr<pt::Checkpoint> pt_;
  std::map<std::string, const pt::Value*> tensors_;
};

}  // namespace

ImportSummary import_marian_hf(const fs::path& dir, const fs::path& out) {
  if (!fs::is_directory(dir))
    throw import_error(dir, {}, "not a directory", "pass the MarianMT model's directory (config.json, vocab.json, ...)");
  const fs::path cfg_file = dir / "config.json";
  const json c = read_json(cfg_file);
  const std::string type = c.value("model_type", std::string());
  if (type != "marian")
    throw import_error(cfg_file, "model_type",
              fmt::format("'{}' is not a MarianMT model", type.empty() ? std::string("(none)") : type),
              "use --from opennmt-py or --from ctranslate2 for those formats");

  ModelConfig mc;
  const auto d = integer(c, cfg_file, "d_model");
  const auto enc_layers = integer(c, cfg_file, "encoder_layers");
  const auto dec_layers = integer(c, cfg_file, "decoder_layers");
  const auto enc_heads = integer(c, cfg_file, "encoder_attention_heads");
  const auto dec_heads = integer(c, cfg_file, "decoder_attention_heads");
  const auto enc_ffn = integer(c, cfg_file, "encoder_ffn_dim");
  const auto dec_ffn = integer(c, cfg_file, "decoder_ffn_dim");
  if (enc_heads != dec_heads)
    throw import_error(cfg_file, "decoder_attention_heads", "differs from encoder_attention_heads",
              "keel runs one head count in encoder and decoder");
  if (enc_ffn != dec_ffn)
    throw import_error(cfg_file, "decoder_ffn_dim", "differs from encoder_ffn_dim", "keel runs one FFN width");
  auto positive32 = [&](std::int64_t v, const char* key) {
    if (v <= 0 || v > (1 << 20)) throw import_error(cfg_file, key, fmt::format("{} is out of range", v), "fix config.json");
    return static_cast<std::uint32_t>(v);
  };
  mc.d_model = positive32(d, "d_model");
  mc.encoder_layers = positive32(enc_layers, "encoder_layers");
  mc.decoder_layers = positive32(dec_layers, "decoder_layers");
  mc.heads = positive32(enc_heads, "encoder_attention_heads");
  mc.ffn = positive32(enc_ffn, "encoder_ffn_dim");
  const std::string act = c.value("activation_function", std::string("gelu"));
  if (act == "swish" || act == "silu") mc.activation = Activation::swish;
  else if (act == "gelu") mc.activation = Activation::gelu;
  else if (act == "relu") mc.activation = Activation::relu;
  else
    throw import_error(cfg_file, "activation_function", fmt::format("'{}' is not supported", act),
              "keel runs relu, gelu (erf) and swish/silu");
  if (boolean(c, cfg_file, "normalize_before", false))
    throw import_error(cfg_file, "normalize_before", "pre-norm MarianMT is not supported",
              "transformers' MarianMT is post-norm; this config asks for another architecture");
  if (boolean(c, cfg_file, "normalize_embedding", false))
    throw import_error(cfg_file, "normalize_embedding", "a layer norm on the embeddings is not supported",
              "keel imports the MarianMT architecture of transformers");
  if (!boolean(c, cfg_file, "static_position_embeddings", true))
    throw import_error(cfg_file, "static_position_embeddings", "learned positions are not supported",
              "keel imports static sinusoidal positions");
  mc.pre_norm = false;
  mc.scale_embeddings = boolean(c, cfg_file, "scale_embedding", false);
  mc.sinusoidal_positions = true;
  mc.positions = PositionLayout::halves;
  mc.layer_norm_eps = 1e-5f;  // nn.LayerNorm's default, which MarianMT uses

  const bool shared = boolean(c, cfg_file, "share_encoder_decoder_embeddings", true);
  const auto vocab = integer(c, cfg_file, "vocab_size");
  const auto tgt_vocab = shared ? vocab : integer(c, cfg_file, "decoder_vocab_size", vocab);
  mc.src_vocab = positive32(vocab, "vocab_size");
  mc.tgt_vocab = positive32(tgt_vocab, "decoder_vocab_size");
  mc.shared_embeddings = shared;

  Model m;
  m.src_vocab = read_vocab(dir / "vocab.json", vocab);
  m.tgt_vocab = shared ? m.src_vocab : read_vocab(dir / "target_vocab.json", tgt_vocab);
  const auto pad = integer(c, cfg_file, "pad_token_id");
  const auto eos = integer(c, cfg_file, "eos_token_id");
  const auto start = integer(c, cfg_file, "decoder_start_token_id", pad);
  for (auto [v, key] : {std::pair{pad, "pad_token_id"}, {eos, "eos_token_id"}, {start, "decoder_start_token_id"}})
    if (v < 0 || v >= std::min(vocab, tgt_vocab))
      throw import_error(cfg_file, key, fmt::format("{} is outside the vocabulary", v), "fix config.json");
  mc.pad_id = static_cast<std::uint32_t>(pad);
  mc.eos_id = static_cast<std::uint32_t>(eos);
  mc.bos_id = static_cast<std::uint32_t>(start);  // the decoder's first input
  mc.unk_id = special(m.src_vocab, dir / "vocab.json", "<unk>");
  if (!shared && special(m.tgt_vocab, dir / "target_vocab.json", "<unk>") != mc.unk_id)
    throw import_error(dir / "target_vocab.json", "<unk>", "<unk> has another id than in vocab.json",
              "keel needs one id for <unk>");

  // Weights: model.safetensors, else pytorch_model.bin (a torch.save state dict).
  fs::path weights = dir / "model.safetensors";
  if (!fs::exists(weights)) weights = dir / "pytorch_model.bin";
  if (!fs::exists(weights))
    throw import_error(dir / "model.safetensors", {}, "missing (and no pytorch_model.bin)",
              "a MarianMT directory holds model.safetensors or pytorch_model.bin");
  const WeightFile st(weights);
  // MarianMTModel stores "model.…"; a bare MarianModel stores the same names without it.
  const std::string pre = st.has("model.encoder.layers.0.fc1.weight") ? "model." : "";
  const std::int64_t D = d, F = enc_ffn;
  auto put = [&](const std::string& keel_name, const std::string& hf_name, std::vector<std::int64_t> shape) {
    Tensor t;
    t.shape = shape;
    t.f32 = st.read_f32(hf_name, shape);
    m.tensors[keel_name] = std::move(t);
  };
  auto linear = [&](const std::string& to, const std::string& from, std::int64_t out_f, std::int64_t in_f) {
    put(to + ".weight", from + ".weight", {out_f, in_f});
    put(to + ".bias", from + ".bias", {out_f});
  };
  auto norm = [&](const std::string& to, const std::string& from) {
    put(to + ".weight", from + ".weight", {D});
    put(to + ".bias", from + ".bias", {D});
  };
  auto attention = [&](const std::string& to, const std::string& from) {
    for (const char* p : {"q_proj", "k_proj", "v_proj", "out_proj"})
      linear(to + "." + p, from + "." + p, D, D);
  };
  const std::string src_embed = shared ? (st.has(pre + "shared.weight") ? pre + "shared.weight"
                                                                         : pre + "encoder.embed_tokens.weight")
                                       : pre + "encoder.embed_tokens.weight";
  put("encoder.embed.weight", src_embed, {vocab, D});
  std::string tgt_embed = src_embed;
  if (!shared) {
    tgt_embed = pre + "decoder.embed_tokens.weight";
    put("decoder.embed.weight", tgt_embed, {tgt_vocab, D});
  }
  // The output projection is the target embedding table unless lm_head says otherwise.
  mc.tied_output = true;
  if (st.has("lm_head.weight")) {
    const auto head = st.read_f32("lm_head.weight", {tgt_vocab, D});
    const auto& table = m.tensors.at(shared ? "encoder.embed.weight" : "decoder.embed.weight").f32;
    if (head != table) {
      mc.tied_output = false;
      Tensor t;
      t.shape = {tgt_vocab, D};
      t.f32 = head;
      m.tensors["decoder.output.weight"] = std::move(t);
    }
  }
  if (st.has("final_logits_bias")) {
    Tensor t;
    t.shape = {tgt_vocab};
    t.f32 = st.read_f32("final_logits_bias", {1, tgt_vocab});
    m.tensors["decoder.output.bias"] = std::move(t);
  }
  for (std::int64_t i = 0; i < enc_layers; ++i) {
    const std::string to = fmt::format("encoder.layers.{}", i), from = fmt::format("{}encoder.layers.{}", pre, i);
    attention(to + ".self_attn", from + ".self_attn");
    norm(to + ".self_attn_norm", from + ".self_attn_layer_norm");
    linear(to + ".ffn.fc1", from + ".fc1", F, D);
    linear(to + ".ffn.fc2", from + ".fc2", D, F);
    norm(to + ".ffn_norm", from + ".final_layer_norm");
  }
  for (std::int64_t i = 0; i < dec_layers; ++i) {
    const std::string to = fmt::format("decoder.layers.{}", i), from = fmt::format("{}decoder.layers.{}", pre, i);
    attention(to + ".self_attn", from + ".self_attn");
    norm(to + ".self_attn_norm", from + ".self_attn_layer_norm");
    attention(to + ".cross_attn", from + ".encoder_attn");
    norm(to + ".cross_attn_norm", from + ".encoder_attn_layer_norm");
    linear(to + ".ffn.fc1", from + ".fc1", F, D);
    linear(to + ".ffn.fc2", from + ".fc2", D, F);
    norm(to + ".ffn_norm", from + ".final_layer_norm");
  }
  // Stored position tables must be the static sinusoids keel computes (anything else was learned).
  for (const char* side : {"encoder", "decoder"}) {
    const std::string name = pre + side + ".embed_positions.weight";
    if (!st.has(name)) continue;
    const auto shape = st.shape(name);
    if (shape.size() != 2 || shape[1] != D)
      throw import_error(weights, name, "position table is not [positions, d_model]", "the checkpoint does not match config.json");
    if (!detail::sinusoid_layout(st.read_f32(name), shape[0], D, {PositionLayout::halves}, 1e-4f))
      throw import_error(weights, name, "not MarianMT's sinusoid table: learned positions are not supported",
                         "keel imports static sinusoidal positions");
  }
  for (const char* spm : {"source.spm", "target.spm"})
    if (!fs::is_regular_file(dir / spm))
      throw import_error(dir / spm, {}, "missing", "a MarianMT directory holds source.spm and target.spm");
  return detail::finish_import(m, mc, generation_defaults(dir, c), weights, dir / "source.spm",
                               dir / "target.spm", out);
}

}  // namespace keel::nmt
