#pragma once
// Transformer building blocks in fp32 (LayerNorm, softmax attention, embeddings) and the dense
// sublayers built from a model plus a scope name, CTranslate2 style.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "keel/nmt/gemm.h"
#include "keel/nmt/half.h"
#include "keel/nmt/model.h"

namespace keel::nmt {

// y[r,:] = (x[r,:] − mean) / sqrt(var + eps) · gamma + beta, for rows of width d.
struct LayerNorm {
  std::vector<float> gamma, beta;
  float eps = 1e-5f;
  LayerNorm() = default;
  LayerNorm(const Model& model, const std::string& scope);  // scope.weight, scope.bias
  void forward(const float* x, std::int64_t rows, float* y) const;
};

// Reference LayerNorm (double accumulation) for tests.
void layer_norm_ref(const float* x, const float* gamma, const float* beta, float eps,
                    std::int64_t rows, std::int64_t d, float* y);

// One attention head: out[i,:] = softmax_j(q[i,:] · k[j,:] / sqrt(dh)) · v[j,:], i < nq, j < nk.
// Rows are dh floats apart by their strides (heads are column slices of wider rows).
// `scores` is scratch for nk floats. No mask: callers pass exactly the keys a query may see.
void attention_head(const float* q, std::int64_t q_stride, const float* k, std::int64_t k_stride,
                    const float* v, std::int64_t v_stride, std::int64_t nq, std::int64_t nk,
                    std::int64_t dh, float* out, std::int64_t out_stride, float* scores);

// All heads of one query row q [heads·dh]: for each head h, out[h·dh, (h+1)·dh) =
// softmax_j(q_h · k_j,h / sqrt(dh)) · v_j,h over keys j < nk, where k_j = k + j·kv_stride and
// v_j = v + j·kv_stride hold the heads side by side. Reads every key and value row once,
// contiguously, instead of once per head (4 KB apart): the decoder's hot loop.
// `scores` is scratch for heads·nk floats.
void attention_query(const float* q, const float* k, const float* v, std::int64_t kv_stride,
                     std::int64_t nk, std::int64_t heads, std::int64_t dh, float* out,
                     float* scores);
// Same over binary16 keys and values (the int8 modes' caches), converted row by row to fp32.
void attention_query(const float* q, const Half* k, const Half* v, std::int64_t kv_stride,
                     std::int64_t nk, std::int64_t heads, std::int64_t dh, float* out,
                     float* scores);

// attention_query for nq queries q + i·q_stride that share the keys and values (the hypotheses
// of one sentence over its encoder output; a sentence's own queries in the encoder): each key
// and value row is read (and converted) once per 8 queries. Same results as attention_query
// per query, bit for bit. `scores`: scratch for 8·heads·nk floats.
void attention_queries(const float* q, std::int64_t q_stride, std::int64_t nq, const float* k,
                       const float* v, std::int64_t kv_stride, std::int64_t nk, std::int64_t heads,
                       std::int64_t dh, float* out, std::int64_t out_stride, float* scores);
void attention_queries(const float* q, std::int64_t q_stride, std::int64_t nq, const Half* k,
                       const Half* v, std::int64_t kv_stride, std::int64_t nk, std::int64_t heads,
                       std::int64_t dh, float* out, std::int64_t out_stride, float* scores);

// attention_query for nq queries that each read their own key/value rows of one cache: key row j
// of query i is kv + rows[i·nk + j]·kv_stride, its value row v_offset further. Beam hypotheses
// share their common history this way instead of copying it; a row read by several of the
// queries is loaded (and converted) once for all. Same results per query as attention_query, bit
// for bit. `scores`: scratch for 8·heads·nk floats.
void attention_queries_gathered(const float* q, std::int64_t q_stride, std::int64_t nq,
                                const float* kv, std::int64_t kv_stride, std::int64_t v_offset,
                                const std::int64_t* rows, std::int64_t nk, std::int64_t heads,
                                std::int64_t dh, float* out, std::int64_t out_stride,
                                float* scores);
void attention_queries_gathered(const float* q, std::int64_t q_stride, std::int64_t nq,
                                const Half* kv, std::int64_t kv_stride, std::int64_t v_offset,
                                const std::int64_t* rows, std::int64_t nk, std::int64_t heads,
                                std::int64_t dh, float* out, std::int64_t out_stride,
                                float* scores);

// attention_head in double, plainly, for tests.
void attention_head_ref(const float* q, std::int64_t q_stride, const float* k,
                        std::int64_t k_stride, const float* v, std::int64_t v_stride,
                        std::int64_t nq, std::int64_t nk, std::int64_t dh, float* out,
                        std::int64_t out_stride);

// Linear whose weight rows are the concatenation of `scopes` (e.g. q, k, v projections fused
// into one GEMM). Each scope holds .weight [n_i, in] and .bias [n_i]; s8 weights are dequantized
// (exactly: the per-row requantization gives the same integers back). For static int8 the first
// scope's .input_range (calibrate.h) gives the input quantization; a layer without one runs in
// fp32 (the per-layer fallback `keel nmt quantize` chose).
Linear load_linear(const Model& model, const std::vector<std::string>& scopes, std::int64_t in,
                   Compute compute);

// The calibrated input quantization of `scope` (tensor scope.input_range = {min, max}: min 0
// for unsigned inputs, -max for signed ones), or an invalid one when the model has none.
ActivationQuant input_quant(const Model& model, const std::string& scope);

// Token embeddings × sqrt(d) (when configured) + sinusoidal positions. The rows come from a
// table of their own or, when the output projection is tied to them, from that layer's weights
// (fp32 exactly; dequantized int8 in the int8 modes, as CTranslate2 does): one copy, not two.
class Embeddings {
 public:
  Embeddings() = default;
  // Shares `table` [vocab, d] (source and target embeddings are one table when shared).
  Embeddings(std::shared_ptr<const std::vector<float>> table, const ModelConfig& config,
             std::int64_t vocab);
  // Rows of `weights` ([vocab, d]: out_features() == vocab, in_features() == d).
  Embeddings(std::shared_ptr<const Linear> weights, const ModelConfig& config, std::int64_t vocab);
  // x[i,:] = embedding of ids[i] at position positions[i]; x: [n, d].
  void forward(const std::uint32_t* ids, const std::int32_t* positions, std::int64_t n,
               float* x) const;
  std::int64_t dim() const { return d_; }

 private:
  void init(const ModelConfig& config, std::int64_t vocab);
  std::shared_ptr<const std::vector<float>> table_;      // [vocab, d], or
  std::shared_ptr<const Linear> weights_;                // the tied projection's rows
  std::shared_ptr<const std::vector<float>> positions_;  // [1024, d] sinusoids, shared per d
  PositionLayout layout_ = PositionLayout::interleaved;
  std::int64_t d_ = 0, vocab_ = 0;
  float scale_ = 1.f;
};

// Interleaved: PE(p, 2i) = sin(p / 10000^(2i/d)), PE(p, 2i+1) = cos(same). Halves (Marian):
// PE(p, i) = sin(p / 10000^(2i/d)), PE(p, d/2 + i) = cos(same), i < d/2. Writes d floats.
void sinusoidal_position(std::int64_t pos, std::int64_t d, float* out,
                         PositionLayout layout = PositionLayout::interleaved);

// x = activation(x) over n floats, in place (ReLU, erf GELU or SiLU).
void activate(float* x, std::int64_t n, Activation a);

}  // namespace keel::nmt
