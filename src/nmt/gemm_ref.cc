// Plain reference kernels: obviously correct loops the optimized paths are tested against.
#include <cmath>

#include "keel/core/error.h"
#include "keel/nmt/gemm.h"
#include "quantize_detail.h"

namespace keel::nmt {

Compute parse_compute(std::string_view name) {
  if (name == "fp32") return Compute::fp32;
  if (name == "int8") return Compute::int8_static;
  if (name == "int8-dynamic") return Compute::int8_dynamic;
  throw core::InputError("unknown compute type '" + std::string(name) + "'", {},
                         "use fp32, int8 (a model calibrated by keel nmt quantize) or int8-dynamic");
}

std::string_view to_string(Compute c) {
  switch (c) {
    case Compute::fp32: return "fp32";
    case Compute::int8_static: return "int8";
    case Compute::int8_dynamic: return "int8-dynamic";
  }
  return "?";
}

void quantize_static_ref(const float* x, std::int64_t n, const ActivationQuant& q,
                         std::int32_t* out) {
  for (std::int64_t i = 0; i < n; ++i)
    out[i] = q.is_unsigned ? detail::round_u(x[i] * q.scale) : detail::round_q(x[i] * q.scale);
}

void gemm_static_ref(const std::int32_t* xq, float x_scale, const std::int8_t* wq,
                     const float* w_scales, const float* bias, float* y, std::int64_t M,
                     std::int64_t N, std::int64_t K, bool relu) {
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t n = 0; n < N; ++n) {
      std::int64_t acc = 0;
      for (std::int64_t k = 0; k < K; ++k) acc += std::int64_t{xq[m * K + k]} * wq[n * K + k];
      double v = static_cast<double>(acc) / (double{x_scale} * w_scales[n]) + (bias ? bias[n] : 0.0);
      y[m * N + n] = static_cast<float>(relu ? std::max(v, 0.0) : v);
    }
}

void quantize_rows_ref(const float* x, std::int64_t rows, std::int64_t cols, std::int8_t* q,
                       float* scales) {
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    float amax = 0.f;
    for (std::int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(row[c]));
    float scale = detail::row_scale(amax);
    scales[r] = scale;
    for (std::int64_t c = 0; c < cols; ++c)
      q[r * cols + c] = static_cast<std::int8_t>(detail::round_q(row[c] * scale));
  }
}

void gemm_ref(const float* x, const float* w, const float* bias, float* y, std::int64_t M,
              std::int64_t N, std::int64_t K, bool relu) {
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t n = 0; n < N; ++n) {
      double acc = bias ? bias[n] : 0.0;
      for (std::int64_t k = 0; k < K; ++k)
        acc += static_cast<double>(x[m * K + k]) * static_cast<double>(w[n * K + k]);
      float v = static_cast<float>(acc);
      y[m * N + n] = relu ? std::max(v, 0.f) : v;
    }
}

void gemm_s8_ref(const std::int8_t* xq, const float* x_scales, const std::int8_t* wq,
                 const float* w_scales, const float* bias, float* y, std::int64_t M,
                 std::int64_t N, std::int64_t K, bool relu) {
  for (std::int64_t m = 0; m < M; ++m)
    for (std::int64_t n = 0; n < N; ++n) {
      std::int32_t acc = 0;
      for (std::int64_t k = 0; k < K; ++k) acc += xq[m * K + k] * wq[n * K + k];
      float v = static_cast<float>(acc) / (x_scales[m] * w_scales[n]) + (bias ? bias[n] : 0.f);
      y[m * N + n] = relu ? std::max(v, 0.f) : v;
    }
}

}  // namespace keel::nmt
