// conv → ReLU → max-pool with a sparse backward (sparse_pool.h). The backward kernels are
// written here because no library computes a convolution's gradients from a sparse output
// gradient; they are plain loops over the argmax pixels, accumulated in fp32.
#include "sparse_pool.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
#include <mutex>
#include <vector>

namespace keel::mcnn {

namespace {

// One pooled output with a gradient: image n, output channel c, argmax pixel (y, x), value g.
struct Hit {
  std::int64_t n, c, y, x;
  float g;
};

// The argmax pixels with a non-zero gradient. ReLU's mask at the argmax is pooled > 0: the pooled
// value is the ReLU output there.
std::vector<Hit> hits(const torch::Tensor& grad, const torch::Tensor& pooled,
                      const torch::Tensor& indices, std::int64_t width) {
  const auto g = grad.to(torch::kFloat).contiguous();
  const auto p = pooled.to(torch::kFloat).contiguous();
  const auto idx = indices.contiguous();
  const std::int64_t N = g.size(0), C = g.size(1), P = g.size(2) * g.size(3);
  const float* gp = g.data_ptr<float>();
  const float* pp = p.data_ptr<float>();
  const std::int64_t* ip = idx.data_ptr<std::int64_t>();
  std::vector<Hit> out;
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t c = 0; c < C; ++c)
      for (std::int64_t i = 0; i < P; ++i) {
        const std::int64_t at = (n * C + c) * P + i;
        if (gp[at] == 0.f || !(pp[at] > 0.f)) continue;
        out.push_back({n, c, ip[at] / width, ip[at] % width, gp[at]});
      }
  return out;
}

// Sorts hits by image, then pixel (row-major), then channel; returns where each image's hits
// start: image n's are [first[n], first[n + 1]).
std::vector<std::size_t> sort_by_pixel(std::vector<Hit>& hs, std::int64_t N) {
  std::sort(hs.begin(), hs.end(), [](const Hit& a, const Hit& b) {
    return a.n != b.n ? a.n < b.n : a.y != b.y ? a.y < b.y : a.x != b.x ? a.x < b.x : a.c < b.c;
  });
  std::vector<std::size_t> first;
  for (std::int64_t n = 0; n <= N; ++n)
    first.push_back(static_cast<std::size_t>(
        std::partition_point(hs.begin(), hs.end(), [n](const Hit& h) { return h.n < n; }) -
        hs.begin()));
  return first;
}

// dW[c, ci, ky, kx] = Σ_hits g · x[n, ci, y + ky − pad, x + kx − pad]; db[c] = Σ g. x is NHWC
// (channels_last) of type T; parallel over output channels, hits grouped by channel.
template <typename T>
void weight_grad(const std::vector<Hit>& hs, const T* x, std::int64_t H, std::int64_t W,
                 std::int64_t Cin, std::int64_t Cout, std::int64_t K, float* dw, float* db) {
  const std::int64_t pad = K / 2;
  std::vector<std::vector<const Hit*>> by_channel(static_cast<std::size_t>(Cout));
  for (const Hit& h : hs) by_channel[static_cast<std::size_t>(h.c)].push_back(&h);
  at::parallel_for(0, Cout, 1, [&](std::int64_t c0, std::int64_t c1) {
    std::vector<float> acc(static_cast<std::size_t>(K * K * Cin));  // [ky, kx, ci]
    for (std::int64_t c = c0; c < c1; ++c) {
      std::fill(acc.begin(), acc.end(), 0.f);
      double bias = 0;
      for (const Hit* h : by_channel[static_cast<std::size_t>(c)]) {
        bias += h->g;
        for (std::int64_t ky = 0; ky < K; ++ky) {
          const std::int64_t yy = h->y + ky - pad;
          if (yy < 0 || yy >= H) continue;
          for (std::int64_t kx = 0; kx < K; ++kx) {
            const std::int64_t xx = h->x + kx - pad;
            if (xx < 0 || xx >= W) continue;
            const T* px = x + ((h->n * H + yy) * W + xx) * Cin;
            float* a = acc.data() + (ky * K + kx) * Cin;
            for (std::int64_t ci = 0; ci < Cin; ++ci) a[ci] += h->g * static_cast<float>(px[ci]);
          }
        }
      }
      for (std::int64_t ci = 0; ci < Cin; ++ci)
        for (std::int64_t k = 0; k < K * K; ++k)
          dw[(c * Cin + ci) * K * K + k] = acc[static_cast<std::size_t>(k * Cin + ci)];
      db[c] = static_cast<float>(bias);
    }
  });
}

// For one image's hits [h, end) (sorted by pixel): per argmax pixel, the block Σ_c g_c · w[c]
// (K·K·C fp32, wt = w as [c, ky, kx, ci]) handed out offset by offset inside the image:
// add(y * W + x, the C values for that pixel).
template <typename Add>
void for_each_hit_block(const Hit* h, const Hit* end, const float* wt, std::int64_t H,
                        std::int64_t W, std::int64_t C, std::int64_t K, Add&& add) {
  const std::int64_t pad = K / 2;
  std::vector<float> block(static_cast<std::size_t>(K * K * C));
  while (h < end) {
    const Hit& p = *h;
    std::fill(block.begin(), block.end(), 0.f);
    for (; h < end && h->y == p.y && h->x == p.x; ++h) {
      const float* wc = wt + h->c * K * K * C;
      for (std::int64_t j = 0; j < K * K * C; ++j) block[static_cast<std::size_t>(j)] += h->g * wc[j];
    }
    for (std::int64_t ky = 0; ky < K; ++ky) {
      const std::int64_t yy = p.y + ky - pad;
      if (yy < 0 || yy >= H) continue;
      for (std::int64_t kx = 0; kx < K; ++kx) {
        const std::int64_t xx = p.x + kx - pad;
        if (xx < 0 || xx >= W) continue;
        add(yy * W + xx, block.data() + (ky * K + kx) * C);
      }
    }
  }
}

// dx[n, y + ky − pad, x + kx − pad, :] += Σ_c g_c · w[c, :, ky, kx] over the hits. Hits of one
// pixel are summed first (one fp32 block of K·K·Cin per argmax pixel, added once), so each dx
// element is rounded to T about once, as in the dense path. Parallel over images. dx is NHWC,
// zero-filled by the caller; wt is w as [c, ky, kx, ci] in fp32.
template <typename T>
void input_grad(std::vector<Hit> hs, const float* wt, std::int64_t N, std::int64_t H,
                std::int64_t W, std::int64_t Cin, std::int64_t K, T* dx) {
  const std::vector<std::size_t> first = sort_by_pixel(hs, N);
  at::parallel_for(0, N, 1, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n)
      for_each_hit_block(hs.data() + first[static_cast<std::size_t>(n)],
                         hs.data() + first[static_cast<std::size_t>(n + 1)], wt, H, W, Cin, K,
                         [&](std::int64_t q, const float* b) {
                           T* d = dx + (n * H * W + q) * Cin;
                           for (std::int64_t ci = 0; ci < Cin; ++ci)
                             d[ci] = static_cast<T>(static_cast<float>(d[ci]) + b[ci]);
                         });
  });
}

// One image's gradient at the pixels that have one: pos[r] = y * W + x and an fp32 vector of C
// values per row. Rows are found through a slot map (H * W entries, -1 where no row), so each
// pixel's contributions are summed in fp32 and rounded to the tensor's type once at the end.
struct Rows {
  std::int64_t C = 0;
  std::vector<std::int32_t> pos;
  std::vector<float> val;  // [rows, C]
};

float* row_at(Rows& r, std::vector<std::int32_t>& slot, std::int32_t q) {
  std::int32_t s = slot[static_cast<std::size_t>(q)];
  if (s < 0) {
    s = slot[static_cast<std::size_t>(q)] = static_cast<std::int32_t>(r.pos.size());
    r.pos.push_back(q);
    r.val.resize(r.val.size() + static_cast<std::size_t>(r.C), 0.f);
  }
  return r.val.data() + static_cast<std::int64_t>(s) * r.C;
}

void release(const Rows& r, std::vector<std::int32_t>& slot) {
  for (auto q : r.pos) slot[static_cast<std::size_t>(q)] = -1;
}

// The input gradient of the pooled conv from one image's hits (sorted by pixel), as rows of C
// values: the K x K blocks of input_grad, added into rows instead of a dense tensor.
Rows hits_to_rows(const Hit* h, const Hit* end, const float* wt, std::int64_t H, std::int64_t W,
                  std::int64_t C, std::int64_t K, std::vector<std::int32_t>& slot) {
  Rows out;
  out.C = C;
  for_each_hit_block(h, end, wt, H, W, C, K, [&](std::int64_t q, const float* b) {
    float* r = row_at(out, slot, static_cast<std::int32_t>(q));
    for (std::int64_t c = 0; c < C; ++c) r[c] += b[c];
  });
  return out;
}

constexpr std::int64_t kRowChunk = 2048;  // rows per GEMM: 2048 x 400 fp32 patches = 3.3 MB

// dW[c, ky, kx, ci] += Σ_rows dz[r, c] · x[y + ky − pad, x + kx − pad, ci] (x one image, NHWC of
// type T) and db[c] += Σ dz[r, c]: the patches of a chunk of rows gathered, then one GEMM — in
// T's precision, as the dense backward-weights convolution computes it (bf16 products summed in
// fp32 by oneDNN's AVX512-BF16 kernel under bf16; fp32 otherwise).
template <typename T>
void rows_weight_grad(const Rows& rows, const T* x, std::int64_t H, std::int64_t W,
                      std::int64_t Cin, std::int64_t K, torch::Tensor& dw, torch::Tensor& db) {
  const std::int64_t pad = K / 2, kkc = K * K * Cin, n = static_cast<std::int64_t>(rows.pos.size());
  const auto dtype = c10::CppTypeToScalarType<T>::value;
  torch::Tensor patches = torch::empty({kRowChunk, kkc}, torch::TensorOptions().dtype(dtype));
  for (std::int64_t r0 = 0; r0 < n; r0 += kRowChunk) {
    const std::int64_t m = std::min(kRowChunk, n - r0);
    T* P = patches.data_ptr<T>();
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t q = rows.pos[static_cast<std::size_t>(r0 + i)], y = q / W, xq = q % W;
      T* pr = P + i * kkc;
      for (std::int64_t ky = 0; ky < K; ++ky) {
        const std::int64_t yy = y + ky - pad;
        if (yy < 0 || yy >= H) {
          std::fill(pr + ky * K * Cin, pr + (ky + 1) * K * Cin, T(0));
          continue;
        }
        if (xq >= pad && xq + pad < W) {  // the whole kernel row inside: one copy
          std::copy_n(x + (yy * W + xq - pad) * Cin, K * Cin, pr + ky * K * Cin);
          continue;
        }
        for (std::int64_t kx = 0; kx < K; ++kx) {
          const std::int64_t xx = xq + kx - pad;
          T* d = pr + (ky * K + kx) * Cin;
          if (xx < 0 || xx >= W) std::fill(d, d + Cin, T(0));
          else std::copy_n(x + (yy * W + xx) * Cin, Cin, d);
        }
      }
    }
    const auto dz = torch::from_blob(const_cast<float*>(rows.val.data()) + r0 * rows.C, {m, rows.C});
    if (dtype == torch::kFloat) dw.addmm_(dz.t(), patches.narrow(0, 0, m));
    else dw.add_(dz.to(dtype).t().mm(patches.narrow(0, 0, m)).to(torch::kFloat));
    db.add_(dz.sum(0));
  }
}

// The rows' gradient one convolution further back: next[q + off] += Σ_c dz[r, c] · w[c, off, :]
// for the K x K offsets (one fp32 GEMM per chunk of rows, then a scatter into the next rows).
Rows rows_input_grad(const Rows& rows, const torch::Tensor& wmat, std::int64_t H, std::int64_t W,
                     std::int64_t Cin, std::int64_t K, std::vector<std::int32_t>& slot) {
  const std::int64_t pad = K / 2, kkc = K * K * Cin, n = static_cast<std::int64_t>(rows.pos.size());
  Rows out;
  out.C = Cin;
  out.pos.reserve(rows.pos.size() * 2);
  out.val.reserve(rows.pos.size() * 2 * static_cast<std::size_t>(Cin));
  for (std::int64_t r0 = 0; r0 < n; r0 += kRowChunk) {
    const std::int64_t m = std::min(kRowChunk, n - r0);
    const auto dz = torch::from_blob(const_cast<float*>(rows.val.data()) + r0 * rows.C, {m, rows.C});
    const torch::Tensor blocks = dz.mm(wmat);  // [m, K*K*Cin]
    const float* B = blocks.data_ptr<float>();
    for (std::int64_t i = 0; i < m; ++i) {
      const std::int64_t q = rows.pos[static_cast<std::size_t>(r0 + i)], y = q / W, xq = q % W;
      for (std::int64_t ky = 0; ky < K; ++ky) {
        const std::int64_t yy = y + ky - pad;
        if (yy < 0 || yy >= H) continue;
        for (std::int64_t kx = 0; kx < K; ++kx) {
          const std::int64_t xx = xq + kx - pad;
          if (xx < 0 || xx >= W) continue;
          float* d = row_at(out, slot, static_cast<std::int32_t>(yy * W + xx));
          const float* b = B + i * kkc + (ky * K + kx) * Cin;
          for (std::int64_t c = 0; c < Cin; ++c) d[c] += b[c];
        }
      }
    }
  }
  return out;
}

// Turns off CPU autocast inside the function: its inputs already have the dtype to run in.
struct NoAutocast {
  bool prev = at::autocast::is_cpu_enabled();
  NoAutocast() { at::autocast::set_cpu_enabled(false); }
  ~NoAutocast() { at::autocast::set_cpu_enabled(prev); }
};

class ConvReluMaxPool : public torch::autograd::Function<ConvReluMaxPool> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& w, const torch::Tensor& b, std::int64_t k) {
    NoAutocast no_autocast;
    const std::int64_t K = w.size(2);
    // max(ReLU(y)) = ReLU(max(y)): pooling first leaves ReLU to the small pooled tensor instead
    // of a pass over the full-resolution output. Where max(y) > 0 the argmax is the same pixel;
    // elsewhere the pooled value is 0 and no gradient flows (the mask below), as in the dense path.
    torch::Tensor y = torch::conv2d(x, w, b, 1, K / 2);
    auto [pooled, indices] = torch::max_pool2d_with_indices(y, {k, k}, {k, k});
    pooled.relu_();
    ctx->save_for_backward({x, w, pooled, indices});
    return pooled;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    NoAutocast no_autocast;
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &w = saved[1], &pooled = saved[2], &indices = saved[3];
    const std::int64_t N = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
    const std::int64_t Cout = w.size(0), K = w.size(2);
    const std::vector<Hit> hs = hits(grads[0], pooled, indices, W);
    const auto xl = x.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor dw = torch::empty({Cout, Cin, K, K}, torch::kFloat);
    torch::Tensor db = torch::empty({Cout}, torch::kFloat);
    torch::Tensor dx;
    AT_DISPATCH_FLOATING_TYPES_AND(
        at::kBFloat16, x.scalar_type(), "conv_relu_maxpool_backward", [&] {
          weight_grad<scalar_t>(hs, xl.data_ptr<scalar_t>(), H, W, Cin, Cout, K,
                                dw.data_ptr<float>(), db.data_ptr<float>());
          if (ctx->needs_input_grad(0)) {
            dx = torch::zeros_like(xl, torch::MemoryFormat::ChannelsLast);
            const auto wt =
                w.to(torch::kFloat).permute({0, 2, 3, 1}).contiguous();  // [c, ky, kx, ci]
            input_grad<scalar_t>(hs, wt.data_ptr<float>(), N, H, W, Cin, K,
                                 dx.data_ptr<scalar_t>());
          }
        });
    return {dx, dw.to(w.scalar_type()).contiguous(w.suggest_memory_format()),
            db.to(w.scalar_type()), torch::Tensor()};
  }
};

class ConvReluConvReluMaxPool
    : public torch::autograd::Function<ConvReluConvReluMaxPool> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& w1, const torch::Tensor& b1,
                               const torch::Tensor& w2, const torch::Tensor& b2, std::int64_t k) {
    NoAutocast no_autocast;
    const std::int64_t K = w1.size(2);
    torch::Tensor a = torch::conv2d(x, w1, b1, 1, K / 2).relu_();
    torch::Tensor y = torch::conv2d(a, w2, b2, 1, w2.size(2) / 2);
    auto [pooled, indices] = torch::max_pool2d_with_indices(y, {k, k}, {k, k});
    pooled.relu_();
    ctx->save_for_backward({x, w1, a, w2, pooled, indices});
    return pooled;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    NoAutocast no_autocast;
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &w1 = saved[1], &a = saved[2], &w2 = saved[3],
                        &pooled = saved[4], &indices = saved[5];
    const std::int64_t N = x.size(0), Cin = x.size(1), H = x.size(2), W = x.size(3);
    const std::int64_t Cmid = w1.size(0), Cout = w2.size(0), K1 = w1.size(2), K2 = w2.size(2);
    std::vector<Hit> hs = hits(grads[0], pooled, indices, W);
    const std::vector<std::size_t> first = sort_by_pixel(hs, N);
    const auto xl = x.contiguous(torch::MemoryFormat::ChannelsLast);
    const auto al = a.contiguous(torch::MemoryFormat::ChannelsLast);
    torch::Tensor dw2 = torch::empty({Cout, Cmid, K2, K2}, torch::kFloat);
    torch::Tensor db2 = torch::empty({Cout}, torch::kFloat);
    const auto w2t = w2.to(torch::kFloat).permute({0, 2, 3, 1}).contiguous();  // [c, ky, kx, ci]
    const auto w1m = w1.to(torch::kFloat).permute({0, 2, 3, 1}).contiguous().view({Cmid, K1 * K1 * Cin});
    torch::Tensor dw1 = torch::zeros({Cmid, K1 * K1 * Cin});  // [c, ky, kx, ci]
    torch::Tensor db1 = torch::zeros({Cmid});
    torch::Tensor dx;
    const bool want_dx = ctx->needs_input_grad(0);
    std::mutex mu;
    AT_DISPATCH_FLOATING_TYPES_AND(
        at::kBFloat16, x.scalar_type(), "conv_relu_conv_relu_maxpool_backward", [&] {
          weight_grad<scalar_t>(hs, al.data_ptr<scalar_t>(), H, W, Cmid, Cout, K2,
                                dw2.data_ptr<float>(), db2.data_ptr<float>());
          if (want_dx) dx = torch::zeros_like(xl, torch::MemoryFormat::ChannelsLast);
          const scalar_t* ap = al.data_ptr<scalar_t>();
          const scalar_t* xp = xl.data_ptr<scalar_t>();
          // Per image: rows of the first conv's output gradient, ReLU-masked, give its weight
          // gradient and (when asked) the input gradient's rows. GEMMs run single-threaded here.
          at::parallel_for(0, N, 1, [&](std::int64_t n0, std::int64_t n1) {
            std::vector<std::int32_t> slot(static_cast<std::size_t>(H * W), -1);
            torch::Tensor dw = torch::zeros_like(dw1), db = torch::zeros_like(db1);
            for (std::int64_t n = n0; n < n1; ++n) {
              Rows rows = hits_to_rows(hs.data() + first[static_cast<std::size_t>(n)],
                                       hs.data() + first[static_cast<std::size_t>(n + 1)],
                                       w2t.data_ptr<float>(), H, W, Cmid, K2, slot);
              release(rows, slot);
              const scalar_t* an = ap + n * H * W * Cmid;
              for (std::size_t r = 0; r < rows.pos.size(); ++r) {
                float* v = rows.val.data() + static_cast<std::int64_t>(r) * Cmid;
                const scalar_t* m = an + static_cast<std::int64_t>(rows.pos[r]) * Cmid;
                for (std::int64_t c = 0; c < Cmid; ++c)
                  if (!(static_cast<float>(m[c]) > 0.f)) v[c] = 0.f;
              }
              rows_weight_grad<scalar_t>(rows, xp + n * H * W * Cin, H, W, Cin, K1, dw, db);
              if (!want_dx) continue;
              Rows in = rows_input_grad(rows, w1m, H, W, Cin, K1, slot);
              release(in, slot);
              scalar_t* d = dx.data_ptr<scalar_t>() + n * H * W * Cin;
              for (std::size_t r = 0; r < in.pos.size(); ++r)
                for (std::int64_t c = 0; c < Cin; ++c)
                  d[static_cast<std::int64_t>(in.pos[r]) * Cin + c] =
                      static_cast<scalar_t>(in.val[r * static_cast<std::size_t>(Cin) + static_cast<std::size_t>(c)]);
            }
            std::lock_guard<std::mutex> lock(mu);
            dw1.add_(dw);
            db1.add_(db);
          });
        });
    // [c, ky, kx, ci] -> OIHW in the weight's dtype and memory format.
    torch::Tensor dw1o = dw1.view({Cmid, K1, K1, Cin}).permute({0, 3, 1, 2});
    return {dx,
            dw1o.to(w1.scalar_type()).contiguous(w1.suggest_memory_format()),
            db1.to(w1.scalar_type()),
            dw2.to(w2.scalar_type()).contiguous(w2.suggest_memory_format()),
            db2.to(w2.scalar_type()),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor conv_relu_conv_relu_maxpool(const torch::Tensor& x, const torch::Tensor& w1,
                                          const torch::Tensor& b1, const torch::Tensor& w2,
                                          const torch::Tensor& b2, std::int64_t k) {
  TORCH_CHECK(x.dim() == 4 && w1.dim() == 4 && w2.dim() == 4 && w1.size(2) == w1.size(3) &&
                  w1.size(2) % 2 == 1 && w2.size(2) == w2.size(3) && w2.size(2) % 2 == 1,
              "conv_relu_conv_relu_maxpool: x [N,C,H,W] and odd square kernels");
  TORCH_CHECK(x.scalar_type() == w1.scalar_type() && w1.scalar_type() == b1.scalar_type() &&
                  w2.scalar_type() == x.scalar_type() && b2.scalar_type() == x.scalar_type(),
              "conv_relu_conv_relu_maxpool: x, weights and biases must share a dtype");
  TORCH_CHECK(x.size(2) % k == 0 && x.size(3) % k == 0,
              "conv_relu_conv_relu_maxpool: H, W not divisible by k");
  TORCH_CHECK(x.size(2) * x.size(3) < (std::int64_t{1} << 31), "image too large for the row map");
  return ConvReluConvReluMaxPool::apply(x, w1, b1, w2, b2, k);
}

torch::Tensor conv_relu_conv_relu_maxpool_ref(const torch::Tensor& x, const torch::Tensor& w1,
                                              const torch::Tensor& b1, const torch::Tensor& w2,
                                              const torch::Tensor& b2, std::int64_t k) {
  return conv_relu_maxpool_ref(torch::relu(torch::conv2d(x, w1, b1, 1, w1.size(2) / 2)), w2, b2, k);
}

torch::Tensor conv_relu_maxpool(const torch::Tensor& x, const torch::Tensor& w,
                                const torch::Tensor& b, std::int64_t k) {
  TORCH_CHECK(x.dim() == 4 && w.dim() == 4 && w.size(2) == w.size(3) && w.size(2) % 2 == 1,
              "conv_relu_maxpool: x [N,C,H,W] and an odd square kernel");
  TORCH_CHECK(x.scalar_type() == w.scalar_type() && w.scalar_type() == b.scalar_type(),
              "conv_relu_maxpool: x, w and b must share a dtype");
  TORCH_CHECK(x.size(2) % k == 0 && x.size(3) % k == 0,
              "conv_relu_maxpool: H, W not divisible by k");
  return ConvReluMaxPool::apply(x, w, b, k);
}

namespace {

template <typename T>
T max4(T a, T b, T c, T d) {
  // As LibTorch's max-pool: a NaN anywhere in the window is the result.
  float m = static_cast<float>(a);
  for (float v : {static_cast<float>(b), static_cast<float>(c), static_cast<float>(d)})
    m = (v > m || v != v) ? v : m;
  return static_cast<T>(m);
}

}  // namespace

torch::Tensor pyramid_pool2(const torch::Tensor& x) {
  const bool fast = !x.requires_grad() && x.dim() == 4 && x.size(2) % 2 == 0 &&
                    x.size(3) % 2 == 0 && x.is_contiguous(torch::MemoryFormat::ChannelsLast) &&
                    (x.scalar_type() == torch::kFloat || x.scalar_type() == torch::kBFloat16);
  if (!fast) return torch::max_pool2d(x, {2, 2}, {2, 2});
  const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const std::int64_t OH = H / 2, OW = W / 2;
  auto out = torch::empty({N, C, OH, OW}, x.options(), torch::MemoryFormat::ChannelsLast);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "pyramid_pool2", [&] {
    const scalar_t* in = x.data_ptr<scalar_t>();
    scalar_t* o = out.data_ptr<scalar_t>();
    at::parallel_for(0, N * OH, 16, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t r = r0; r < r1; ++r) {
        const std::int64_t n = r / OH, oy = r % OH;
        const scalar_t* a = in + (n * H + 2 * oy) * W * C;
        const scalar_t* b = a + W * C;
        scalar_t* d = o + r * OW * C;
        for (std::int64_t ox = 0; ox < OW; ++ox)
          for (std::int64_t c = 0; c < C; ++c)
            d[ox * C + c] = max4(a[2 * ox * C + c], a[(2 * ox + 1) * C + c], b[2 * ox * C + c],
                                 b[(2 * ox + 1) * C + c]);
      }
    });
  });
  return out;
}

torch::Tensor conv_relu_maxpool_ref(const torch::Tensor& x, const torch::Tensor& w,
                                    const torch::Tensor& b, std::int64_t k) {
  return torch::max_pool2d(torch::relu(torch::conv2d(x, w, b, 1, w.size(2) / 2)), {k, k}, {k, k});
}

}  // namespace keel::mcnn
