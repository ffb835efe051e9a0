// Encoder and decoder layers, the KV caches and one decoder step.
#include "keel/nmt/transformer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "keel/core/error.h"
#include "state.h"

namespace keel::nmt {

namespace {

void add_inplace(float* x, const float* y, std::int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (std::int64_t i = 0; i < n; ++i) x[i] += y[i];
}

template <typename T>
T* sized(std::vector<T>& v, std::int64_t n) {
  if (v.size() < static_cast<std::size_t>(n)) v.resize(static_cast<std::size_t>(n));
  return v.data();
}

// out = fc2(act(fc1(in))). With ReLU and both layers static int8, fc1 writes its output already
// quantized for fc2: the [n, ffn] intermediate never round-trips through fp32 (`big` is then
// unused). Other activations run between the two in fp32.
void feed_forward(const Linear& fc1, const Linear& fc2, Activation act, const float* in,
                  std::int64_t n, float* big, float* out) {
  if (act != Activation::relu) {
    fc1.forward(in, n, big, /*relu=*/false);
    activate(big, n * fc1.out_features(), act);
    fc2.forward(big, n, out);
    return;
  }
  if (fc1.compute() == Compute::int8_static && fc2.compute() == Compute::int8_static) {
    thread_local std::vector<std::uint8_t> q;
    fc1.forward_to_u8(in, n, sized(q, n * fc1.out_features()), fc2.input_quant(), true);
    fc2.forward_u8(q.data(), n, out);
    return;
  }
  fc1.forward(in, n, big, /*relu=*/true);
  fc2.forward(big, n, out);
}

}  // namespace

struct Transformer::EncoderLayer {
  LayerNorm attn_norm, ffn_norm;
  Linear qkv, out, fc1, fc2;  // qkv: [3d, d] = q_proj, k_proj, v_proj stacked
};

struct Transformer::DecoderLayer {
  LayerNorm attn_norm, cross_norm, ffn_norm;
  Linear qkv, self_out, cross_q, cross_kv, cross_out, fc1, fc2;  // cross_kv: [2d, d]
};

Transformer::~Transformer() = default;
Transformer::Transformer(Transformer&&) noexcept = default;

// `model` is only modified (tensors erased) when `consume` is true.
Transformer::Transformer(const Model& model, Compute compute)
    : config_(model.config), compute_(compute) {
  build(const_cast<Model&>(model), false);
}

Transformer::Transformer(Model&& model, Compute compute)
    : config_(model.config), compute_(compute) {
  build(model, true);
  model.tensors.clear();
}

void Transformer::build(Model& model, bool consume) {
  const ModelConfig& c = config_;
  const std::int64_t d = c.d_model;
  const Compute compute = compute_;
  // A deferred model (LoadMode::deferred) is read one layer at a time and, when consumed, each
  // layer's tensors are released once its weights are prepared: peak memory stays near one
  // copy of the weights.
  auto drop = [&](const std::string& prefix) {
    if (!consume) return;
    for (auto it = model.tensors.lower_bound(prefix);
         it != model.tensors.end() && it->first.rfind(prefix, 0) == 0;)
      it = model.tensors.erase(it);
  };
  auto table = [&](const std::string& name, std::int64_t vocab) {
    const Tensor& t = model.get(name, {vocab, d});
    if (t.dtype != DType::f32)
      throw core::InputError("embedding table '" + name + "' must be f32", {},
                             "store embeddings unquantized");
    return std::make_shared<const std::vector<float>>(
        consume ? std::move(const_cast<Tensor&>(t).f32) : t.f32);
  };
  for (const char* p : {"encoder.embed.", "decoder.embed.", "decoder.output."}) model.fetch(p);
  const std::string tgt_table =
      c.shared_embeddings ? "encoder.embed.weight" : "decoder.embed.weight";

  // The output projection first: when tied, the target embeddings read its rows.
  std::shared_ptr<const std::vector<float>> out_table;
  std::span<const float> out_w;
  if (c.tied_output) {
    out_table = table(tgt_table, c.tgt_vocab);
    out_w = *out_table;
  } else {
    out_w = model.get("decoder.output.weight", {c.tgt_vocab, d}).f32;
  }
  std::span<const float> out_b;
  if (model.has("decoder.output.bias")) out_b = model.get("decoder.output.bias", {c.tgt_vocab}).f32;
  ActivationQuant out_q;
  Compute out_compute = compute;
  if (compute == Compute::int8_static) {
    out_q = input_quant(model, "decoder.output");
    if (!out_q.valid()) out_compute = Compute::fp32;
  }
  output_ = std::make_shared<Linear>(out_w, out_b, c.tgt_vocab, d, out_compute, out_q);
  out_table.reset();  // its rows now live in output_ only
  if (c.tied_output) {
    tgt_embed_ = Embeddings(std::shared_ptr<const Linear>(output_), c, c.tgt_vocab);
    src_embed_ = c.shared_embeddings
                     ? tgt_embed_
                     : Embeddings(table("encoder.embed.weight", c.src_vocab), c, c.src_vocab);
  } else {
    auto src = table("encoder.embed.weight", c.src_vocab);
    src_embed_ = Embeddings(src, c, c.src_vocab);
    tgt_embed_ = c.shared_embeddings
                     ? src_embed_
                     : Embeddings(table("decoder.embed.weight", c.tgt_vocab), c, c.tgt_vocab);
  }
  drop("encoder.embed.");
  drop("decoder.embed.");
  drop("decoder.output.");

  named_.clear();
  auto linear = [&](Linear& dst, std::vector<std::string> scopes, std::int64_t in) {
    dst = load_linear(model, scopes, in, compute);
    named_.emplace_back(std::move(scopes), &dst);
  };
  auto attn = [](const std::string& p) {
    return std::vector<std::string>{p + ".q_proj", p + ".k_proj", p + ".v_proj"};
  };
  for (std::uint32_t i = 0; i < c.encoder_layers; ++i) {
    const std::string p = fmt::format("encoder.layers.{}.", i);
    model.fetch(p);
    auto l = std::make_unique<EncoderLayer>();
    l->attn_norm = LayerNorm(model, p + "self_attn_norm");
    l->ffn_norm = LayerNorm(model, p + "ffn_norm");
    linear(l->qkv, attn(p + "self_attn"), d);
    linear(l->out, {p + "self_attn.out_proj"}, d);
    linear(l->fc1, {p + "ffn.fc1"}, d);
    linear(l->fc2, {p + "ffn.fc2"}, c.ffn);
    encoder_.push_back(std::move(l));
    drop(p);
  }
  for (std::uint32_t i = 0; i < c.decoder_layers; ++i) {
    const std::string p = fmt::format("decoder.layers.{}.", i);
    model.fetch(p);
    auto l = std::make_unique<DecoderLayer>();
    l->attn_norm = LayerNorm(model, p + "self_attn_norm");
    l->cross_norm = LayerNorm(model, p + "cross_attn_norm");
    l->ffn_norm = LayerNorm(model, p + "ffn_norm");
    linear(l->qkv, attn(p + "self_attn"), d);
    linear(l->self_out, {p + "self_attn.out_proj"}, d);
    linear(l->cross_q, {p + "cross_attn.q_proj"}, d);
    linear(l->cross_kv, {p + "cross_attn.k_proj", p + "cross_attn.v_proj"}, d);
    linear(l->cross_out, {p + "cross_attn.out_proj"}, d);
    linear(l->fc1, {p + "ffn.fc1"}, d);
    linear(l->fc2, {p + "ffn.fc2"}, c.ffn);
    decoder_.push_back(std::move(l));
    drop(p);
  }
  if (c.pre_norm) {
    model.fetch("encoder.final_norm");
    model.fetch("decoder.final_norm");
    encoder_norm_ = LayerNorm(model, "encoder.final_norm");
    decoder_norm_ = LayerNorm(model, "decoder.final_norm");
  }
  if (compute == Compute::int8_static) {
    bool any = output_->compute() == Compute::int8_static;
    for (const auto& [scopes, lin] : named_) any = any || lin->compute() == Compute::int8_static;
    if (!any)
      throw core::InputError("the model holds no calibrated layer for --compute int8", {},
                             "calibrate it with keel nmt quantize, or use --compute int8-dynamic");
  }
}

void Transformer::for_each_linear(
    const std::function<void(const std::vector<std::string>&, Linear&)>& f) {
  for (auto& [scopes, lin] : named_) f(scopes, *lin);
  f({"decoder.output"}, *output_);  // not in named_, which must survive a move
}

void Transformer::for_each_linear(
    const std::function<void(const std::vector<std::string>&, const Linear&)>& f) const {
  for (const auto& [scopes, lin] : named_) f(scopes, *lin);
  f({"decoder.output"}, *output_);
}

// Multi-head attention for rows of several sentences: for sentence-row group g, queries
// q[q_row[g] .. + nq[g]) attend over keys/values k[kv_row[g] .. + nk[g]). Strides are in floats.
namespace {
struct AttnGroup {
  std::int64_t q_row, nq, kv_row, nk;
};
// Calls attend(group, scores) for every group, in parallel when there are several; `scores` is
// per-thread scratch for 8·heads·nk floats.
template <typename Attend>
void each_group(const std::vector<AttnGroup>& groups, std::int64_t heads, const Attend& attend) {
  const auto n = static_cast<std::int64_t>(groups.size());
#pragma omp parallel for schedule(static) if (n > 1)
  for (std::int64_t g = 0; g < n; ++g) {
    thread_local std::vector<float> scores;
    const AttnGroup& a = groups[g];
    if (scores.size() < static_cast<std::size_t>(8 * heads * a.nk))
      scores.resize(static_cast<std::size_t>(8 * heads * a.nk));
    attend(a, scores.data());
  }
}
template <typename T>
void multi_head(const std::vector<AttnGroup>& groups, const float* q, std::int64_t q_stride,
                const T* kv, std::int64_t kv_stride, std::int64_t v_offset, std::int64_t heads,
                std::int64_t dh, float* ctx, std::int64_t ctx_stride) {
  each_group(groups, heads, [&](const AttnGroup& a, float* scores) {
    const T* k = kv + a.kv_row * kv_stride;
    attention_queries(q + a.q_row * q_stride, q_stride, a.nq, k, k + v_offset, kv_stride, a.nk,
                      heads, dh, ctx + a.q_row * ctx_stride, ctx_stride, scores);
  });
}
// The same where query row r reads its own cache rows rows[r·nk .. + nk) (beam hypotheses'
// histories; State::history), a group being one sentence's hypotheses.
template <typename T>
void multi_head_gathered(const std::vector<AttnGroup>& groups, const std::int64_t* rows,
                         const float* q, std::int64_t q_stride, const T* kv, std::int64_t kv_stride,
                         std::int64_t v_offset, std::int64_t heads, std::int64_t dh, float* ctx,
                         std::int64_t ctx_stride) {
  each_group(groups, heads, [&](const AttnGroup& a, float* scores) {
    attention_queries_gathered(q + a.q_row * q_stride, q_stride, a.nq, kv, kv_stride, v_offset,
                               rows + a.q_row * a.nk, a.nk, heads, dh, ctx + a.q_row * ctx_stride,
                               ctx_stride, scores);
  });
}
}  // namespace

std::vector<float> Transformer::encode(const std::vector<Ids>& src) const {
  const std::int64_t d = config_.d_model, heads = config_.heads, dh = d / heads;
  std::int64_t n = 0;
  std::vector<AttnGroup> groups;
  std::vector<std::uint32_t> ids;
  std::vector<std::int32_t> pos;
  for (const Ids& s : src) {
    if (s.empty()) throw core::Error("encode: empty source sentence (it needs at least EOS)");
    groups.push_back(
        {n, static_cast<std::int64_t>(s.size()), n, static_cast<std::int64_t>(s.size())});
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] >= config_.src_vocab)  // an embedding row past the table: refuse, never read it
        throw core::Error(fmt::format("encode: token id {} outside the source vocabulary ({})",
                                      s[i], config_.src_vocab));
      ids.push_back(s[i]);
      pos.push_back(static_cast<std::int32_t>(i));
    }
    n += static_cast<std::int64_t>(s.size());
  }
  std::vector<float> x(static_cast<std::size_t>(n * d)), h(x.size()), ctx(x.size()), tmp(x.size());
  std::vector<float> big(static_cast<std::size_t>(n * std::max<std::int64_t>(3 * d, config_.ffn)));
  src_embed_.forward(ids.data(), pos.data(), n, x.data());
  const bool pre = config_.pre_norm;
  for (const auto& l : encoder_) {
    const float* in = x.data();
    if (pre) l->attn_norm.forward(x.data(), n, (in = h.data(), h.data()));
    l->qkv.forward(in, n, big.data());
    multi_head(groups, big.data(), 3 * d, big.data() + d, 3 * d, d, heads, dh, ctx.data(), d);
    l->out.forward(ctx.data(), n, tmp.data());
    add_inplace(x.data(), tmp.data(), n * d);
    if (!pre) l->attn_norm.forward(x.data(), n, x.data());
    in = x.data();
    if (pre) l->ffn_norm.forward(x.data(), n, (in = h.data(), h.data()));
    feed_forward(l->fc1, l->fc2, config_.activation, in, n, big.data(), tmp.data());
    add_inplace(x.data(), tmp.data(), n * d);
    if (!pre) l->ffn_norm.forward(x.data(), n, x.data());
  }
  if (pre) encoder_norm_.forward(x.data(), n, x.data());
  return x;
}

Transformer::State Transformer::start(const std::vector<Ids>& src, int max_steps,
                                      int slots_per_sentence) const {
  const std::int64_t d = config_.d_model;
  State s;
  s.batch = static_cast<std::int64_t>(src.size());
  s.max_steps = max_steps;
  s.slots_per_sentence = slots_per_sentence;
  std::int64_t n = 0;
  for (const Ids& ids : src) {
    s.offset.push_back(n);
    s.length.push_back(static_cast<std::int64_t>(ids.size()));
    n += static_cast<std::int64_t>(ids.size());
  }
  std::vector<float> memory = encode(src);
  s.half = compute_ != Compute::fp32;
  std::vector<float> kv;  // fp32 cross K/V of one layer before conversion (half caches)
  if (s.half) kv.resize(static_cast<std::size_t>(n * 2 * d));
  for (const auto& l : decoder_) {
    // Cross-attention K/V of the encoder output, once per batch rather than once per step.
    s.cross_kv.emplace_back(new std::byte[static_cast<std::size_t>(n * 2 * d * s.kv_bytes())]);
    if (s.half) {
      l->cross_kv.forward(memory.data(), n, kv.data());
      float_to_half(kv.data(), n * 2 * d, reinterpret_cast<Half*>(s.cross_kv.back().get()));
    } else {
      l->cross_kv.forward(memory.data(), n, reinterpret_cast<float*>(s.cross_kv.back().get()));
    }
    s.self_kv.emplace_back(new std::byte[static_cast<std::size_t>(
        s.batch * slots_per_sentence * max_steps * 2 * d * s.kv_bytes())]);
  }
  return s;
}

void Transformer::step(State& s, const std::vector<int>& active, const std::uint32_t* tokens, int t,
                       float* logits) const {
  project(step_hidden(s, active, tokens, t), static_cast<std::int64_t>(active.size()), logits);
}

void Transformer::project(const float* hidden, std::int64_t rows, float* logits) const {
  output_->forward(hidden, rows, logits);
}

const float* Transformer::step_hidden(State& s, const std::vector<int>& active,
                                      const std::uint32_t* tokens, int t) const {
  assert(t < s.max_steps);
  const std::int64_t d = config_.d_model, heads = config_.heads, dh = d / heads;
  const auto A = static_cast<std::int64_t>(active.size());
  float* x = sized(s.x, A * d);
  float* h = sized(s.h, A * d);
  float* ctx = sized(s.ctx, A * d);
  float* tmp = sized(s.tmp, A * d);
  float* big = sized(s.big, A * std::max<std::int64_t>(3 * d, config_.ffn));
  std::int32_t* pos = sized(s.positions, A);
  for (std::int64_t r = 0; r < A; ++r) pos[r] = t;
  tgt_embed_.forward(tokens, pos, A, x);

  // Self-attention: every row its own cache, or (beam search) the rows its history names, a
  // sentence's hypotheses in one group so that the rows they share are read once. Cross-
  // attention: consecutive rows of one sentence share the encoder output: one group.
  const bool gathered = !s.history.empty();
  std::vector<AttnGroup> self_groups, cross_groups;
  std::int64_t* rows = gathered ? sized(s.self_rows, A * (t + 1)) : nullptr;
  for (std::int64_t r = 0; r < A; ++r) {
    const int b = active[r];
    const std::int64_t sentence = b / s.slots_per_sentence;
    if (gathered) {
      std::int32_t* history = s.history.data() + b * s.max_steps;
      history[t] = b;
      for (std::int64_t j = 0; j <= t; ++j) rows[r * (t + 1) + j] = history[j] * s.max_steps + j;
      if (!self_groups.empty() && self_groups.back().kv_row == sentence &&
          self_groups.back().q_row + self_groups.back().nq == r)
        ++self_groups.back().nq;
      else
        self_groups.push_back({r, 1, sentence, t + 1});  // kv_row: the sentence
    } else {
      self_groups.push_back({r, 1, b * s.max_steps, t + 1});
    }
    if (!cross_groups.empty() && cross_groups.back().kv_row == s.offset[sentence] &&
        cross_groups.back().q_row + cross_groups.back().nq == r)
      ++cross_groups.back().nq;
    else
      cross_groups.push_back({r, 1, s.offset[sentence], s.length[sentence]});
  }
  const bool pre = config_.pre_norm;
  for (std::size_t li = 0; li < decoder_.size(); ++li) {
    const DecoderLayer& l = *decoder_[li];
    std::byte* cache = s.self_kv[li].get();
    const std::byte* cross = s.cross_kv[li].get();
    const float* in = x;
    if (pre) l.attn_norm.forward(x, A, (in = h, h));
    l.qkv.forward(in, A, big);
    for (std::int64_t r = 0; r < A; ++r) {  // append this step's k, v to the cache
      const float* kv = big + r * 3 * d + d;
      const std::int64_t at = (active[r] * s.max_steps + t) * 2 * d;
      if (s.half)
        float_to_half(kv, 2 * d, reinterpret_cast<Half*>(cache) + at);
      else
        std::memcpy(reinterpret_cast<float*>(cache) + at, kv,
                    sizeof(float) * static_cast<std::size_t>(2 * d));
    }
    if (gathered && s.half)
      multi_head_gathered(self_groups, rows, big, 3 * d, reinterpret_cast<const Half*>(cache), 2 * d,
                          d, heads, dh, ctx, d);
    else if (gathered)
      multi_head_gathered(self_groups, rows, big, 3 * d, reinterpret_cast<const float*>(cache),
                          2 * d, d, heads, dh, ctx, d);
    else if (s.half)
      multi_head(self_groups, big, 3 * d, reinterpret_cast<const Half*>(cache), 2 * d, d, heads, dh,
                 ctx, d);
    else
      multi_head(self_groups, big, 3 * d, reinterpret_cast<const float*>(cache), 2 * d, d, heads,
                 dh, ctx, d);
    l.self_out.forward(ctx, A, tmp);
    add_inplace(x, tmp, A * d);
    if (!pre) l.attn_norm.forward(x, A, x);

    in = x;
    if (pre) l.cross_norm.forward(x, A, (in = h, h));
    l.cross_q.forward(in, A, tmp);
    if (s.half)
      multi_head(cross_groups, tmp, d, reinterpret_cast<const Half*>(cross), 2 * d, d, heads, dh,
                 ctx, d);
    else
      multi_head(cross_groups, tmp, d, reinterpret_cast<const float*>(cross), 2 * d, d, heads, dh,
                 ctx, d);
    l.cross_out.forward(ctx, A, tmp);
    add_inplace(x, tmp, A * d);
    if (!pre) l.cross_norm.forward(x, A, x);

    in = x;
    if (pre) l.ffn_norm.forward(x, A, (in = h, h));
    feed_forward(l.fc1, l.fc2, config_.activation, in, A, big, tmp);
    add_inplace(x, tmp, A * d);
    if (!pre) l.ffn_norm.forward(x, A, x);
  }
  if (!pre) return x;
  decoder_norm_.forward(x, A, h);
  return h;
}

void Transformer::copy_cache(State& s, std::int64_t from, std::int64_t to, int steps) const {
  const std::int64_t row = 2 * config_.d_model * s.kv_bytes();  // bytes
  for (auto& cache : s.self_kv)
    std::memcpy(cache.get() + to * s.max_steps * row, cache.get() + from * s.max_steps * row,
                static_cast<std::size_t>(steps * row));
}

std::vector<std::vector<float>> Transformer::forced_logits(const std::vector<Ids>& src,
                                                           const std::vector<Ids>& tgt) const {
  assert(src.size() == tgt.size());
  const auto T = static_cast<int>(tgt.empty() ? 0 : tgt[0].size());
  const std::int64_t V = config_.tgt_vocab, B = static_cast<std::int64_t>(src.size());
  for (const Ids& y : tgt)
    if (static_cast<int>(y.size()) != T)
      throw core::Error("forced_logits: targets differ in length");
  State s = start(src, T + 1);
  std::vector<int> active(static_cast<std::size_t>(B));
  for (int b = 0; b < B; ++b) active[b] = b;
  std::vector<std::vector<float>> out(static_cast<std::size_t>(B),
                                      std::vector<float>(static_cast<std::size_t>((T + 1) * V)));
  std::vector<float> logits(static_cast<std::size_t>(B * V));
  std::vector<std::uint32_t> tokens(static_cast<std::size_t>(B), config_.bos_id);
  for (int t = 0; t <= T; ++t) {
    step(s, active, tokens.data(), t, logits.data());
    for (std::int64_t b = 0; b < B; ++b) {
      std::copy_n(logits.data() + b * V, V, out[b].data() + t * V);
      if (t < T) tokens[b] = tgt[b][t];
    }
  }
  return out;
}

}  // namespace keel::nmt
