// Plain reference kernels: obviously correct loops the optimized paths are tested against.
#include <cmath>

#include "keel/core/error.h"
#include "keel/nmt/gemm.h"
#include "quantize_detail.h"

namespace keel::nmt {

Compute parse_compute(std::string_view name) {
  if (name == "fp32") return Compute::fp32;
  if (name == "int8-dynamic") return Compute::int8_dynamic;
  throw core::InputError("unknown compute type '" + std::string(name) + "'", {},
                         "use fp32 or int8-dynamic");
}

std::string_view to_string(Compute c) { return c == Compute::fp32 ? "fp32" : "int8-dynamic"; }

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
