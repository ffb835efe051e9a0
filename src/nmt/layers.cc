// fp32 building blocks: LayerNorm, embeddings, linear loading by scope (attention: attention.cc).
#include "keel/nmt/layers.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>

#include "keel/core/error.h"

namespace keel::nmt {

namespace {
constexpr std::int64_t kPositionTable = 1024;  // positions precomputed; later ones on the fly
}

LayerNorm::LayerNorm(const Model& model, const std::string& scope) {
  const std::int64_t d = model.config.d_model;
  gamma = model.get(scope + ".weight", {d}).f32;
  beta = model.get(scope + ".bias", {d}).f32;
  eps = model.config.layer_norm_eps;
}

void LayerNorm::forward(const float* x, std::int64_t rows, float* y) const {
  const auto d = static_cast<std::int64_t>(gamma.size());
  const float* g = gamma.data();
  const float* b = beta.data();
#pragma omp parallel for schedule(static) if (rows * d > (1 << 16))
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * d;
    float* yr = y + r * d;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < d; ++i) sum += xr[i];
    const float mean = sum / static_cast<float>(d);
    float var = 0.f;
#pragma omp simd reduction(+ : var)
    for (std::int64_t i = 0; i < d; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    const float inv = 1.f / std::sqrt(var / static_cast<float>(d) + eps);
#pragma omp simd
    for (std::int64_t i = 0; i < d; ++i) yr[i] = (xr[i] - mean) * inv * g[i] + b[i];
  }
}

void layer_norm_ref(const float* x, const float* gamma, const float* beta, float eps,
                    std::int64_t rows, std::int64_t d, float* y) {
  for (std::int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::int64_t i = 0; i < d; ++i) mean += x[r * d + i];
    mean /= static_cast<double>(d);
    for (std::int64_t i = 0; i < d; ++i) var += (x[r * d + i] - mean) * (x[r * d + i] - mean);
    var /= static_cast<double>(d);
    for (std::int64_t i = 0; i < d; ++i)
      y[r * d + i] =
          static_cast<float>((x[r * d + i] - mean) / std::sqrt(var + eps) * gamma[i] + beta[i]);
  }
}


Linear load_linear(const Model& model, const std::vector<std::string>& scopes, std::int64_t in,
                   Compute compute) {
  std::vector<float> w, b;
  std::int64_t out = 0;
  for (const auto& scope : scopes) {
    auto it = model.tensors.find(scope + ".weight");
    if (it == model.tensors.end() || it->second.shape.size() != 2)
      throw core::InputError("model has no 2-D tensor '" + scope + ".weight'", {},
                             "see docs/nmt_model_format.md for the names a model must hold");
    const Tensor& t = model.get(scope + ".weight", {it->second.rows(), in});
    const std::int64_t n = t.rows();
    if (t.dtype == DType::s8) {  // dequantize; int8 compute re-quantizes per row
      for (std::int64_t r = 0; r < n; ++r)
        for (std::int64_t c = 0; c < in; ++c)
          w.push_back(static_cast<float>(t.s8[r * in + c]) / t.scales[r]);
    } else {
      w.insert(w.end(), t.f32.begin(), t.f32.end());
    }
    if (model.has(scope + ".bias")) {
      const auto& bias = model.get(scope + ".bias", {n}).f32;
      b.insert(b.end(), bias.begin(), bias.end());
    } else {
      b.insert(b.end(), static_cast<std::size_t>(n), 0.f);
    }
    out += n;
  }
  ActivationQuant q;
  if (compute == Compute::int8_static) {
    q = input_quant(model, scopes.front());
    if (!q.valid()) compute = Compute::fp32;
  }
  return Linear(w, b, out, in, compute, q);
}

ActivationQuant input_quant(const Model& model, const std::string& scope) {
  const std::string name = scope + ".input_range";
  if (!model.has(name)) return {};
  const auto& r = model.get(name, {2}).f32;
  const float lo = r[0], hi = r[1];
  const bool is_unsigned = lo == 0.f;
  if (!(hi > 0.f) || !(is_unsigned || lo == -hi) || !std::isfinite(hi))
    throw core::InputError("tensor '" + name + "' must be {0, max} or {-max, max} with max > 0", {},
                           "recalibrate the model with keel nmt quantize");
  return ActivationQuant{(is_unsigned ? 255.f : 127.f) / hi, is_unsigned};
}

void sinusoidal_position(std::int64_t pos, std::int64_t d, float* out, PositionLayout layout) {
  const std::int64_t half = (d + 1) / 2;  // sines; an odd width has one more sine than cosine
  for (std::int64_t i = 0; i < d; i += 2) {
    const double angle = static_cast<double>(pos) /
                         std::pow(10000.0, static_cast<double>(i) / static_cast<double>(d));
    if (layout == PositionLayout::tensorflow || layout == PositionLayout::concat) {
      // OpenNMT-tf / fairseq: timescales exp(-j·ln(10000)/(d/2 - 1)), sines then cosines;
      // OpenNMT-tf counts positions from 1.
      const std::int64_t h = d / 2, j = i / 2;
      if (j >= h) continue;
      const double inc = std::log(10000.0) / static_cast<double>(std::max<std::int64_t>(1, h - 1));
      const double p = static_cast<double>(layout == PositionLayout::tensorflow ? pos + 1 : pos);
      const double a = p * std::exp(-inc * static_cast<double>(j));
      out[j] = static_cast<float>(std::sin(a));
      out[h + j] = static_cast<float>(std::cos(a));
    } else if (layout == PositionLayout::interleaved) {
      out[i] = static_cast<float>(std::sin(angle));
      if (i + 1 < d) out[i + 1] = static_cast<float>(std::cos(angle));
    } else {
      out[i / 2] = static_cast<float>(std::sin(angle));
      if (i + 1 < d) out[half + i / 2] = static_cast<float>(std::cos(angle));
    }
  }
}

void activate(float* x, std::int64_t n, Activation a) {
  switch (a) {
    case Activation::relu:
#pragma omp simd
      for (std::int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.f);
      return;
    case Activation::gelu:
      for (std::int64_t i = 0; i < n; ++i)
        x[i] = 0.5f * x[i] * (1.f + std::erf(x[i] * static_cast<float>(M_SQRT1_2)));
      return;
    case Activation::swish:
      for (std::int64_t i = 0; i < n; ++i) x[i] = x[i] / (1.f + std::exp(-x[i]));
      return;
    case Activation::gelu_tanh:
      for (std::int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        x[i] = 0.5f * v * (1.f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
      }
      return;
  }
}

namespace {
// One sinusoid table per width for the whole process (source and target embeddings share it).
std::shared_ptr<const std::vector<float>> position_table(std::int64_t d, PositionLayout layout) {
  static std::mutex mu;
  static std::map<std::pair<std::int64_t, PositionLayout>, std::shared_ptr<const std::vector<float>>> tables;
  std::lock_guard lock(mu);
  auto& t = tables[{d, layout}];
  if (!t) {
    auto v = std::make_shared<std::vector<float>>(static_cast<std::size_t>(kPositionTable * d));
    for (std::int64_t p = 0; p < kPositionTable; ++p)
      sinusoidal_position(p, d, v->data() + p * d, layout);
    t = std::move(v);
  }
  return t;
}
}  // namespace

void Embeddings::init(const ModelConfig& config, std::int64_t vocab) {
  d_ = config.d_model;
  vocab_ = vocab;
  scale_ = config.scale_embeddings ? std::sqrt(static_cast<float>(d_)) : 1.f;
  layout_ = config.positions;
  positions_ = position_table(d_, layout_);
}

Embeddings::Embeddings(std::shared_ptr<const std::vector<float>> table, const ModelConfig& config,
                       std::int64_t vocab)
    : table_(std::move(table)) {
  init(config, vocab);
  if (static_cast<std::int64_t>(table_->size()) != vocab * d_)
    throw core::Error("embedding table size does not match [vocab, d_model]");
}

Embeddings::Embeddings(std::shared_ptr<const Linear> weights, const ModelConfig& config,
                       std::int64_t vocab)
    : weights_(std::move(weights)) {
  init(config, vocab);
  if (weights_->out_features() != vocab || weights_->in_features() != d_)
    throw core::Error("tied embedding weights do not match [vocab, d_model]");
}

void Embeddings::forward(const std::uint32_t* ids, const std::int32_t* positions, std::int64_t n,
                         float* x) const {
  for (std::int64_t i = 0; i < n; ++i) {
    assert(ids[i] < vocab_);
    float* xi = x + i * d_;
    if (weights_)
      weights_->weight_row(ids[i], xi);
    else
      std::copy_n(table_->data() + static_cast<std::int64_t>(ids[i]) * d_, d_, xi);
    if (positions[i] < kPositionTable) {
      const float* pe = positions_->data() + positions[i] * d_;
#pragma omp simd
      for (std::int64_t c = 0; c < d_; ++c) xi[c] = xi[c] * scale_ + pe[c];
    } else {
      thread_local std::vector<float> pe;
      pe.resize(static_cast<std::size_t>(d_));
      sinusoidal_position(positions[i], d_, pe.data(), layout_);
      for (std::int64_t c = 0; c < d_; ++c) xi[c] = xi[c] * scale_ + pe[c];
    }
  }
}

}  // namespace keel::nmt
