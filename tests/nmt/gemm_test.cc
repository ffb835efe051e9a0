// oneDNN GEMMs and the hand fp32 kernel against the reference kernels and each other on odd shapes,
// with named tolerances.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <thread>
#include <utility>

#include "keel/nmt/gemm.h"

using namespace keel::nmt;

#include "vectors.h"

using namespace keel::nmt::testing;

namespace {

// fp32 oneDNN vs the double-accumulating reference: float rounding over K terms.
constexpr float kFp32GemmTol = 1e-5f;
// int8 oneDNN vs the int8 reference: same integers, only the final scaling is ordered differently.
constexpr float kInt8GemmTol = 1e-5f;
// int8 vs fp32: quantization error, as rms(error) / rms(fp32 result).
constexpr double kInt8QuantRelRms = 0.02;

struct Shape {
  std::int64_t m, n, k;
};
// M = 1 (decoding one sentence), K not a multiple of 4 (VNNI packs 4), N odd, Transformer sizes.
const Shape kShapes[] = {{1, 1, 1},     {1, 7, 5},      {3, 19, 37},    {1, 513, 512},
                         {5, 33, 2047}, {64, 512, 512}, {17, 1001, 13}, {2, 2048, 511}};

}  // namespace

// Both fp32 paths: the hand kernel (decode-step sizes) and oneDNN (every size).
TEST(Gemm, Fp32MatchesReferenceOnOddShapes) {
  for (bool kernel : {true, false})
    for (const Shape& s : kShapes)
      for (bool relu : {false, true})
        for (bool with_bias : {false, true}) {
          auto x = randn(std::size_t(s.m * s.k), 1);
          auto w = randn(std::size_t(s.n * s.k), 2, 1.f / std::sqrt(float(s.k)));
          auto b = with_bias ? randn(std::size_t(s.n), 3) : std::vector<float>{};
          Linear lin(w, b, s.n, s.k, Compute::fp32);
          std::vector<float> y(std::size_t(s.m * s.n)), ref(y.size());
          detail::use_f32_kernel_for_tests(kernel);
          lin.forward(x.data(), s.m, y.data(), relu);
          detail::use_f32_kernel_for_tests(true);
          gemm_ref(x.data(), w.data(), with_bias ? b.data() : nullptr, ref.data(), s.m, s.n, s.k,
                   relu);
          EXPECT_LE(max_diff(y, ref), kFp32GemmTol * (1.f + max_abs(ref)))
              << "M=" << s.m << " N=" << s.n << " K=" << s.k << " relu=" << relu
              << " kernel=" << kernel;
          if (relu) {
            EXPECT_GE(*std::min_element(y.begin(), y.end()), 0.f);
          }
        }
}

TEST(Gemm, Int8MatchesInt8ReferenceOnOddShapes) {
  for (const Shape& s : kShapes)
    for (bool relu : {false, true}) {
      auto x = randn(std::size_t(s.m * s.k), 4);
      auto w = randn(std::size_t(s.n * s.k), 5, 1.f / std::sqrt(float(s.k)));
      auto b = randn(std::size_t(s.n), 6);
      Linear lin(w, b, s.n, s.k, Compute::int8_dynamic);
      std::vector<float> y(std::size_t(s.m * s.n)), ref(y.size()), ref32(y.size());
      lin.forward(x.data(), s.m, y.data(), relu);

      std::vector<std::int8_t> xq(x.size()), wq(w.size());
      std::vector<float> xs(std::size_t(s.m)), ws(std::size_t(s.n));
      quantize_rows_ref(x.data(), s.m, s.k, xq.data(), xs.data());
      quantize_rows_ref(w.data(), s.n, s.k, wq.data(), ws.data());
      EXPECT_EQ(ws, lin.weight_scales());
      gemm_s8_ref(xq.data(), xs.data(), wq.data(), ws.data(), b.data(), ref.data(), s.m, s.n, s.k,
                  relu);
      const std::string where =
          "M=" + std::to_string(s.m) + " N=" + std::to_string(s.n) + " K=" + std::to_string(s.k);
      EXPECT_LE(max_diff(y, ref), kInt8GemmTol * (1.f + max_abs(ref))) << where;

      gemm_ref(x.data(), w.data(), b.data(), ref32.data(), s.m, s.n, s.k, relu);
      double se = 0, ss = 0;
      for (std::size_t i = 0; i < y.size(); ++i) {
        se += double(y[i] - ref32[i]) * (y[i] - ref32[i]);
        ss += double(ref32[i]) * ref32[i];
      }
      if (s.k >= 8) {
        EXPECT_LE(std::sqrt(se / ss), kInt8QuantRelRms) << where;
      }
    }
}

// oneDNN picks the weights' layout by shape and by thread count (at 5 or more threads it chose
// another blocking for N = 256 than at 1): weights prepared on one thread must give the same
// products on a stream with many (keel nmt translate --threads-per-stream 8 once gave garbage).
TEST(Gemm, WeightsPreparedOnOneThreadServeAnyThreadCount) {
  const int threads = omp_get_max_threads();
  for (std::int64_t k : {256, 1024})
    for (std::int64_t m : {1, 8, 32}) {
      const std::int64_t n = 256;
      auto x = randn(std::size_t(m * k), 7);
      auto w = randn(std::size_t(n * k), 8, 1.f / std::sqrt(float(k)));
      auto b = randn(std::size_t(n), 9);
      omp_set_num_threads(1);
      Linear i8(w, b, n, k, Compute::int8_dynamic), f32(w, b, n, k, Compute::fp32);
      std::vector<std::int8_t> xq(x.size()), wq(w.size());
      const auto mn = static_cast<std::size_t>(m * n);
      std::vector<float> xs(static_cast<std::size_t>(m)), ws(static_cast<std::size_t>(n)), ref8(mn),
          ref32(mn);
      quantize_rows_ref(x.data(), m, k, xq.data(), xs.data());
      quantize_rows_ref(w.data(), n, k, wq.data(), ws.data());
      gemm_s8_ref(xq.data(), xs.data(), wq.data(), ws.data(), b.data(), ref8.data(), m, n, k,
                  false);
      gemm_ref(x.data(), w.data(), b.data(), ref32.data(), m, n, k, false);
      detail::use_f32_kernel_for_tests(false);  // the fp32 rows through oneDNN too
      for (int t : {1, 5, 8}) {
        // A thread of its own: oneDNN primitives are cached per thread, built for its threads.
        std::vector<float> y8(mn), y32(mn);
        std::thread([&] {
          omp_set_num_threads(t);
          i8.forward(x.data(), m, y8.data());
          f32.forward(x.data(), m, y32.data());
        }).join();
        const std::string where =
            "M=" + std::to_string(m) + " K=" + std::to_string(k) + " threads=" + std::to_string(t);
        EXPECT_LE(max_diff(y8, ref8), kInt8GemmTol * (1.f + max_abs(ref8))) << "int8 " << where;
        EXPECT_LE(max_diff(y32, ref32), kFp32GemmTol * (1.f + max_abs(ref32))) << "fp32 " << where;
      }
      detail::use_f32_kernel_for_tests(true);
    }
  omp_set_num_threads(threads);
}

TEST(Gemm, U8QuantizerIsTheReferenceShiftedBy128) {
  auto x = randn(7 * 45, 8);
  x[3] = 0.f;
  std::vector<float> zero_row(45, 0.f);
  x.insert(x.end(), zero_row.begin(), zero_row.end());  // an all-zero row: scale 1, all 128
  std::vector<std::int8_t> q(x.size());
  std::vector<std::uint8_t> u(x.size());
  std::vector<float> s1(8), s2(8);
  quantize_rows_ref(x.data(), 8, 45, q.data(), s1.data());
  quantize_rows_u8(x.data(), 8, 45, u.data(), s2.data());
  EXPECT_EQ(s1, s2);
  for (std::size_t i = 0; i < q.size(); ++i) ASSERT_EQ(int(u[i]), int(q[i]) + 128) << i;
  EXPECT_EQ(s1[7], 1.f);
  // Each row's largest magnitude maps to ±127.
  for (int r = 0; r < 7; ++r) {
    int top = 0;
    for (int c = 0; c < 45; ++c) top = std::max(top, std::abs(int(q[r * 45 + c])));
    EXPECT_EQ(top, 127);
  }
}

TEST(Gemm, LargeKDoesNotLoseTheCompensationToFloatRounding) {
  // K = 4096 all-positive: u8 accumulators reach ~1.3e8, beyond float's exact integers.
  const std::int64_t M = 2, N = 3, K = 4096;
  std::vector<float> x(M * K, 1.f), w(N * K, 0.5f), ref(M * N), y(M * N);
  Linear lin(w, {}, N, K, Compute::int8_dynamic);
  lin.forward(x.data(), M, y.data());
  gemm_ref(x.data(), w.data(), nullptr, ref.data(), M, N, K, false);
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_NEAR(y[i], ref[i], 1e-3f * ref[i]);
}

TEST(Gemm, UsesVnniAndAvx512Kernels) {
  auto w = randn(512 * 512, 9);
  Linear f(w, {}, 512, 512, Compute::fp32), q(w, {}, 512, 512, Compute::int8_dynamic);
  // On this project's VNNI machines the brgemm kernels must be chosen, not a reference impl.
  EXPECT_EQ(q.impl_name(64).find("ref"), std::string::npos) << q.impl_name(64);
  EXPECT_EQ(f.impl_name(1).find("ref"), std::string::npos) << f.impl_name(1);
}

// Tied embeddings read rows back out of oneDNN's blocked layout: exactly W for fp32, exactly the
// dequantized int8 weights for int8, whatever blocking oneDNN chose for the shape.
TEST(Linear, WeightRowReadsBackTheWeights) {
  const Shape shapes[] = {{1, 1, 1}, {1, 7, 5}, {1, 1001, 13}, {1, 32000, 64}, {1, 40, 512}};
  for (const Shape& s : shapes) {
    auto w = randn(std::size_t(s.n * s.k), 11);
    std::vector<std::int8_t> wq(w.size());
    std::vector<float> scales(std::size_t(s.n)), row(std::size_t(s.k));
    quantize_rows_ref(w.data(), s.n, s.k, wq.data(), scales.data());
    for (Compute c : {Compute::fp32, Compute::int8_dynamic}) {
      Linear lin(w, {}, s.n, s.k, c);
      for (std::int64_t n = 0; n < s.n; n += std::max<std::int64_t>(1, s.n / 97)) {
        lin.weight_row(n, row.data());
        for (std::int64_t k = 0; k < s.k; ++k) {
          const float want =
              c == Compute::fp32 ? w[n * s.k + k] : float(wq[n * s.k + k]) * (1.f / scales[n]);
          ASSERT_EQ(row[k], want) << "N " << s.n << " K " << s.k << " row " << n << " col " << k
                                  << " " << to_string(c);
        }
      }
    }
  }
}

// Beam search reads the output projection through forward_chunks: every column once, chunk
// after chunk in order, `cols` wide but the last, with the values forward() writes (int8: the
// same integers and scaling, so exactly; fp32: a kernel of another width, to float rounding).
constexpr float kChunkFp32Tol = 1e-6f;  // relative to max(1, |y|)

TEST(Linear, ForwardChunksHandOverForwardsColumnsInOrder) {
  std::vector<Shape> shapes(std::begin(kShapes), std::end(kShapes));
  shapes.push_back({128, 3000, 512});  // sliced: 64-column blocks, a tail of 3000 % cols
  shapes.push_back({7, 4096, 96});
  for (const Shape& s : shapes)
    for (std::int64_t cols : {64, 100, 512, 100000}) {
      auto w = randn(std::size_t(s.n * s.k), 3), b = randn(std::size_t(s.n), 4),
           x = randn(std::size_t(s.m * s.k), 5);
      // fp32 twice: once on the hand kernel, once on oneDNN's sliced weights.
      for (auto [c, kernel] : {std::pair{Compute::fp32, true},
                               {Compute::fp32, false},
                               {Compute::int8_dynamic, true},
                               {Compute::int8_static, true}}) {
        detail::use_f32_kernel_for_tests(kernel);
        const ActivationQuant in{c == Compute::int8_static ? 40.f : 0.f, false};
        Linear lin(w, b, s.n, s.k, c, in);
        std::vector<float> want(std::size_t(s.m * s.n));
        lin.forward(x.data(), s.m, want.data());
        std::int64_t next = 0, width = -1;
        lin.forward_chunks(x.data(), s.m, cols, [&](std::int64_t n0, std::int64_t nc, float* v) {
          ASSERT_EQ(n0, next) << to_string(c);
          if (width < 0) width = nc;  // cols rounded to the layout's column blocks
          ASSERT_TRUE(nc == width || n0 + nc == s.n) << n0 << " " << nc << " " << width;
          next += nc;
          for (std::int64_t m = 0; m < s.m; ++m)
            for (std::int64_t j = 0; j < nc; ++j) {
              const float y = want[std::size_t(m * s.n + n0 + j)], got = v[m * nc + j];
              if (c == Compute::fp32)
                ASSERT_NEAR(got, y, kChunkFp32Tol * std::max(1.f, std::abs(y)))
                    << "M " << s.m << " N " << s.n << " cols " << cols << " at " << m << ","
                    << n0 + j;
              else
                ASSERT_EQ(got, y) << to_string(c) << " M " << s.m << " N " << s.n << " cols "
                                  << cols << " at " << m << "," << n0 + j;
            }
        });
        EXPECT_EQ(next, s.n) << to_string(c) << " cols " << cols;
      }
    }
  detail::use_f32_kernel_for_tests(true);
}

// The hand fp32 kernel (decode steps) against oneDNN on the shapes a decoder step has and on
// odd ones: row counts around its 6-row blocks, column tails inside a 64-column panel, K padded
// to 16 and summed in runs (K > 512). On the machine it was written on both give the same bits;
// elsewhere oneDNN may order its sums differently, hence a tolerance of float rounding.
constexpr float kHandKernelFp32Tol = 1e-6f;  // relative to max(1, |y|)

TEST(Linear, HandFp32KernelAgreesWithOneDnn) {
  // Rows + two panels within 3/4 of a 1 MB L2 (the smallest this project runs on), so each of
  // these runs on the kernel wherever the build has it; greedy's fc2 (32 × 2048) does where L2
  // is larger; 256 × 4096 does nowhere (oneDNN: the rows would not stay in L2).
  const Shape shapes[] = {{1, 512, 512},   {6, 1536, 512},   {7, 2048, 512},
                          {40, 64, 1040},  {128, 1000, 512}, {131, 77, 37},
                          {5, 3000, 1024}, {32, 512, 2048},  {256, 64, 4096}};
  for (const Shape& s : shapes)
    for (bool relu : {false, true})
      for (bool with_bias : {false, true}) {
        auto x = randn(std::size_t(s.m * s.k), 21);
        auto w = randn(std::size_t(s.n * s.k), 22, 1.f / std::sqrt(float(s.k)));
        auto b = with_bias ? randn(std::size_t(s.n), 23) : std::vector<float>{};
        Linear lin(w, b, s.n, s.k, Compute::fp32);
#if defined(__AVX512F__)
        if (s.k <= 1040) {
          EXPECT_EQ(lin.impl_name(s.m), "keel:avx512_f32_panels");
        }
#endif
        if (s.k == 4096) {
          EXPECT_EQ(lin.impl_name(s.m).rfind("keel:", 0), std::string::npos);
        }
        std::vector<float> fast(std::size_t(s.m * s.n)), ref(fast.size());
        lin.forward(x.data(), s.m, fast.data(), relu);
        detail::use_f32_kernel_for_tests(false);
        EXPECT_EQ(lin.impl_name(s.m).rfind("keel:", 0), std::string::npos);
        lin.forward(x.data(), s.m, ref.data(), relu);
        detail::use_f32_kernel_for_tests(true);
        std::size_t differ = 0;
        for (std::size_t i = 0; i < ref.size(); ++i) {
          ASSERT_NEAR(fast[i], ref[i], kHandKernelFp32Tol * std::max(1.f, std::abs(ref[i])))
              << "M " << s.m << " N " << s.n << " K " << s.k << " at " << i;
          differ += fast[i] != ref[i];
        }
        if (differ)
          std::printf("M %ld N %ld K %ld: %zu of %zu sums rounded differently\n", long(s.m),
                      long(s.n), long(s.k), differ, ref.size());
      }
}
