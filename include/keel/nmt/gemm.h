#pragma once
// Dense layers y = x · Wᵀ + b (+ ReLU) over oneDNN matmul, fp32 or int8 on VNNI, with plain
// reference kernels (`*_ref`) beside them for tests. fp32 decode steps (up to 256 rows) run on a
// hand kernel over the same weights that prefetches the next panel while it computes
// (src/nmt/gemm_f32.cc; same sums as oneDNN's on the machine it was written on).
//
// int8-dynamic (CTranslate2's scheme): weights are symmetric int8 per output channel, quantized
// once at load; each activation row is quantized at run time with its own abs-max scale, shifted
// to u8 (+128) because VNNI multiplies u8 × s8; the shift is undone with a per-channel
// compensation 128·Σ_k Wq[n,k]. oneDNN runs u8 × s8 → s32; one pass then applies
// (acc − comp[n]) · row_scale[m]⁻¹ · w_scale[n]⁻¹ + bias[n] and the ReLU. (oneDNN 2.6 cannot fuse
// a per-row scale: a [M,1] binary post-op or runtime output scales drop it to slow kernels.)
//
// int8 (static): the activation scale is calibrated offline (calibrate.h) and stored in the
// model, so quantizing an input is one multiply-round pass with no abs-max scan, inputs that are
// never negative (ReLU outputs) use the whole u8 range [0, 255] with no shift, and a layer can
// write its output already quantized for the next int8 layer (forward_to_u8 → forward_u8): the
// FFN's [M, ffn] intermediate never exists in fp32.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace keel::nmt {

enum class Compute { fp32, int8_dynamic, int8_static };
// "oneDNN 2.6.3, ISA avx512_core_vnni"-style description of the GEMM backend, for reports.
std::string gemm_backend();

// "fp32" | "int8" (static, calibrated) | "int8-dynamic"; throws core::InputError otherwise.
Compute parse_compute(std::string_view name);
std::string_view to_string(Compute c);

// Symmetric per-row quantization: scale[r] = 127 / max|x[r,:]| (1 when the row is all zero),
// q = round_half_away(x · scale), in [-127, 127]. x: [rows, cols].
void quantize_rows_ref(const float* x, std::int64_t rows, std::int64_t cols, std::int8_t* q,
                       float* scales);
// Same rounding, vectorized; adds 128 so q fits u8 ([1, 255]). x: [rows, cols].
void quantize_rows_u8(const float* x, std::int64_t rows, std::int64_t cols, std::uint8_t* q,
                      float* scales);

// How a static int8 layer quantizes its input: q = round(clamp(x · scale, -127, 127)) for signed
// inputs, q = round(clamp(x · scale, 0, 255)) for unsigned ones (scale = 127 or 255 / threshold).
struct ActivationQuant {
  float scale = 0;  // 0 = not calibrated
  bool is_unsigned = false;
  bool valid() const { return scale > 0; }
};

// Reference static quantization to plain integers (same rounding as the fast path).
void quantize_static_ref(const float* x, std::int64_t n, const ActivationQuant& q,
                         std::int32_t* out);
// Static int8 reference: y = Σ_k xq[m,k] · wq[n,k] / (x_scale · w_scale[n]) + bias[n] (+ ReLU).
void gemm_static_ref(const std::int32_t* xq, float x_scale, const std::int8_t* wq,
                     const float* w_scales, const float* bias, float* y, std::int64_t M,
                     std::int64_t N, std::int64_t K, bool relu);

// y[M,N] = x[M,K] · w[N,K]ᵀ + bias[N] (bias may be null), then max(0, ·) when relu.
// Accumulates in double: the reference the oneDNN path is held to.
void gemm_ref(const float* x, const float* w, const float* bias, float* y, std::int64_t M,
              std::int64_t N, std::int64_t K, bool relu);
// Int8 reference: y = (Σ_k xq[m,k] · wq[n,k]) / (x_scale[m] · w_scale[n]) + bias[n] (+ ReLU);
// xq: [M,K] s8, wq: [N,K] s8.
void gemm_s8_ref(const std::int8_t* xq, const float* x_scales, const std::int8_t* wq,
                 const float* w_scales, const float* bias, float* y, std::int64_t M, std::int64_t N,
                 std::int64_t K, bool relu);

// A dense layer with weights prepared once for one compute type: quantized (int8) and reordered
// into oneDNN's blocked layout. forward() is const and may run from several threads.
class Linear {
 public:
  Linear();
  // w: [N, K] row-major (nn.Linear layout); bias: [N] or empty.
  // int8_static needs `input` (the calibrated activation quantization).
  Linear(std::span<const float> w, std::span<const float> bias, std::int64_t N, std::int64_t K,
         Compute compute, ActivationQuant input = {});
  Linear(Linear&&) noexcept;
  Linear& operator=(Linear&&) noexcept;
  ~Linear();

  // y[M, N] = x[M, K] · Wᵀ + bias (+ ReLU). x and y must not overlap.
  void forward(const float* x, std::int64_t M, float* y, bool relu = false) const;
  // int8 static only: input already quantized with input_quant() (u8; +128 shift when signed).
  void forward_u8(const std::uint8_t* xq, std::int64_t M, float* y, bool relu = false) const;
  // int8 static only: the output quantized with `out` (the next layer's input_quant()) instead
  // of written in fp32.
  void forward_to_u8(const float* x, std::int64_t M, std::uint8_t* yq, const ActivationQuant& out,
                     bool relu = false) const;
  // The output handed over a chunk of columns at a time, for a consumer that reduces each row
  // as it goes (beam search's scoring): `chunk(n0, nc, values)` gets columns [n0, n0 + nc) of
  // all M rows, values[m · nc + j] = y[m, n0 + j] (which it may change), chunk after chunk in
  // order; each chunk is `cols` wide but the last. One GEMM per chunk reads its slice of the
  // prepared weights (their blocked layout keeps a run of whole column blocks contiguous), so a
  // chunk's weights stay in cache for all M rows and the M × N output never exists at once; where
  // oneDNN's layout cannot be sliced so, all of forward() is computed first. The values equal
  // forward()'s (int8: exactly; fp32: to float rounding, the kernels may differ).
  using ChunkFn = std::function<void(std::int64_t n0, std::int64_t nc, float* values)>;
  void forward_chunks(const float* x, std::int64_t M, std::int64_t cols,
                      const ChunkFn& chunk) const;
  // Static quantization of `rows` × in_features() inputs as this layer expects them.
  void quantize_input(const float* x, std::int64_t rows, std::uint8_t* q) const;
  const ActivationQuant& input_quant() const { return input_; }

  // Calibration: called with every fp32 input forward() receives (x, M, K). Not thread-safe:
  // set it only while one thread uses the layer.
  using Observer = std::function<void(const float*, std::int64_t, std::int64_t)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  std::int64_t out_features() const { return n_; }
  std::int64_t in_features() const { return k_; }
  Compute compute() const { return compute_; }
  // Per-output-channel weight scales (int8 only; empty for fp32). The int8 weights themselves
  // are quantize_rows_ref(W) and live only in oneDNN's layout.
  const std::vector<float>& weight_scales() const;
  // Row n of W read back from oneDNN's layout (int8: Wq[n,k] / w_scale[n]), so an embedding
  // table tied to this layer needs no copy of its own. out: K floats.
  void weight_row(std::int64_t n, float* out) const;
  // The implementation that runs M rows: oneDNN's name (e.g. "brg:avx512_core_vnni") or
  // "keel:avx512_f32_panels" (fp32 decode steps, src/nmt/gemm_f32.cc).
  std::string impl_name(std::int64_t M) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::int64_t n_ = 0, k_ = 0;
  Compute compute_ = Compute::fp32;
  ActivationQuant input_;
  Observer observer_;
  void gemm_s32(const std::uint8_t* xq, std::int64_t M, std::int32_t* acc) const;
  bool uses_f32_kernel(std::int64_t M) const;  // fp32 rows go to src/nmt/gemm_f32.cc
};

namespace detail {
// Tests: false routes every fp32 Linear call to oneDNN, true (the default) lets decode-step
// sizes use the hand kernel (src/nmt/gemm_f32.cc), so each can be held to the other.
void use_f32_kernel_for_tests(bool on);
}  // namespace detail

}  // namespace keel::nmt
