// The LibTorch Transformer (the only LibTorch translation unit of keel_nmt_train). Layer for
// layer the computation of src/nmt/transformer.cc, on padded batches with masks instead of
// packed rows.
#include "keel/nmt_train/torch_transformer.h"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <limits>

#include "keel/core/error.h"
#include "keel/nmt/layers.h"

namespace keel::nmt {

namespace {

namespace F = torch::nn::functional;

torch::Tensor drop(const torch::Tensor& x, double p, bool training) {
  return p > 0 && training ? F::dropout(x, F::DropoutFuncOptions().p(p).training(true)) : x;
}

torch::nn::LayerNorm layer_norm(std::int64_t d, float eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(eps));
}

// q_proj, k_proj, v_proj, out_proj: the names keel's model file uses.
struct AttentionImpl : torch::nn::Module {
  AttentionImpl(std::int64_t d, std::int64_t n_heads) : heads(n_heads), dh(d / n_heads) {
    q_proj = register_module("q_proj", torch::nn::Linear(d, d));
    k_proj = register_module("k_proj", torch::nn::Linear(d, d));
    v_proj = register_module("v_proj", torch::nn::Linear(d, d));
    out_proj = register_module("out_proj", torch::nn::Linear(d, d));
  }
  // q_in [B,Tq,d], kv_in [B,Tk,d]; `blocked` (bool, broadcast to [B,heads,Tq,Tk]) is true where
  // a query may not see a key (padding, future positions).
  torch::Tensor forward(const torch::Tensor& q_in, const torch::Tensor& kv_in,
                        const torch::Tensor& blocked) {
    const auto B = q_in.size(0), Tq = q_in.size(1), Tk = kv_in.size(1);
    auto q = q_proj(q_in).view({B, Tq, heads, dh}).transpose(1, 2);
    auto k = k_proj(kv_in).view({B, Tk, heads, dh}).transpose(1, 2);
    auto v = v_proj(kv_in).view({B, Tk, heads, dh}).transpose(1, 2);
    // The engine scales the dot products by 1/sqrt(dh) computed in float; so does this.
    const float scale = 1.f / std::sqrt(static_cast<float>(dh));
    auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;
    if (blocked.defined())
      scores = scores.masked_fill(blocked, -std::numeric_limits<float>::infinity());
    auto ctx = torch::matmul(torch::softmax(scores, -1), v);
    return out_proj(ctx.transpose(1, 2).reshape({B, Tq, heads * dh}));
  }
  std::int64_t heads, dh;
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, out_proj{nullptr};
};
TORCH_MODULE(Attention);

struct FfnImpl : torch::nn::Module {
  FfnImpl(std::int64_t d, std::int64_t f) {
    fc1 = register_module("fc1", torch::nn::Linear(d, f));
    fc2 = register_module("fc2", torch::nn::Linear(f, d));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(torch::relu(fc1(x))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(Ffn);

// Pre-norm: x + f(norm(x)); post-norm: norm(x + f(x)) — as the engine's layers.
torch::Tensor sublayer(const torch::Tensor& x, torch::nn::LayerNorm& norm, bool pre, double p,
                       bool training, const std::function<torch::Tensor(const torch::Tensor&)>& f) {
  if (pre) return x + drop(f(norm(x)), p, training);
  return norm(x + drop(f(x), p, training));
}

struct EncoderLayerImpl : torch::nn::Module {
  explicit EncoderLayerImpl(const ModelConfig& c) : pre(c.pre_norm) {
    self_attn_norm = register_module("self_attn_norm", layer_norm(c.d_model, c.layer_norm_eps));
    self_attn = register_module("self_attn", Attention(c.d_model, c.heads));
    ffn_norm = register_module("ffn_norm", layer_norm(c.d_model, c.layer_norm_eps));
    ffn = register_module("ffn", Ffn(c.d_model, c.ffn));
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& src_blocked, double p) {
    x = sublayer(x, self_attn_norm, pre, p, is_training(),
                 [&](const torch::Tensor& h) { return self_attn(h, h, src_blocked); });
    return sublayer(x, ffn_norm, pre, p, is_training(),
                    [&](const torch::Tensor& h) { return ffn(h); });
  }
  bool pre;
  torch::nn::LayerNorm self_attn_norm{nullptr}, ffn_norm{nullptr};
  Attention self_attn{nullptr};
  Ffn ffn{nullptr};
};
TORCH_MODULE(EncoderLayer);

struct DecoderLayerImpl : torch::nn::Module {
  explicit DecoderLayerImpl(const ModelConfig& c) : pre(c.pre_norm) {
    self_attn_norm = register_module("self_attn_norm", layer_norm(c.d_model, c.layer_norm_eps));
    self_attn = register_module("self_attn", Attention(c.d_model, c.heads));
    cross_attn_norm = register_module("cross_attn_norm", layer_norm(c.d_model, c.layer_norm_eps));
    cross_attn = register_module("cross_attn", Attention(c.d_model, c.heads));
    ffn_norm = register_module("ffn_norm", layer_norm(c.d_model, c.layer_norm_eps));
    ffn = register_module("ffn", Ffn(c.d_model, c.ffn));
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& memory, const torch::Tensor& causal,
                        const torch::Tensor& src_blocked, double p) {
    x = sublayer(x, self_attn_norm, pre, p, is_training(),
                 [&](const torch::Tensor& h) { return self_attn(h, h, causal); });
    x = sublayer(x, cross_attn_norm, pre, p, is_training(),
                 [&](const torch::Tensor& h) { return cross_attn(h, memory, src_blocked); });
    return sublayer(x, ffn_norm, pre, p, is_training(),
                    [&](const torch::Tensor& h) { return ffn(h); });
  }
  bool pre;
  torch::nn::LayerNorm self_attn_norm{nullptr}, cross_attn_norm{nullptr}, ffn_norm{nullptr};
  Attention self_attn{nullptr}, cross_attn{nullptr};
  Ffn ffn{nullptr};
};
TORCH_MODULE(DecoderLayer);

// decoder.output: the bias always, the weight only when not tied to the target embeddings.
struct OutputImpl : torch::nn::Module {
  OutputImpl(const ModelConfig& c) {
    if (!c.tied_output)
      weight = register_parameter("weight", torch::empty({c.tgt_vocab, c.d_model}));
    bias = register_parameter("bias", torch::zeros({c.tgt_vocab}));
  }
  torch::Tensor weight, bias;
};
TORCH_MODULE(Output);

struct EncoderImpl : torch::nn::Module {
  explicit EncoderImpl(const ModelConfig& c) {
    embed = register_module("embed", torch::nn::Embedding(c.src_vocab, c.d_model));
    layers = register_module("layers", torch::nn::ModuleList());
    for (std::uint32_t i = 0; i < c.encoder_layers; ++i) layers->push_back(EncoderLayer(c));
    if (c.pre_norm)
      final_norm = register_module("final_norm", layer_norm(c.d_model, c.layer_norm_eps));
  }
  torch::nn::Embedding embed{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};
};
TORCH_MODULE(Encoder);

struct DecoderImpl : torch::nn::Module {
  explicit DecoderImpl(const ModelConfig& c) {
    if (!c.shared_embeddings)
      embed = register_module("embed", torch::nn::Embedding(c.tgt_vocab, c.d_model));
    layers = register_module("layers", torch::nn::ModuleList());
    for (std::uint32_t i = 0; i < c.decoder_layers; ++i) layers->push_back(DecoderLayer(c));
    if (c.pre_norm)
      final_norm = register_module("final_norm", layer_norm(c.d_model, c.layer_norm_eps));
    output = register_module("output", Output(c));
  }
  torch::nn::Embedding embed{nullptr};
  torch::nn::ModuleList layers{nullptr};
  torch::nn::LayerNorm final_norm{nullptr};
  Output output{nullptr};
};
TORCH_MODULE(Decoder);

struct NetImpl : torch::nn::Module {
  NetImpl(const ModelConfig& c, double p) : config(c), p_drop(p) {
    encoder = register_module("encoder", Encoder(c));
    decoder = register_module("decoder", Decoder(c));
    embed_scale = c.scale_embeddings ? std::sqrt(static_cast<float>(c.d_model)) : 1.f;
  }

  // The engine's sinusoids (same function, same float rounding), grown on demand.
  torch::Tensor positions(std::int64_t n) {
    if (pe.size(0) < n) {
      const std::int64_t d = config.d_model, rows = std::max<std::int64_t>(n, 256);
      pe = torch::empty({rows, d});
      for (std::int64_t p = 0; p < rows; ++p) sinusoidal_position(p, d, pe[p].data_ptr<float>());
    }
    return pe.narrow(0, 0, n);
  }
  torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& table) {
    auto x = F::embedding(ids, table) * embed_scale + positions(ids.size(1));
    return drop(x, p_drop, is_training());
  }
  const torch::Tensor& tgt_table() {
    return config.shared_embeddings ? encoder->embed->weight : decoder->embed->weight;
  }

  // src [B,S] (padded with pad_id) -> memory [B,S,d]; src_blocked [B,1,1,S].
  torch::Tensor encode(const torch::Tensor& src, const torch::Tensor& src_blocked) {
    auto x = embed(src, encoder->embed->weight);
    for (const auto& layer : *encoder->layers)
      x = layer->as<EncoderLayerImpl>()->forward(x, src_blocked, p_drop);
    return config.pre_norm ? encoder->final_norm(x) : x;
  }
  // tgt_in [B,T] (BOS first) -> logits [B,T,V].
  torch::Tensor decode(const torch::Tensor& tgt_in, const torch::Tensor& memory,
                       const torch::Tensor& src_blocked) {
    const auto T = tgt_in.size(1);
    auto causal = torch::ones({T, T}, torch::kBool).triu(1).view({1, 1, T, T});
    auto x = embed(tgt_in, tgt_table());
    for (const auto& layer : *decoder->layers)
      x = layer->as<DecoderLayerImpl>()->forward(x, memory, causal, src_blocked, p_drop);
    if (config.pre_norm) x = decoder->final_norm(x);
    const torch::Tensor& w = config.tied_output ? tgt_table() : decoder->output->weight;
    return F::linear(x, w, decoder->output->bias);
  }

  ModelConfig config;
  double p_drop;
  float embed_scale = 1.f;
  torch::Tensor pe = torch::empty({0, 0});
  Encoder encoder{nullptr};
  Decoder decoder{nullptr};
};
TORCH_MODULE(Net);

// [B, max len] of ids, right-padded with `pad`; `bos` (when >= 0) is put first.
torch::Tensor padded(const std::vector<Ids>& rows, std::int64_t pad, std::int64_t bos = -1,
                     std::int64_t eos = -1) {
  const std::int64_t extra = (bos >= 0) + (eos >= 0);
  std::int64_t T = 0;
  for (const Ids& r : rows) T = std::max(T, static_cast<std::int64_t>(r.size()) + extra);
  auto t = torch::full({static_cast<std::int64_t>(rows.size()), T}, pad, torch::kLong);
  auto a = t.accessor<std::int64_t, 2>();
  for (std::size_t b = 0; b < rows.size(); ++b) {
    std::int64_t j = 0;
    if (bos >= 0) a[static_cast<std::int64_t>(b)][j++] = bos;
    for (auto id : rows[b]) a[static_cast<std::int64_t>(b)][j++] = id;
    if (eos >= 0) a[static_cast<std::int64_t>(b)][j++] = eos;
  }
  return t;
}

void check_batch(const std::vector<Ids>& src, const std::vector<Ids>& tgt) {
  if (src.size() != tgt.size()) throw core::Error("batch: source and target counts differ");
  for (const Ids& s : src)
    if (s.empty()) throw core::Error("batch: empty source sentence (it needs at least EOS)");
}

}  // namespace

struct TorchTransformer::Impl {
  ModelConfig config;
  double dropout;
  Net net{nullptr};
  std::unique_ptr<torch::optim::Optimizer> opt;

  torch::Tensor blocked(const torch::Tensor& src) {
    return src.eq(static_cast<std::int64_t>(config.pad_id)).view({src.size(0), 1, 1, src.size(1)});
  }

  // Label-smoothed cross entropy as fairseq computes it: (1 - eps - eps_i) nll + eps_i * sum
  // over the vocabulary of -log p, eps_i = eps / (V - 1); padding positions contribute nothing.
  std::pair<torch::Tensor, LossSums> loss(const std::vector<Ids>& src, const std::vector<Ids>& tgt,
                                          double eps) {
    check_batch(src, tgt);
    const auto pad = static_cast<std::int64_t>(config.pad_id);
    torch::Tensor s = padded(src, pad);
    torch::Tensor tin = padded(tgt, pad, config.bos_id), tout = padded(tgt, pad, -1, config.eos_id);
    torch::Tensor bl = blocked(s);
    torch::Tensor logits = net->decode(tin, net->encode(s, bl), bl);
    torch::Tensor lp = torch::log_softmax(logits, -1);
    torch::Tensor nll = -lp.gather(-1, tout.unsqueeze(-1)).squeeze(-1);
    const double eps_i = eps / static_cast<double>(config.tgt_vocab - 1);
    torch::Tensor smooth = -lp.sum(-1);
    torch::Tensor keep = tout.ne(pad);
    torch::Tensor loss = ((1.0 - eps - eps_i) * nll + eps_i * smooth).masked_fill(~keep, 0.0).sum();
    LossSums sums;
    sums.loss = loss.item<double>();
    sums.nll = nll.masked_fill(~keep, 0.0).sum().item<double>();
    sums.tokens = keep.sum().item<std::int64_t>();
    return {loss, sums};
  }
};

TorchTransformer::TorchTransformer(const ModelConfig& config, std::uint64_t seed, double p)
    : impl_(std::make_unique<Impl>()) {
  config.validate("trainer config");
  impl_->config = config;
  impl_->dropout = p;
  torch::manual_seed(seed);
  impl_->net = Net(config, p);
  torch::NoGradGuard no_grad;
  const double emb_std = 1.0 / std::sqrt(static_cast<double>(config.d_model));
  for (auto& item : impl_->net->named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& t = item.value();
    if (name.find("norm") != std::string::npos) continue;  // LayerNorm: ones and zeros already
    if (name == "encoder.embed.weight" || name == "decoder.embed.weight" ||
        name == "decoder.output.weight")
      t.normal_(0.0, emb_std);  // O(1) after the sqrt(d) scale
    else if (t.dim() == 2)
      torch::nn::init::xavier_uniform_(t);
    else
      t.zero_();
  }
}

TorchTransformer::~TorchTransformer() = default;

const ModelConfig& TorchTransformer::config() const {
  return impl_->config;
}

std::int64_t TorchTransformer::parameter_count() const {
  std::int64_t n = 0;
  for (const auto& p : impl_->net->parameters()) n += p.numel();
  return n;
}

void TorchTransformer::load(const Model& model) {
  const ModelConfig &a = impl_->config, &b = model.config;
  if (a.encoder_layers != b.encoder_layers || a.decoder_layers != b.decoder_layers ||
      a.d_model != b.d_model || a.heads != b.heads || a.ffn != b.ffn ||
      a.src_vocab != b.src_vocab || a.tgt_vocab != b.tgt_vocab || a.pre_norm != b.pre_norm ||
      a.shared_embeddings != b.shared_embeddings || a.tied_output != b.tied_output ||
      a.scale_embeddings != b.scale_embeddings || a.layer_norm_eps != b.layer_norm_eps ||
      a.pad_id != b.pad_id || a.bos_id != b.bos_id || a.eos_id != b.eos_id)
    throw core::InputError("the model's config differs from the trainer's", {},
                           "build the TorchTransformer from model.config");
  torch::NoGradGuard no_grad;
  std::size_t used = 0;
  for (auto& item : impl_->net->named_parameters()) {
    const std::string& name = item.key();
    torch::Tensor& p = item.value();
    auto it = model.tensors.find(name);
    if (it == model.tensors.end()) {
      if (name == "decoder.output.bias") {  // optional in model files
        p.zero_();
        continue;
      }
      throw core::InputError(fmt::format("model has no tensor '{}'", name), {},
                             "see docs/nmt_model_format.md");
    }
    const nmt::Tensor& t = it->second;
    if (t.dtype != DType::f32 || t.shape != p.sizes().vec())
      throw core::InputError(fmt::format("tensor '{}' is not f32 of the trainer's shape", name), {},
                             "load an unquantized model of the same config");
    p.copy_(torch::from_blob(const_cast<float*>(t.f32.data()), p.sizes()));
    ++used;
  }
  if (used != model.tensors.size())  // every model tensor was matched by name
    throw core::InputError("model holds tensors the trainer does not know", {},
                           "see docs/nmt_model_format.md for the names");
}

Model TorchTransformer::to_model(const Vocabulary& src_vocab, const Vocabulary& tgt_vocab) const {
  Model m;
  m.config = impl_->config;
  m.src_vocab = src_vocab;
  m.tgt_vocab = tgt_vocab;
  torch::NoGradGuard no_grad;
  for (const auto& item : impl_->net->named_parameters()) {
    torch::Tensor p = item.value().detach().contiguous();
    nmt::Tensor t;
    t.shape = p.sizes().vec();
    t.f32.assign(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    m.tensors.emplace(item.key(), std::move(t));
  }
  return m;
}

namespace {
// Runs `f` with the module in eval mode and no autograd, restoring training mode afterwards.
template <typename Fn>
auto evaluating(torch::nn::Module& net, Fn&& f) {
  const bool was_training = net.is_training();
  net.eval();
  torch::NoGradGuard no_grad;
  struct Restore {
    torch::nn::Module& net;
    bool training;
    ~Restore() { net.train(training); }
  } restore{net, was_training};
  return f();
}
}  // namespace

std::vector<float> TorchTransformer::encode(const std::vector<Ids>& src) const {
  return evaluating(*impl_->net, [&] {
    for (const Ids& s : src)
      if (s.empty()) throw core::Error("encode: empty source sentence (it needs at least EOS)");
    torch::Tensor s = padded(src, impl_->config.pad_id);
    torch::Tensor memory = impl_->net->encode(s, impl_->blocked(s)).contiguous();
    const std::int64_t d = impl_->config.d_model;
    std::vector<float> out;
    for (std::size_t b = 0; b < src.size(); ++b) {
      const float* row = memory[static_cast<std::int64_t>(b)].data_ptr<float>();
      out.insert(out.end(), row, row + static_cast<std::int64_t>(src[b].size()) * d);
    }
    return out;
  });
}

std::vector<std::vector<float>> TorchTransformer::forced_logits(const std::vector<Ids>& src,
                                                                const std::vector<Ids>& tgt) const {
  return evaluating(*impl_->net, [&] {
    check_batch(src, tgt);
    torch::Tensor s = padded(src, impl_->config.pad_id);
    torch::Tensor bl = impl_->blocked(s);
    torch::Tensor logits = impl_->net
                               ->decode(padded(tgt, impl_->config.pad_id, impl_->config.bos_id),
                                        impl_->net->encode(s, bl), bl)
                               .contiguous();
    std::vector<std::vector<float>> out;
    for (std::size_t b = 0; b < src.size(); ++b) {
      const float* p = logits[static_cast<std::int64_t>(b)].data_ptr<float>();
      out.emplace_back(p, p + (static_cast<std::int64_t>(tgt[b].size()) + 1) *
                                  static_cast<std::int64_t>(impl_->config.tgt_vocab));
    }
    return out;
  });
}

std::vector<Ids> TorchTransformer::greedy(const std::vector<Ids>& src, int max_length) const {
  return evaluating(*impl_->net, [&] {
    const ModelConfig& c = impl_->config;
    std::vector<Ids> out(src.size());
    if (src.empty() || max_length <= 0) return out;
    torch::Tensor s = padded(src, c.pad_id);
    torch::Tensor bl = impl_->blocked(s);
    torch::Tensor memory = impl_->net->encode(s, bl);
    const auto B = static_cast<std::int64_t>(src.size());
    torch::Tensor ys = torch::full({B, 1}, static_cast<std::int64_t>(c.bos_id), torch::kLong);
    std::vector<bool> done(src.size(), false);
    std::size_t running = src.size();
    for (int t = 0; t < max_length && running > 0; ++t) {
      torch::Tensor logits = impl_->net->decode(ys, memory, bl).select(1, t);
      torch::Tensor next = logits.argmax(-1);  // first maximum on ties, as the engine
      auto a = next.accessor<std::int64_t, 1>();
      for (std::int64_t b = 0; b < B; ++b) {
        if (done[b]) continue;
        if (a[b] == c.eos_id) {
          done[b] = true;
          --running;
        } else {
          out[b].push_back(static_cast<std::uint32_t>(a[b]));
        }
      }
      ys = torch::cat({ys, next.unsqueeze(1)}, 1);
    }
    return out;
  });
}

LossSums TorchTransformer::loss(const std::vector<Ids>& src, const std::vector<Ids>& tgt,
                                double label_smoothing) const {
  return evaluating(*impl_->net, [&] { return impl_->loss(src, tgt, label_smoothing).second; });
}

void TorchTransformer::start_training(const train::AdamConfig& adam) {
  impl_->opt = train::make_adam(*impl_->net, adam);
}

StepStats TorchTransformer::train_step(const std::vector<Ids>& src, const std::vector<Ids>& tgt,
                                       double lr, double label_smoothing, double clip_norm) {
  if (!impl_->opt) throw core::Error("train_step before start_training");
  impl_->net->train();
  impl_->opt->zero_grad();
  auto [loss, sums] = impl_->loss(src, tgt, label_smoothing);
  StepStats st;
  st.sums = sums;
  if (sums.tokens == 0) return st;
  (loss / static_cast<double>(sums.tokens)).backward();
  st.grad_norm = train::clip_grad_norm(*impl_->net, clip_norm);
  train::set_lr(*impl_->opt, lr);
  impl_->opt->step();
  return st;
}

void TorchTransformer::save_checkpoint(const std::filesystem::path& file,
                                       const train::CheckpointMeta& meta) {
  if (!impl_->opt) throw core::Error("save_checkpoint before start_training");
  train::save_checkpoint(file, *impl_->net, *impl_->opt, meta);
}

train::CheckpointMeta TorchTransformer::load_checkpoint(const std::filesystem::path& file) {
  return train::load_checkpoint(file, *impl_->net, impl_->opt.get());
}

train::ParamFingerprint TorchTransformer::fingerprint() const {
  return train::fingerprint(*impl_->net);
}

}  // namespace keel::nmt
