// CTranslate2 model directory → keel model directory (import.h). An encoder-decoder
// TransformerSpec as CTranslate2 runs it (src/layers/transformer.cc): embeddings × sqrt(d) unless
// scale_embeddings says otherwise, position encodings added from the stored table (else its own
// OpenNMT-tf table), pre- or post-norm layers with fused Q|K|V (and K|V for cross-attention),
// final norms when pre-norm, logits from decoder/projection; sources get BOS/EOS as config.json
// says; decoding starts from decoder_start_token.
#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ct2_file.h"
#include "keel/core/error.h"
#include "keel/nmt/import.h"
#include "import_util.h"
#include "keel/nmt/layers.h"

namespace keel::nmt {

namespace fs = std::filesystem;
using detail::import_error;
using nlohmann::json;

namespace {

// shared_vocabulary / source_vocabulary / target_vocabulary, .json (a list) before .txt (lines).
std::optional<std::vector<std::string>> read_vocab(const fs::path& dir, const std::string& base) {
  if (fs::exists(dir / (base + ".json"))) {
    const fs::path f = dir / (base + ".json");
    std::ifstream in(f);
    json j;
    try {
      j = json::parse(in);
    } catch (const json::parse_error& e) {
      throw import_error(f, {}, fmt::format("not valid JSON ({})", e.what()), "re-convert the model");
    }
    if (!j.is_array()) throw import_error(f, {}, "must be a JSON list of tokens", "re-convert the model");
    std::vector<std::string> out;
    for (const auto& t : j) {
      if (!t.is_string()) throw import_error(f, {}, "every token must be a string", "re-convert the model");
      out.push_back(t.get<std::string>());
    }
    return out;
  }
  if (fs::exists(dir / (base + ".txt"))) {
    std::ifstream in(dir / (base + ".txt"), std::ios::binary);
    std::vector<std::string> out;
    for (std::string l; std::getline(in, l);) out.push_back(l);
    bool all_cr = !out.empty();
    for (const auto& l : out) all_cr &= !l.empty() && l.back() == '\r';
    if (all_cr)
      for (auto& l : out) l.pop_back();
    return out;
  }
  return std::nullopt;
}

}  // namespace

ImportSummary import_ctranslate2(const fs::path& dir, const fs::path& source_spm,
                                 const fs::path& target_spm, const fs::path& out) {
  if (!fs::is_directory(dir))
    throw import_error(dir, {}, "not a directory", "pass the CTranslate2 model directory (model.bin, config.json, vocabularies)");
  const ct2::File f = ct2::read(dir / "model.bin");
  const fs::path& mb = f.path;
  if (!ct2::is_transformer_spec(f.spec))
    throw import_error(mb, {}, fmt::format("spec '{}' is not an encoder-decoder Transformer", f.spec),
              "keel imports CTranslate2's TransformerSpec models (translation); not language models or Whisper");
  if (f.revision > 7)
    throw import_error(mb, {}, fmt::format("TransformerSpec revision {} is newer than keel reads (7)", f.revision),
              "convert the model with a CTranslate2 4.x converter");
  // Attributes moved from the root to encoder/ and decoder/ in revision 5.
  auto attr = [&](const std::string& side, const std::string& name, double fallback) {
    return f.scalar(side + "/" + name, f.scalar(name, fallback));
  };
  for (const char* unsupported : {"encoder/layernorm_embedding/gamma", "decoder/layernorm_embedding/gamma",
                                  "encoder/embeddings_1/weight", "decoder/project_in/weight",
                                  "encoder/layer_0/self_attention/relative_position_keys",
                                  "encoder/layer_0/self_attention/relative_attention_bias"})
    if (f.has(unsupported))
      throw import_error(mb, unsupported, "this variant of the Transformer is not supported",
                "keel imports the plain encoder-decoder Transformer (absolute sinusoid positions, one "
                "source feature, no embedding layer norm)");
  if (attr("decoder", "start_from_zero_embedding", 0) != 0)
    throw import_error(mb, "decoder/start_from_zero_embedding", "zeroed start embeddings (Marian conversions) are not supported",
              "import the original Marian model with --from marian-hf");
  for (const char* flag : {"decoder/alibi", "encoder/multi_query_attention", "decoder/multi_query_attention"})
    if (f.scalar(flag, 0) != 0)
      throw import_error(mb, flag, "is set: not supported", "keel imports standard multi-head attention");

  ModelConfig c;
  const std::string emb = f.has("encoder/embeddings_0/weight") ? "encoder/embeddings_0/weight" : "encoder/embeddings/weight";
  const ct2::Variable* src_emb = f.find(emb);
  const ct2::Variable* tgt_emb = f.find("decoder/embeddings/weight");
  if (!src_emb || !tgt_emb || src_emb->shape.size() != 2 || tgt_emb->shape.size() != 2)
    throw import_error(mb, emb, "embedding tables missing or not [vocab, d]", "this is not a TransformerSpec model");
  const std::int64_t d = src_emb->shape[1], V = src_emb->shape[0], Vt = tgt_emb->shape[0];
  std::int64_t enc_layers = 0, dec_layers = 0;
  while (f.has(fmt::format("encoder/layer_{}/ffn/linear_0/weight", enc_layers))) ++enc_layers;
  while (f.has(fmt::format("decoder/layer_{}/ffn/linear_0/weight", dec_layers))) ++dec_layers;
  if (enc_layers == 0 || dec_layers == 0)
    throw import_error(mb, "encoder/layer_0", "no encoder or decoder layers", "this is not an encoder-decoder TransformerSpec model");
  const ct2::Variable* fc1 = f.find("encoder/layer_0/ffn/linear_0/weight");
  const std::int64_t F = fc1->shape.empty() ? 0 : fc1->shape[0];
  // Heads: an attribute since revision 3; before, the spec name says (8 base, 16 big).
  const double spec_heads = f.spec == "TransformerBig" ? 16 : 8;
  const auto heads = static_cast<std::int64_t>(attr("encoder", "num_heads", spec_heads));
  if (static_cast<std::int64_t>(attr("decoder", "num_heads", spec_heads)) != heads)
    throw import_error(mb, "decoder/num_heads", "differs from encoder/num_heads", "keel runs one head count");
  const bool pre = attr("encoder", "pre_norm", 1) != 0;
  if ((attr("decoder", "pre_norm", 1) != 0) != pre)
    throw import_error(mb, "decoder/pre_norm", "differs from encoder/pre_norm", "keel runs one normalization order");
  const auto act = static_cast<int>(attr("encoder", "activation", 0));
  if (static_cast<int>(attr("decoder", "activation", 0)) != act)
    throw import_error(mb, "decoder/activation", "differs from encoder/activation", "keel runs one FFN activation");
  switch (act) {  // CTranslate2's Activation enum (common_spec.py)
    case 0: c.activation = Activation::relu; break;
    case 1: c.activation = Activation::gelu_tanh; break;
    case 2: c.activation = Activation::swish; break;
    case 3: c.activation = Activation::gelu; break;
    default:
      throw import_error(mb, "encoder/activation", fmt::format("activation {} is not supported", act),
                "keel runs ReLU, GELU (erf or tanh) and swish");
  }
  if (heads <= 0 || d % heads != 0)
    throw import_error(mb, "encoder/num_heads", fmt::format("{} heads do not divide d_model {}", heads, d), "re-convert the model");
  for (const char* side : {"encoder", "decoder"}) {
    const double s = attr(side, "scale_embeddings", 1);
    const ct2::Variable* sv = f.find(std::string(side) + "/scale_embeddings");
    const bool is_float = sv && (sv->dtype == ct2::DType::f32 || sv->dtype == ct2::DType::f16);
    const bool scaled = is_float ? std::abs(s - std::sqrt(static_cast<double>(d))) < 1e-4 : s != 0;
    const bool unscaled = is_float ? std::abs(s - 1.0) < 1e-6 : s == 0;
    if (!scaled && !unscaled)
      throw import_error(mb, std::string(side) + "/scale_embeddings", fmt::format("embedding scale {} is not supported", s),
                "keel scales embeddings by sqrt(d_model) or not at all");
    if (std::string(side) == "encoder") c.scale_embeddings = scaled;
    else if (scaled != c.scale_embeddings)
      throw import_error(mb, "decoder/scale_embeddings", "differs from the encoder's", "keel scales both sides alike");
  }
  if (const auto* q = f.find("encoder/layer_0/self_attention/queries_scale");
      q && std::abs(f.scalar("encoder/layer_0/self_attention/queries_scale", 0) - 1.0 / std::sqrt(double(d / heads))) > 1e-6)
    throw import_error(mb, "encoder/layer_0/self_attention/queries_scale", "a non-standard attention scale is not supported",
              "keel scales attention by 1/sqrt(d_head)");

  auto u32 = [&](std::int64_t v, const char* what) {
    if (v <= 0 || v > (1 << 24)) throw import_error(mb, what, fmt::format("{} is out of range", v), "re-convert the model");
    return static_cast<std::uint32_t>(v);
  };
  c.d_model = u32(d, "d_model");
  c.heads = u32(heads, "num_heads");
  c.ffn = u32(F, "ffn/linear_0");
  c.encoder_layers = u32(enc_layers, "encoder layers");
  c.decoder_layers = u32(dec_layers, "decoder layers");
  c.src_vocab = u32(V, emb.c_str());
  c.tgt_vocab = u32(Vt, "decoder/embeddings/weight");
  c.pre_norm = pre;
  c.shared_embeddings = f.resolve(emb) == f.resolve("decoder/embeddings/weight");
  c.sinusoidal_positions = true;

  // config.json (binary version 6) or the root attributes of older files.
  const fs::path cfg_file = dir / "config.json";
  json cfg = json::object();
  if (fs::exists(cfg_file)) {
    std::ifstream in(cfg_file);
    try {
      cfg = json::parse(in);
    } catch (const json::parse_error& e) {
      throw import_error(cfg_file, {}, fmt::format("not valid JSON ({})", e.what()), "re-convert the model");
    }
  } else if (f.version >= 6) {
    throw import_error(cfg_file, {}, "missing (binary version 6 keeps the tokens there)", "copy the converter's config.json beside model.bin");
  }
  auto str_field = [&](const char* key, const std::string& legacy, const std::string& fallback) {
    if (cfg.contains(key) && cfg[key].is_string()) return cfg[key].get<std::string>();
    if (cfg.contains(key) && !cfg[key].is_null()) throw import_error(cfg_file, key, "must be a string", "fix config.json");
    return f.text(legacy, fallback);
  };
  auto bool_field = [&](const char* key, const std::string& legacy, bool fallback) {
    if (cfg.contains(key) && cfg[key].is_boolean()) return cfg[key].get<bool>();
    return f.scalar(legacy, fallback ? 1 : 0) != 0;
  };
  const std::string unk = str_field("unk_token", "unk_token", "<unk>");
  const std::string bos = str_field("bos_token", "bos_token", "<s>");
  const std::string eos = str_field("eos_token", "eos_token", "</s>");
  std::string start = bos;
  if (cfg.contains("decoder_start_token")) {
    if (cfg["decoder_start_token"].is_null())
      throw import_error(cfg_file, "decoder_start_token", "null: the model needs a target prefix from the user",
                "keel starts decoding from a fixed token; set decoder_start_token");
    start = cfg["decoder_start_token"].get<std::string>();
  } else if (f.version < 6 && f.scalar("user_decoder_start_tokens", 0) != 0) {
    throw import_error(mb, "user_decoder_start_tokens", "the model needs a target prefix from the user",
              "keel starts decoding from a fixed token");
  } else if (f.version < 6 && f.scalar("with_target_bos", 1) == 0) {
    start = eos;
  }
  c.source_bos = bool_field("add_source_bos", "with_source_bos", false);
  c.source_eos = bool_field("add_source_eos", "with_source_eos", false);
  if (cfg.contains("layer_norm_epsilon") && cfg["layer_norm_epsilon"].is_number())
    c.layer_norm_eps = cfg["layer_norm_epsilon"].get<float>();
  else
    c.layer_norm_eps = 1e-5f;  // CTranslate2's LayerNorm default

  Model m;
  auto vocab = [&](const std::string& base) { return read_vocab(dir, base); };
  std::optional<std::vector<std::string>> sv = vocab("shared_vocabulary"), tv;
  if (sv) {
    tv = sv;
  } else {
    sv = vocab("source_vocabulary");
    tv = vocab("target_vocabulary");
    if (!sv || !tv)
      throw import_error(dir, {}, "no shared_vocabulary nor source_vocabulary + target_vocabulary (.json or .txt)",
                "copy the converter's vocabulary files beside model.bin");
  }
  // CTranslate2 adds <unk> when a vocabulary lacks it.
  for (auto* v : {&*sv, &*tv})
    if (std::find(v->begin(), v->end(), unk) == v->end()) v->push_back(unk);
  if (static_cast<std::int64_t>(sv->size()) != V || static_cast<std::int64_t>(tv->size()) != Vt)
    throw import_error(dir, {}, fmt::format("vocabularies of {}/{} tokens, the embeddings have {}/{} rows", sv->size(),
                                   tv->size(), V, Vt),
              "use the vocabulary files the converter wrote with this model.bin");
  m.src_vocab = Vocabulary(*sv);
  m.tgt_vocab = Vocabulary(*tv);
  auto id_of = [&](const Vocabulary& voc, const std::string& tok, const char* what) {
    const auto id = voc.id(tok, static_cast<std::uint32_t>(-1));
    if (id == static_cast<std::uint32_t>(-1))
      throw import_error(dir, what, fmt::format("'{}' is not in the vocabulary", tok), "check config.json's tokens");
    return id;
  };
  c.unk_id = id_of(m.tgt_vocab, unk, "unk_token");
  if (m.src_vocab.id(unk, c.unk_id + 1) != c.unk_id)
    throw import_error(dir, "unk_token", "has different ids in the source and target vocabularies", "keel needs one id");
  c.eos_id = id_of(m.tgt_vocab, eos, "eos_token");
  c.bos_id = id_of(m.tgt_vocab, start, "decoder_start_token");
  if ((c.source_eos && m.src_vocab.id(eos, c.eos_id + 1) != c.eos_id) ||
      (c.source_bos && m.src_vocab.id(start, c.bos_id + 1) != c.bos_id))
    throw import_error(dir, "eos_token", "the source and target vocabularies give BOS/EOS different ids", "keel needs one id");
  // No padding in CTranslate2's vocabularies' contract: OpenNMT calls it <blank>.
  c.pad_id = c.bos_id;
  for (const char* p : {"<blank>", "<pad>"})
    if (auto id = m.tgt_vocab.id(p, static_cast<std::uint32_t>(-1)); id != static_cast<std::uint32_t>(-1)) {
      c.pad_id = id;
      break;
    }

  // Position encodings: a stored table must be one of the sinusoid layouts; none stored means
  // CTranslate2's own (OpenNMT-tf) table.
  c.positions = PositionLayout::tensorflow;
  for (const char* side : {"encoder", "decoder"}) {
    const std::string name = std::string(side) + "/position_encodings/encodings";
    const ct2::Variable* pe = f.find(name);
    if (!pe) continue;
    if (pe->shape.size() != 2 || pe->shape[1] != d)
      throw import_error(mb, name, "position table is not [positions, d_model]", "re-convert the model");
    const auto layout = detail::sinusoid_layout(
        f.floats(name), pe->shape[0], d,
        {PositionLayout::interleaved, PositionLayout::halves, PositionLayout::tensorflow, PositionLayout::concat},
        1e-3f);  // float16 tables are stored too
    if (!layout)
      throw import_error(mb, name, "learned (not sinusoidal) position encodings are not supported",
                "keel computes sinusoid positions");
    if (std::string(side) == "decoder" && f.has("encoder/position_encodings/encodings") && *layout != c.positions)
      throw import_error(mb, name, "encoder and decoder position tables differ", "re-convert the model");
    c.positions = *layout;
  }

  auto put = [&](const std::string& name, std::vector<std::int64_t> shape, std::vector<float> data) {
    detail::put_tensor(m, name, std::move(shape), std::move(data));
  };
  // A linear layer, split by rows into several keel layers (fused Q|K|V, K|V); missing biases are 0.
  auto linear = [&](const std::string& from, const std::vector<std::string>& to, std::int64_t in) {
    const std::int64_t rows = static_cast<std::int64_t>(to.size()) * d;
    const auto w = f.floats(from + "/weight", {rows, in});
    const auto b = f.has(from + "/bias") ? f.floats(from + "/bias", {rows}) : std::vector<float>(static_cast<std::size_t>(rows), 0.f);
    for (std::size_t i = 0; i < to.size(); ++i) {
      const auto r0 = static_cast<std::ptrdiff_t>(i) * d;
      put(to[i] + ".weight", {d, in}, std::vector<float>(w.begin() + r0 * in, w.begin() + (r0 + d) * in));
      put(to[i] + ".bias", {d}, std::vector<float>(b.begin() + r0, b.begin() + r0 + d));
    }
  };
  auto ffn = [&](const std::string& from, const std::string& to) {
    put(to + ".fc1.weight", {F, d}, f.floats(from + "/linear_0/weight", {F, d}));
    put(to + ".fc1.bias", {F}, f.has(from + "/linear_0/bias") ? f.floats(from + "/linear_0/bias", {F}) : std::vector<float>(static_cast<std::size_t>(F), 0.f));
    put(to + ".fc2.weight", {d, F}, f.floats(from + "/linear_1/weight", {d, F}));
    put(to + ".fc2.bias", {d}, f.has(from + "/linear_1/bias") ? f.floats(from + "/linear_1/bias", {d}) : std::vector<float>(static_cast<std::size_t>(d), 0.f));
  };
  auto norm = [&](const std::string& from, const std::string& to) {
    put(to + ".weight", {d}, f.floats(from + "/gamma", {d}));
    put(to + ".bias", {d}, f.has(from + "/beta") ? f.floats(from + "/beta", {d}) : std::vector<float>(static_cast<std::size_t>(d), 0.f));
  };
  put("encoder.embed.weight", {V, d}, f.floats(emb, {V, d}));
  if (!c.shared_embeddings) put("decoder.embed.weight", {Vt, d}, f.floats("decoder/embeddings/weight", {Vt, d}));
  c.tied_output = f.resolve("decoder/projection/weight") == f.resolve("decoder/embeddings/weight");
  if (!c.tied_output) put("decoder.output.weight", {Vt, d}, f.floats("decoder/projection/weight", {Vt, d}));
  if (f.has("decoder/projection/bias")) put("decoder.output.bias", {Vt}, f.floats("decoder/projection/bias", {Vt}));
  for (std::int64_t i = 0; i < enc_layers; ++i) {
    const std::string from = fmt::format("encoder/layer_{}", i), to = fmt::format("encoder.layers.{}", i);
    linear(from + "/self_attention/linear_0",
           {to + ".self_attn.q_proj", to + ".self_attn.k_proj", to + ".self_attn.v_proj"}, d);
    linear(from + "/self_attention/linear_1", {to + ".self_attn.out_proj"}, d);
    norm(from + "/self_attention/layer_norm", to + ".self_attn_norm");
    ffn(from + "/ffn", to + ".ffn");
    norm(from + "/ffn/layer_norm", to + ".ffn_norm");
  }
  for (std::int64_t i = 0; i < dec_layers; ++i) {
    const std::string from = fmt::format("decoder/layer_{}", i), to = fmt::format("decoder.layers.{}", i);
    linear(from + "/self_attention/linear_0",
           {to + ".self_attn.q_proj", to + ".self_attn.k_proj", to + ".self_attn.v_proj"}, d);
    linear(from + "/self_attention/linear_1", {to + ".self_attn.out_proj"}, d);
    norm(from + "/self_attention/layer_norm", to + ".self_attn_norm");
    linear(from + "/attention/linear_0", {to + ".cross_attn.q_proj"}, d);
    linear(from + "/attention/linear_1", {to + ".cross_attn.k_proj", to + ".cross_attn.v_proj"}, d);
    linear(from + "/attention/linear_2", {to + ".cross_attn.out_proj"}, d);
    norm(from + "/attention/layer_norm", to + ".cross_attn_norm");
    ffn(from + "/ffn", to + ".ffn");
    norm(from + "/ffn/layer_norm", to + ".ffn_norm");
  }
  if (pre) {
    norm("encoder/layer_norm", "encoder.final_norm");
    norm("decoder/layer_norm", "decoder.final_norm");
  }
  return detail::finish_import(m, c, keel_decoding_defaults(), mb, source_spm, target_spm, out);
}

}  // namespace keel::nmt
