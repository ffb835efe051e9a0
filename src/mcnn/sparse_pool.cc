// conv → ReLU → max-pool with a sparse backward (sparse_pool.h). The backward kernels are
// written here because no library computes a convolution's gradients from a sparse output
// gradient; they are plain loops over the argmax pixels, accumulated in fp32.
#include "sparse_pool.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <algorithm>
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

// dx[n, y + ky − pad, x + kx − pad, :] += Σ_c g_c · w[c, :, ky, kx] over the hits. Hits of one
// pixel are summed first (one fp32 block of K·K·Cin per argmax pixel, added once), so each dx
// element is rounded to T about once, as in the dense path. Parallel over images. dx is NHWC,
// zero-filled by the caller; wt is w as [c, ky, kx, ci] in fp32.
template <typename T>
void input_grad(std::vector<Hit> hs, const float* wt, std::int64_t N, std::int64_t H,
                std::int64_t W, std::int64_t Cin, std::int64_t K, T* dx) {
  const std::int64_t pad = K / 2;
  std::sort(hs.begin(), hs.end(), [](const Hit& a, const Hit& b) {
    return a.n != b.n ? a.n < b.n : a.y != b.y ? a.y < b.y : a.x != b.x ? a.x < b.x : a.c < b.c;
  });
  std::vector<std::size_t> first;  // hits of image n: [first[n], first[n + 1])
  for (std::int64_t n = 0; n <= N; ++n)
    first.push_back(static_cast<std::size_t>(
        std::partition_point(hs.begin(), hs.end(), [n](const Hit& h) { return h.n < n; }) -
        hs.begin()));
  at::parallel_for(0, N, 1, [&](std::int64_t n0, std::int64_t n1) {
    std::vector<float> block(static_cast<std::size_t>(K * K * Cin));
    for (std::int64_t n = n0; n < n1; ++n) {
      const std::size_t end = first[static_cast<std::size_t>(n + 1)];
      for (std::size_t i = first[static_cast<std::size_t>(n)]; i < end;) {
        const Hit& p = hs[i];
        std::fill(block.begin(), block.end(), 0.f);
        for (; i < end && hs[i].y == p.y && hs[i].x == p.x; ++i) {
          const float g = hs[i].g;
          const float* wc = wt + hs[i].c * K * K * Cin;
          for (std::int64_t j = 0; j < K * K * Cin; ++j)
            block[static_cast<std::size_t>(j)] += g * wc[j];
        }
        for (std::int64_t ky = 0; ky < K; ++ky) {
          const std::int64_t yy = p.y + ky - pad;
          if (yy < 0 || yy >= H) continue;
          for (std::int64_t kx = 0; kx < K; ++kx) {
            const std::int64_t xx = p.x + kx - pad;
            if (xx < 0 || xx >= W) continue;
            T* d = dx + ((n * H + yy) * W + xx) * Cin;
            const float* b = block.data() + (ky * K + kx) * Cin;
            for (std::int64_t ci = 0; ci < Cin; ++ci)
              d[ci] = static_cast<T>(static_cast<float>(d[ci]) + b[ci]);
          }
        }
      }
    }
  });
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

}  // namespace

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

torch::Tensor conv_relu_maxpool_ref(const torch::Tensor& x, const torch::Tensor& w,
                                    const torch::Tensor& b, std::int64_t k) {
  return torch::max_pool2d(torch::relu(torch::conv2d(x, w, b, 1, w.size(2) / 2)), {k, k}, {k, k});
}

}  // namespace keel::mcnn
