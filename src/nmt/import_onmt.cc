// OpenNMT-py 3.x checkpoint → keel model directory (import.h). The model as OpenNMT-py 3.x
// builds it (onmt/encoders/transformer.py, onmt/decoders/transformer.py): pre-norm layers whose
// feed-forward block holds its own layer norm, final encoder and decoder norms (eps opt.norm_eps,
// 1e-6 by default), embeddings × sqrt(d) plus the stored position table, Q scaled after
// projection, biases only where the state dict has them, logits = generator (a Linear); sources
// get neither BOS nor EOS; decoding starts from the vocabulary's decoder_start_token.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <map>

#include "keel/core/error.h"
#include "keel/nmt/import.h"
#include "import_util.h"
#include "keel/nmt/layers.h"
#include "torch_pickle.h"

namespace keel::nmt {

namespace fs = std::filesystem;
using detail::import_error;

namespace {

std::vector<std::string> token_list(const pt::Value* v, const fs::path& file, const std::string& key) {
  if (!v || (v->kind != pt::Value::Kind::list && v->kind != pt::Value::Kind::tuple))
    throw import_error(file, key, "missing or not a list of tokens", "pass an OpenNMT-py 3.x checkpoint");
  std::vector<std::string> out;
  for (const auto& t : v->items) {
    if (t->kind != pt::Value::Kind::string) throw import_error(file, key, "a token that is not a string", "pass an OpenNMT-py 3.x checkpoint");
    out.push_back(t->s);
  }
  return out;
}

}  // namespace

ImportSummary import_opennmt_py(const fs::path& ckpt, const fs::path& source_spm, const fs::path& target_spm,
                                const fs::path& out) {
  const pt::Checkpoint cp(ckpt);
  const pt::Value& root = cp.root();
  if (root.kind != pt::Value::Kind::dict || !root.get("opt") || !root.get("vocab"))
    throw import_error(ckpt, {}, "not an OpenNMT-py checkpoint (no 'opt' and 'vocab')", "pass the .pt file onmt_train saved");
  const pt::Value* model = root.get("model");
  const pt::Value* gen = root.get("generator");
  if (!model || model->kind != pt::Value::Kind::dict)
    throw import_error(ckpt, "model", "no weights in the checkpoint (saved with save_format safetensors, or LoRA only)",
              "import a checkpoint saved with save_format pytorch and merged LoRA weights");
  if (!gen || gen->kind != pt::Value::Kind::dict)
    throw import_error(ckpt, "generator", "no generator (a LoRA or copy-attention checkpoint)", "import a plain Transformer checkpoint");
  const pt::Value& opt = *root.get("opt");
  auto o_str = [&](const char* key, const std::string& fallback) {
    const pt::Value* v = opt.get(key);
    return v && v->kind == pt::Value::Kind::string ? v->s : fallback;
  };
  auto o_int = [&](const char* key, std::int64_t fallback) {
    const pt::Value* v = opt.get(key);
    return v && v->is_int() ? v->i : fallback;
  };
  auto o_real = [&](const char* key, double fallback) {
    const pt::Value* v = opt.get(key);
    return v && v->kind == pt::Value::Kind::real ? v->f : v && v->is_int() ? double(v->i) : fallback;
  };
  auto refuse = [&](const std::string& key, const std::string& what) {
    throw import_error(ckpt, "opt." + key, what,
              "keel imports OpenNMT-py's plain Transformer: absolute sinusoid positions, standard "
              "layer norm, ReLU or GELU, no relative positions, rotary, ALiBi, gated FFN, grouped "
              "K/V heads, parallel residual, copy attention, LoRA or quantized layers");
  };
  for (const char* key : {"encoder_type", "decoder_type"})
    if (o_str(key, "transformer") != "transformer") refuse(key, fmt::format("'{}' is not a Transformer", o_str(key, "")));
  if (o_str("model_task", "seq2seq") != "seq2seq") refuse("model_task", "only translation (seq2seq) models");
  const std::string attn = o_str("self_attn_type", "scaled-dot");
  if (attn != "scaled-dot" && attn != "scaled-dot-flash") refuse("self_attn_type", fmt::format("'{}' attention is not supported", attn));
  if (o_int("max_relative_positions", 0) != 0) refuse("max_relative_positions", "relative / rotary / ALiBi positions are not supported");
  if (o_int("relative_positions_buckets", 0) != 0) refuse("relative_positions_buckets", "relative position buckets are not supported");
  if (o_str("layer_norm", "standard") != "standard") refuse("layer_norm", "RMS norm is not supported");
  for (const char* flag : {"parallel_residual", "shared_layer_norm", "multiquery", "copy_attn"})
    if (o_int(flag, 0) != 0) refuse(flag, "is set: not supported");
  for (const char* count : {"num_experts", "sliding_window"})
    if (o_int(count, 0) > 0) refuse(count, "is set: not supported");
  const auto heads = o_int("heads", 8);
  if (const auto kv = o_int("num_kv", 0); kv != 0 && kv != heads) refuse("num_kv", "grouped K/V heads are not supported");
  for (const char* lora : {"lora_layers", "quant_layers"})
    if (const pt::Value* v = opt.get(lora); v && v->kind == pt::Value::Kind::list && !v->items.empty())
      refuse(lora, "LoRA or quantized layers are not supported");
  const std::string act = o_str("pos_ffn_activation_fn", "relu");
  ModelConfig c;
  if (act == "relu") c.activation = Activation::relu;
  else if (act == "gelu") c.activation = Activation::gelu;
  else refuse("pos_ffn_activation_fn", fmt::format("'{}' (gated activations need w_3) is not supported", act));

  // Weights by name; tensors only.
  std::map<std::string, const pt::Value*> w;
  for (const auto& [k, v] : model->dict)
    if (k->kind == pt::Value::Kind::string && v->kind == pt::Value::Kind::tensor) w[k->s] = v.get();
  for (const auto& [k, v] : gen->dict)
    if (k->kind == pt::Value::Kind::string && v->kind == pt::Value::Kind::tensor) w["generator." + k->s] = v.get();
  for (const auto& [name, t] : w)
    if (name.find("relative_") != std::string::npos || name.find(".w_3.") != std::string::npos ||
        name.find("emb_luts.1.") != std::string::npos)
      throw import_error(ckpt, name, "this tensor belongs to a variant keel does not import",
                "keel imports OpenNMT-py's plain Transformer (one source feature, no gated FFN, no relative positions)");
  auto tensor = [&](const std::string& name) -> const pt::Value& {
    const auto it = w.find(name);
    if (it == w.end())
      throw import_error(ckpt, name, "missing from the state dict", "the checkpoint is not an OpenNMT-py 3.x Transformer");
    return *it->second;
  };
  auto floats = [&](const std::string& name, const std::vector<std::int64_t>& shape) {
    const pt::Value& t = tensor(name);
    if (!shape.empty() && t.shape != shape)
      throw import_error(ckpt, name, fmt::format("shape [{}], expected [{}]", fmt::join(t.shape, ", "), fmt::join(shape, ", ")),
                "the checkpoint is inconsistent with its options");
    return cp.floats(t, name);
  };
  const std::string src_lut = "encoder.embeddings.make_embedding.emb_luts.0.weight";
  const std::string tgt_lut = "decoder.embeddings.make_embedding.emb_luts.0.weight";
  const auto& se = tensor(src_lut);
  const auto& te = tensor(tgt_lut);
  if (se.shape.size() != 2 || te.shape.size() != 2 || se.shape[1] != te.shape[1])
    throw import_error(ckpt, src_lut, "embedding tables are not [vocab, d] of one width", "the checkpoint is not a Transformer");
  const std::int64_t d = se.shape[1], V = se.shape[0], Vt = te.shape[0];
  std::int64_t enc_layers = 0, dec_layers = 0;
  while (w.count(fmt::format("encoder.transformer.{}.feed_forward.w_1.weight", enc_layers))) ++enc_layers;
  while (w.count(fmt::format("decoder.transformer_layers.{}.feed_forward.w_1.weight", dec_layers))) ++dec_layers;
  if (enc_layers == 0 || dec_layers == 0)
    throw import_error(ckpt, "encoder.transformer.0", "no Transformer layers in the state dict", "pass an OpenNMT-py 3.x Transformer checkpoint");
  const auto& w1 = tensor("encoder.transformer.0.feed_forward.w_1.weight");
  const std::int64_t F = w1.shape.empty() ? 0 : w1.shape[0];
  if (heads <= 0 || d % heads != 0)
    throw import_error(ckpt, "opt.heads", fmt::format("{} heads do not divide the model width {}", heads, d), "fix the checkpoint's options");
  c.d_model = static_cast<std::uint32_t>(d);
  c.heads = static_cast<std::uint32_t>(heads);
  c.ffn = static_cast<std::uint32_t>(F);
  c.encoder_layers = static_cast<std::uint32_t>(enc_layers);
  c.decoder_layers = static_cast<std::uint32_t>(dec_layers);
  c.src_vocab = static_cast<std::uint32_t>(V);
  c.tgt_vocab = static_cast<std::uint32_t>(Vt);
  c.pre_norm = true;
  c.scale_embeddings = true;  // PositionalEncoding multiplies by sqrt(dim) before adding
  c.sinusoidal_positions = true;
  c.source_eos = false;
  c.source_bos = false;
  c.layer_norm_eps = static_cast<float>(o_real("norm_eps", 1e-6));

  // Vocabularies (vocabs_to_dict) and the special tokens, looked up by string.
  const pt::Value& vocab = *root.get("vocab");
  if (const pt::Value* feats = vocab.get("src_feats");
      feats && ((feats->kind == pt::Value::Kind::dict && !feats->dict.empty()) ||
                (feats->kind == pt::Value::Kind::list && !feats->items.empty())))
    throw import_error(ckpt, "vocab.src_feats", "source features are not supported", "keel translates plain token sequences");
  Model m;
  m.src_vocab = Vocabulary(token_list(vocab.get("src"), ckpt, "vocab.src"));
  m.tgt_vocab = Vocabulary(token_list(vocab.get("tgt"), ckpt, "vocab.tgt"));
  if (static_cast<std::int64_t>(m.src_vocab.size()) != V || static_cast<std::int64_t>(m.tgt_vocab.size()) != Vt)
    throw import_error(ckpt, "vocab", fmt::format("vocabularies of {}/{} tokens, the embeddings have {}/{} rows",
                                         m.src_vocab.size(), m.tgt_vocab.size(), V, Vt),
              "the checkpoint is inconsistent");
  std::string start = "<s>";
  if (const pt::Value* s = vocab.get("decoder_start_token"); s && s->kind == pt::Value::Kind::string) start = s->s;
  else start = o_str("decoder_start_token", "<s>");
  auto id = [&](const std::string& tok, const char* what) {
    const auto i = m.tgt_vocab.id(tok, static_cast<std::uint32_t>(-1));
    if (i == static_cast<std::uint32_t>(-1))
      throw import_error(ckpt, what, fmt::format("'{}' is not in the target vocabulary", tok), "the checkpoint is inconsistent");
    return i;
  };
  c.unk_id = id("<unk>", "vocab.tgt");
  if (m.src_vocab.id("<unk>", c.unk_id + 1) != c.unk_id)
    throw import_error(ckpt, "vocab.src", "<unk> has another id than in the target vocabulary", "keel needs one id");
  c.pad_id = id("<blank>", "vocab.tgt");
  c.eos_id = id("</s>", "vocab.tgt");
  c.bos_id = id(start, "decoder_start_token");

  // Position table: the stored buffer must be one of the sinusoid layouts from position 0.
  for (const char* side : {"encoder", "decoder"}) {
    const std::string name = std::string(side) + ".embeddings.make_embedding.pe.pe";
    const pt::Value& pe = tensor(name);  // position_encoding must be on (checked by its presence)
    std::int64_t numel = 1;
    for (auto x : pe.shape) numel *= x;
    if (pe.shape.empty() || pe.shape.back() != d || numel % d != 0)
      throw import_error(ckpt, name, "position table is not [positions, d]", "the checkpoint is inconsistent");
    const auto table = cp.floats(pe, name);
    const std::int64_t rows = numel / d;
    const auto layout = detail::sinusoid_layout(table, rows, d, {PositionLayout::interleaved, PositionLayout::concat}, 1e-3f);
    if (!layout)
      throw import_error(ckpt, name, "not a sinusoid table keel knows (interleaved or concat)", "keel computes sinusoid positions");
    c.positions = *layout;
  }

  auto put = [&](const std::string& name, std::vector<std::int64_t> shape, std::vector<float> data) {
    detail::put_tensor(m, name, std::move(shape), std::move(data));
  };
  auto maybe = [&](const std::string& name, std::int64_t n) {
    return w.count(name) ? floats(name, {n}) : std::vector<float>(static_cast<std::size_t>(n), 0.f);
  };
  auto linear = [&](const std::string& from, const std::string& to, std::int64_t o, std::int64_t i) {
    put(to + ".weight", {o, i}, floats(from + ".weight", {o, i}));
    put(to + ".bias", {o}, maybe(from + ".bias", o));
  };
  auto norm = [&](const std::string& from, const std::string& to) {
    // Checkpoints before 3.x named the parameters a_2 / b_2.
    const std::string g = w.count(from + ".weight") ? from + ".weight" : from + ".a_2";
    const std::string b = w.count(from + ".bias") ? from + ".bias" : from + ".b_2";
    put(to + ".weight", {d}, floats(g, {d}));
    put(to + ".bias", {d}, maybe(b, d));
  };
  auto attention = [&](const std::string& from, const std::string& to) {
    linear(from + ".linear_query", to + ".q_proj", d, d);
    linear(from + ".linear_keys", to + ".k_proj", d, d);
    linear(from + ".linear_values", to + ".v_proj", d, d);
    linear(from + ".final_linear", to + ".out_proj", d, d);
  };
  const auto src_table = floats(src_lut, {V, d});
  const auto tgt_table = floats(tgt_lut, {Vt, d});
  c.shared_embeddings = V == Vt && src_table == tgt_table && m.src_vocab.tokens() == m.tgt_vocab.tokens();
  put("encoder.embed.weight", {V, d}, src_table);
  if (!c.shared_embeddings) put("decoder.embed.weight", {Vt, d}, tgt_table);
  const auto head = floats("generator.weight", {Vt, d});
  c.tied_output = head == tgt_table;
  if (!c.tied_output) put("decoder.output.weight", {Vt, d}, head);
  put("decoder.output.bias", {Vt}, maybe("generator.bias", Vt));
  for (std::int64_t i = 0; i < enc_layers; ++i) {
    const std::string from = fmt::format("encoder.transformer.{}", i), to = fmt::format("encoder.layers.{}", i);
    norm(from + ".layer_norm", to + ".self_attn_norm");
    attention(from + ".self_attn", to + ".self_attn");
    norm(from + ".feed_forward.layer_norm", to + ".ffn_norm");
    linear(from + ".feed_forward.w_1", to + ".ffn.fc1", F, d);
    linear(from + ".feed_forward.w_2", to + ".ffn.fc2", d, F);
  }
  for (std::int64_t i = 0; i < dec_layers; ++i) {
    const std::string from = fmt::format("decoder.transformer_layers.{}", i), to = fmt::format("decoder.layers.{}", i);
    norm(from + ".layer_norm_1", to + ".self_attn_norm");
    attention(from + ".self_attn", to + ".self_attn");
    norm(from + ".layer_norm_2", to + ".cross_attn_norm");
    attention(from + ".context_attn", to + ".cross_attn");
    norm(from + ".feed_forward.layer_norm", to + ".ffn_norm");
    linear(from + ".feed_forward.w_1", to + ".ffn.fc1", F, d);
    linear(from + ".feed_forward.w_2", to + ".ffn.fc2", d, F);
  }
  norm("encoder.layer_norm", "encoder.final_norm");
  norm("decoder.layer_norm", "decoder.final_norm");
  return detail::finish_import(m, c, keel_decoding_defaults(), ckpt, source_spm, target_spm, out);
}

}  // namespace keel::nmt
