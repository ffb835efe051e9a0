// Linear over oneDNN matmul: weights reordered once into the layout the kernel wants
// (format_tag::any), primitives cached per thread by shape.
#include <immintrin.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <cassert>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "gemm_f32.h"
#include "gemm_impl.h"
#include "keel/core/error.h"
#include "keel/nmt/gemm.h"
#include "quantize_detail.h"

namespace keel::nmt {

namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
using detail::Cached;
using detail::cached_primitive;
using detail::cpu_engine;
using detail::dequantize;
using detail::Key;
using detail::kParallelMin;
using detail::scratch;
using detail::thread_stream;

struct KeyHash {
  std::size_t operator()(const Key& k) const {
    std::size_t h = static_cast<std::size_t>(k.m) * 0x9e3779b97f4a7c15ull;
    h ^= static_cast<std::size_t>(k.n) + 0x7f4a7c15ull + (h << 6) + (h >> 2);
    h ^= static_cast<std::size_t>(k.k) + 0x165667b1ull + (h << 6) + (h >> 2);
    return h ^ (std::size_t{k.int8} | std::size_t{k.relu} << 1 | std::size_t{k.bias} << 2);
  }
};

// fp32: x[M,K] f32 · W[K,N] f32 + bias (+ ReLU post-op) → f32.
// int8: x[M,K] u8 · W[K,N] s8 → s32; scales, compensation, bias and ReLU come after.
dnnl::matmul::primitive_desc make_pd(const Key& key) {
  const dnnl::memory::dims src{key.m, key.k}, wei{key.k, key.n}, dst{key.m, key.n};
  const bool any = key.weights == dnnl::memory::desc();
  assert(any || key.weights.dims() == wei);
  if (key.int8) {
    dnnl::matmul::desc d({src, dt::u8, tag::ab},
                         any ? dnnl::memory::desc{wei, dt::s8, tag::any} : key.weights,
                         {dst, dt::s32, tag::ab});
    return {d, cpu_engine()};
  }
  dnnl::primitive_attr attr;
  if (key.relu) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  dnnl::memory::desc s{src, dt::f32, tag::ab}, y{dst, dt::f32, tag::ab};
  const dnnl::memory::desc w = any ? dnnl::memory::desc{wei, dt::f32, tag::any} : key.weights;
  if (key.bias) {
    dnnl::memory::desc b{{1, key.n}, dt::f32, tag::ab};
    return {dnnl::matmul::desc(s, w, b, y), attr, cpu_engine()};
  }
  return {dnnl::matmul::desc(s, w, y), attr, cpu_engine()};
}

}  // namespace

namespace detail {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// One stream per thread: parallel translation streams must not share one.
dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

const Cached& cached_primitive(const Key& key) {
  thread_local std::unordered_map<Key, Cached, KeyHash> cache;
  auto it = cache.find(key);
  if (it == cache.end()) {
    auto pd = make_pd(key);
    it = cache.emplace(key, Cached{dnnl::matmul(pd), pd.weights_desc()}).first;
  }
  return it->second;
}

}  // namespace detail

std::string gemm_backend() {
  const dnnl_version_t* v = dnnl_version();
  std::string isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::avx512_core_vnni:
      isa = "avx512_core_vnni";
      break;
    case dnnl::cpu_isa::avx512_core_bf16:
      isa = "avx512_core_bf16";
      break;
    case dnnl::cpu_isa::avx512_core_amx:
      isa = "avx512_core_amx";
      break;
    case dnnl::cpu_isa::avx512_core:
      isa = "avx512_core";
      break;
    case dnnl::cpu_isa::avx2_vnni:
      isa = "avx2_vnni";
      break;
    case dnnl::cpu_isa::avx2:
      isa = "avx2";
      break;
    default:
      isa = "other";
      break;
  }
  return "oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + ", ISA " + isa;
}

void quantize_rows_u8(const float* x, std::int64_t rows, std::int64_t cols, std::uint8_t* q,
                      float* scales) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols;
    float amax = 0.f;
#pragma omp simd reduction(max : amax)
    for (std::int64_t c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(row[c]));
    const float scale = detail::row_scale(amax);
    scales[r] = scale;
    std::uint8_t* out = q + r * cols;
#pragma omp simd
    for (std::int64_t c = 0; c < cols; ++c)
      out[c] = static_cast<std::uint8_t>(detail::round_q(row[c] * scale) + 128);
  }
}

bool Linear::uses_f32_kernel(std::int64_t M) const {
  return compute_ == Compute::fp32 && impl_->f32_kernel && M <= detail::kF32KernelMaxRows &&
         detail::f32_kernel_fits(M, k_) && detail::f32_kernel_enabled();
}

Linear::Linear() = default;
Linear::Linear(Linear&&) noexcept = default;
Linear& Linear::operator=(Linear&&) noexcept = default;
Linear::~Linear() = default;

Linear::Linear(std::span<const float> w, std::span<const float> bias, std::int64_t N,
               std::int64_t K, Compute compute, ActivationQuant input)
    : impl_(std::make_unique<Impl>()), n_(N), k_(K), compute_(compute), input_(input) {
  if (N <= 0 || K <= 0 || w.size() != static_cast<std::size_t>(N * K) ||
      (!bias.empty() && bias.size() != static_cast<std::size_t>(N)))
    throw core::Error("Linear: weight/bias sizes do not match [N, K]");
  if (compute == Compute::int8_static && !input.valid())
    throw core::Error("Linear: static int8 needs a calibrated input scale");
  if (compute != Compute::int8_static) input_ = {};
  impl_->bias.assign(bias.begin(), bias.end());
  const bool int8 = compute != Compute::fp32;
  // Unsigned static inputs are not shifted, so there is nothing to compensate.
  const std::int32_t shift = input_.is_unsigned ? 0 : 128;
  // One reorder into the layout oneDNN picks for 64 rows on this thread; every primitive that
  // reads these weights is then built for exactly that layout (Key::weights), whatever its rows
  // and threads.
  auto pd = make_pd(Key{64, N, K, int8, false, !bias.empty() && !int8});
  impl_->weights_desc = pd.weights_desc();
  impl_->weights = dnnl::memory(impl_->weights_desc, cpu_engine());
  auto& stream = thread_stream();
  if (!int8) {
    // W [N,K] row-major is the [K,N] matrix in column-major order: tag::ba.
    dnnl::memory plain({{K, N}, dt::f32, tag::ba}, cpu_engine(), const_cast<float*>(w.data()));
    dnnl::reorder(plain, impl_->weights).execute(stream, plain, impl_->weights);
  } else {
    std::vector<std::int8_t> wq(static_cast<std::size_t>(N * K));
    impl_->w_scales.resize(static_cast<std::size_t>(N));
    quantize_rows_ref(w.data(), N, K, wq.data(), impl_->w_scales.data());
    impl_->w_inv.resize(static_cast<std::size_t>(N));
    impl_->comp.resize(static_cast<std::size_t>(N));
    for (std::int64_t n = 0; n < N; ++n) {
      impl_->w_inv[n] = 1.f / impl_->w_scales[n];
      std::int32_t sum = 0;
      for (std::int64_t k = 0; k < K; ++k) sum += wq[n * K + k];
      impl_->comp[n] = shift * sum;
    }
    dnnl::memory plain({{K, N}, dt::s8, tag::ba}, cpu_engine(), wq.data());
    dnnl::reorder(plain, impl_->weights).execute(stream, plain, impl_->weights);
  }
  stream.wait();
  impl_->f32_kernel = !int8 && detail::f32_kernel_reads(impl_->weights_desc);
  impl_->k_off = detail::blocked_offsets(impl_->weights_desc, 0, K);
  impl_->n_off = detail::blocked_offsets(impl_->weights_desc, 1, N);
  for (auto& o : impl_->n_off) o -= impl_->weights_desc.data.offset0;
}

const std::vector<float>& Linear::weight_scales() const {
  return impl_->w_scales;
}

std::string Linear::impl_name(std::int64_t M) const {
  if (uses_f32_kernel(M)) return "keel:avx512_f32_panels";
  const bool int8 = compute_ != Compute::fp32;
  return make_pd(Key{M, n_, k_, int8, false, !impl_->bias.empty() && !int8, impl_->weights_desc})
      .impl_info_str();
}

void Linear::gemm_s32(const std::uint8_t* xq, std::int64_t M, std::int32_t* acc) const {
  auto& eng = cpu_engine();
  const Cached& c = cached_primitive(Key{M, n_, k_, true, false, false, impl_->weights_desc});
  assert(c.weights_desc == impl_->weights_desc);
  dnnl::memory src({{M, k_}, dt::u8, tag::ab}, eng, const_cast<std::uint8_t*>(xq));
  dnnl::memory dst({{M, n_}, dt::s32, tag::ab}, eng, acc);
  auto& stream = thread_stream();
  c.prim.execute(stream,
                 {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, impl_->weights}, {DNNL_ARG_DST, dst}});
  stream.wait();
}

namespace {

thread_local std::vector<std::uint8_t> xq_buf;
thread_local std::vector<float> xs_buf;
thread_local std::vector<std::int32_t> acc_buf;

// One output row of a static layer quantized for the next one: (acc − comp) · x_inv · w_inv + bias,
// ReLU, · s, rounded half away from zero and clamped to u8 ([0, 255], or [-127, 127] + 128). GCC
// does not vectorize the narrowing float → u8 loop, so AVX-512 does it by hand (16 at a time);
// the scalar loop is the same arithmetic for the tail and other CPUs.
// GCC 12 flags _mm512_undefined_ps() inside its own intrinsics as maybe-uninitialized.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
void requantize_row(const std::int32_t* acc, const std::int32_t* comp, const float* w_inv,
                    const float* bias, float x_inv, float floor, float s, bool is_unsigned,
                    std::int64_t N, std::uint8_t* q) {
  std::int64_t n = 0;
#if defined(__AVX512F__)
  const __m512 vx = _mm512_set1_ps(x_inv), vfloor = _mm512_set1_ps(floor), vs = _mm512_set1_ps(s);
  const __m512 lo = _mm512_set1_ps(is_unsigned ? 0.f : -127.f);
  const __m512 hi = _mm512_set1_ps(is_unsigned ? 255.f : 127.f);
  const __m512 half = _mm512_set1_ps(0.5f);
  const __m512i sign = _mm512_set1_epi32(static_cast<int>(0x80000000u));
  const __m512i shift = _mm512_set1_epi32(is_unsigned ? 0 : 128);
  for (; n + 16 <= N; n += 16) {
    __m512 v = _mm512_cvtepi32_ps(
        _mm512_sub_epi32(_mm512_loadu_si512(acc + n), _mm512_loadu_si512(comp + n)));
    const __m512 scale = _mm512_mul_ps(vx, _mm512_loadu_ps(w_inv + n));
    v = bias ? _mm512_fmadd_ps(v, scale, _mm512_loadu_ps(bias + n)) : _mm512_mul_ps(v, scale);
    v = _mm512_mul_ps(_mm512_max_ps(v, vfloor), vs);
    v = _mm512_min_ps(hi, _mm512_max_ps(lo, v));
    // + copysign(0.5, v), then truncate: round half away from zero, as detail::round_q.
    const __m512 h = _mm512_castsi512_ps(
        _mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(v), sign), _mm512_castps_si512(half)));
    const __m512i iq = _mm512_add_epi32(_mm512_cvttps_epi32(_mm512_add_ps(v, h)), shift);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + n), _mm512_cvtusepi32_epi8(iq));
  }
#endif
  for (; n < N; ++n) {
    float v = static_cast<float>(acc[n] - comp[n]) * (x_inv * w_inv[n]) + (bias ? bias[n] : 0.f);
    v = std::max(floor, v) * s;
    q[n] = static_cast<std::uint8_t>(is_unsigned ? detail::round_u(v) : detail::round_q(v) + 128);
  }
}
#pragma GCC diagnostic pop

}  // namespace

void Linear::quantize_input(const float* x, std::int64_t rows, std::uint8_t* q) const {
  assert(input_.valid());
  const std::int64_t K = k_;
  const float s = input_.scale;
  const bool is_unsigned = input_.is_unsigned;
#pragma omp parallel for schedule(static) if (rows * K > kParallelMin)
  for (std::int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * K;
    std::uint8_t* out = q + r * K;
    if (is_unsigned) {
#pragma omp simd
      for (std::int64_t c = 0; c < K; ++c)
        out[c] = static_cast<std::uint8_t>(detail::round_u(in[c] * s));
    } else {
#pragma omp simd
      for (std::int64_t c = 0; c < K; ++c)
        out[c] = static_cast<std::uint8_t>(detail::round_q(in[c] * s) + 128);
    }
  }
}

void Linear::forward_u8(const std::uint8_t* xq, std::int64_t M, float* y, bool relu) const {
  assert(impl_ && compute_ == Compute::int8_static && M >= 0);
  if (M == 0) return;
  std::int32_t* acc = scratch(acc_buf, M * n_);
  gemm_s32(xq, M, acc);
  const float x_inv = 1.f / input_.scale;
  const std::int64_t N = n_;
  dequantize(acc, M, N, &x_inv, 0, impl_->w_inv.data(), impl_->comp.data(),
             impl_->bias.empty() ? nullptr : impl_->bias.data(), relu,
             [y, N](std::int64_t m, std::int64_t n, float v) { y[m * N + n] = v; });
}

void Linear::forward_to_u8(const float* x, std::int64_t M, std::uint8_t* yq,
                           const ActivationQuant& out, bool relu) const {
  assert(impl_ && compute_ == Compute::int8_static && out.valid() && M >= 0);
  if (M == 0) return;
  if (observer_) observer_(x, M, k_);
  std::uint8_t* xq = scratch(xq_buf, M * k_);
  quantize_input(x, M, xq);
  std::int32_t* acc = scratch(acc_buf, M * n_);
  gemm_s32(xq, M, acc);
  const float x_inv = 1.f / input_.scale, s = out.scale;
  const std::int64_t N = n_;
  const float* bias = impl_->bias.empty() ? nullptr : impl_->bias.data();
  const float* w_inv = impl_->w_inv.data();
  const std::int32_t* comp = impl_->comp.data();
  const float floor = relu ? 0.f : -std::numeric_limits<float>::infinity();
#pragma omp parallel for schedule(static) if (M * N > kParallelMin)
  for (std::int64_t m = 0; m < M; ++m)
    requantize_row(acc + m * N, comp, w_inv, bias, x_inv, floor, s, out.is_unsigned, N, yq + m * N);
}

void Linear::forward(const float* x, std::int64_t M, float* y, bool relu) const {
  assert(impl_ && M >= 0);
  if (M == 0) return;
  if (observer_) observer_(x, M, k_);
  const std::int64_t N = n_, K = k_;
  if (uses_f32_kernel(M)) {
    detail::gemm_f32_panels(x, M, K, static_cast<const float*>(impl_->weights.get_data_handle()), N,
                            0, N, impl_->bias.empty() ? nullptr : impl_->bias.data(), relu, y, N);
    return;
  }
  if (compute_ == Compute::fp32) {
    auto& stream = thread_stream();
    auto& eng = cpu_engine();
    const bool has_bias = !impl_->bias.empty();
    const Cached& c = cached_primitive(Key{M, N, K, false, relu, has_bias, impl_->weights_desc});
    assert(c.weights_desc == impl_->weights_desc);
    dnnl::memory src({{M, K}, dt::f32, tag::ab}, eng, const_cast<float*>(x));
    dnnl::memory dst({{M, N}, dt::f32, tag::ab}, eng, y);
    std::unordered_map<int, dnnl::memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, impl_->weights}, {DNNL_ARG_DST, dst}};
    if (has_bias)
      args.emplace(DNNL_ARG_BIAS, dnnl::memory({{1, N}, dt::f32, tag::ab}, eng,
                                               const_cast<float*>(impl_->bias.data())));
    c.prim.execute(stream, args);
    stream.wait();
    return;
  }
  if (compute_ == Compute::int8_static) {
    std::uint8_t* xq = scratch(xq_buf, M * K);
    quantize_input(x, M, xq);
    forward_u8(xq, M, y, relu);
    return;
  }
  std::uint8_t* xq = scratch(xq_buf, M * K);
  float* xs = scratch(xs_buf, M);
  std::int32_t* acc = scratch(acc_buf, M * N);
  quantize_rows_u8(x, M, K, xq, xs);
  gemm_s32(xq, M, acc);
  // Per-row inverse scales, computed once per row rather than per element.
  for (std::int64_t m = 0; m < M; ++m) xs[m] = 1.f / xs[m];
  dequantize(acc, M, N, xs, 1, impl_->w_inv.data(), impl_->comp.data(),
             impl_->bias.empty() ? nullptr : impl_->bias.data(), relu,
             [y, N](std::int64_t m, std::int64_t n, float v) { y[m * N + n] = v; });
}

}  // namespace keel::nmt
