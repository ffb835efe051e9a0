// The only LibTorch translation unit of keel_train (each one costs ~25 s to compile).
#include "keel/train/torch_train.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "keel/core/atomic_file.h"
#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/train/dist.h"

namespace keel::train {

void set_torch_threads(int threads) {
  torch::set_num_threads(std::max(1, threads));
  static std::once_flag once;  // inter-op threads can only be set before first use
  std::call_once(once, [] { torch::set_num_interop_threads(1); });
}

namespace {

// torch::optim::SGD with its update fused into one pass per parameter: LibTorch's step runs four
// tensor ops per parameter (weight decay, momentum, Nesterov, update), each a full pass over the
// 170 MB of M-CNN's parameters and one of them into a fresh temporary (slow first touches on this
// VM); this reads p, grad and the momentum buffer once and writes p and the buffer once. Same
// state (SGDParamState's momentum_buffer), so checkpoints are LibTorch's; the same operations in
// the same order (fused multiply-adds as ATen's alpha-scaled adds); parameters it cannot fuse
// (not fp32, or gradient strides unlike the parameter's) make the whole step LibTorch's.
class FusedSgd : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;

  torch::Tensor step(LossClosure closure = nullptr) override {
    // All or nothing: one parameter the fused pass cannot take hands the whole step to
    // LibTorch's SGD, so there is no second copy of its update rule here.
    fallbacks_ = 0;
    for (auto& group : param_groups_)
      for (auto& p : group.params())
        if (p.grad().defined() && !fusable(p, group)) ++fallbacks_;
    if (fallbacks_ > 0) return torch::optim::SGD::step(std::move(closure));
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    for (auto& group : param_groups_) {
      const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        const auto key = c10::guts::to_string(p.unsafeGetTensorImpl());
        auto it = state_.find(key);
        const bool first = it == state_.end();
        if (first) {
          auto st = std::make_unique<torch::optim::SGDParamState>();
          st->momentum_buffer(torch::empty_like(p));
          it = state_.emplace(key, std::move(st)).first;
        }
        torch::Tensor buf =
            static_cast<torch::optim::SGDParamState&>(*it->second).momentum_buffer();
        fused_update(p.data_ptr<float>(), p.grad().data_ptr<float>(), buf.data_ptr<float>(),
                     p.numel(), static_cast<float>(o.lr()), static_cast<float>(o.momentum()),
                     static_cast<float>(o.weight_decay()), o.nesterov(), first);
      }
    }
    return loss;
  }
  std::int64_t fallbacks() const { return fallbacks_; }

 private:
  std::int64_t fallbacks_ = 0;

  bool fusable(const torch::Tensor& p, const torch::optim::OptimizerParamGroup& group) const {
    const auto& o = static_cast<const torch::optim::SGDOptions&>(group.options());
    const torch::Tensor& g = p.grad();
    if (p.scalar_type() != torch::kFloat || g.scalar_type() != torch::kFloat ||
        !p.is_non_overlapping_and_dense() || !same_order(g, p) || o.momentum() == 0 ||
        o.dampening() != 0)
      return false;
    auto it = state_.find(c10::guts::to_string(p.unsafeGetTensorImpl()));
    return it == state_.end() ||
           same_order(static_cast<const torch::optim::SGDParamState&>(*it->second).momentum_buffer(),
                      p);
  }

  // Element i of a's memory is element i of b's: the same sizes and, where a dimension has more
  // than one element, the same strides (a [1024,208,1,1] gradient may come back from oneDNN with
  // channels_last strides on its size-1 dimensions while the weight has contiguous ones).
  static bool same_order(const torch::Tensor& a, const torch::Tensor& b) {
    if (a.sizes() != b.sizes() || !a.is_non_overlapping_and_dense()) return false;
    for (std::int64_t d = 0; d < a.dim(); ++d)
      if (a.size(d) > 1 && a.stride(d) != b.stride(d)) return false;
    return true;
  }

  static void fused_update(float* p, const float* g, float* b, std::int64_t n, float lr, float m,
                           float wd, bool nesterov, bool first) {
    at::parallel_for(0, n, 1 << 16, [&](std::int64_t i0, std::int64_t i1) {
      for (std::int64_t i = i0; i < i1; ++i) {
        const float d = wd != 0.f ? std::fma(wd, p[i], g[i]) : g[i];  // grad.add(p, wd)
        const float bi = first ? d : b[i] * m + d;                    // buf.mul_(m).add_(d)
        b[i] = bi;
        const float step = nesterov ? std::fma(m, bi, d) : bi;  // d.add(buf, m)
        p[i] = std::fma(-lr, step, p[i]);                       // p.add_(step, -lr)
      }
    });
  }
};

}  // namespace

std::unique_ptr<torch::optim::Optimizer> make_sgd(torch::nn::Module& model, const SgdConfig& cfg) {
  auto opts = torch::optim::SGDOptions(cfg.lr)
                  .momentum(cfg.momentum)
                  .weight_decay(cfg.weight_decay)
                  .nesterov(cfg.nesterov);
  if (cfg.fused) return std::make_unique<FusedSgd>(model.parameters(), opts);
  return std::make_unique<torch::optim::SGD>(model.parameters(), opts);
}

std::int64_t sgd_fallbacks(const torch::optim::Optimizer& opt) {
  const auto* f = dynamic_cast<const FusedSgd*>(&opt);
  return f ? f->fallbacks() : -1;
}

void set_sgd_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups())
    static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
}

std::unique_ptr<torch::optim::Optimizer> make_adam(torch::nn::Module& model,
                                                   const AdamConfig& cfg) {
  auto opts = torch::optim::AdamOptions(cfg.lr)
                  .betas({cfg.beta1, cfg.beta2})
                  .eps(cfg.eps)
                  .weight_decay(cfg.weight_decay);
  return std::make_unique<torch::optim::Adam>(model.parameters(), opts);
}

void set_lr(torch::optim::Optimizer& opt, double lr) {
  for (auto& group : opt.param_groups()) group.options().set_lr(lr);
}

double clip_grad_norm(torch::nn::Module& model, double max_norm) {
  if (max_norm <= 0) {
    double sq = 0;
    for (const auto& p : model.parameters())
      if (p.grad().defined()) sq += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
    return std::sqrt(sq);
  }
  return torch::nn::utils::clip_grad_norm_(model.parameters(), max_norm);
}

void broadcast_parameters(torch::nn::Module& model, const Comm& comm, int root) {
  if (comm.size() == 1) return;
  torch::NoGradGuard no_grad;
  auto send = [&](torch::Tensor t) {
    // A contiguous fp32 copy travels; the original keeps its memory format.
    torch::Tensor c = t.to(torch::kFloat).contiguous();
    comm.broadcast(c.data_ptr<float>(), static_cast<std::size_t>(c.numel()), root);
    t.copy_(c);
  };
  for (auto& p : model.parameters()) send(p);
  for (auto& b : model.buffers()) send(b);
}

struct GradientAverager::Params {
  std::vector<torch::Tensor> tensors;  // in bucket order: last parameter first
  std::vector<unsigned> hooks;         // hook handles (overlap)
  std::thread::id owner;               // MPI is FUNNELED: only this thread may start reductions
};

GradientAverager::GradientAverager(torch::nn::Module& model, const Comm& comm,
                                   std::size_t bucket_bytes, bool overlap)
    : params_(std::make_unique<Params>()), comm_(comm), overlap_(overlap && comm.size() > 1) {
  auto ps = model.parameters();
  params_->tensors.assign(ps.rbegin(), ps.rend());
  std::size_t bytes = 0, largest = 0, cur = 0;
  for (std::size_t i = 0; i < params_->tensors.size(); ++i) {
    std::size_t b = static_cast<std::size_t>(params_->tensors[i].numel()) * sizeof(float);
    if (i == 0 || bytes >= bucket_bytes) {
      bucket_first_.push_back(i);
      largest = std::max(largest, cur);
      bytes = cur = 0;
    }
    bytes += b;
    cur += b / sizeof(float);
  }
  largest = std::max(largest, cur);
  if (!overlap_) {
    if (comm.size() > 1) buffer_.resize(largest);
    return;
  }
  // Overlap: every parameter has its own slot in one buffer, so buckets can be in flight together.
  const auto& ts = params_->tensors;
  std::size_t off = 0;
  for (std::size_t i = 0, b = 0; i < ts.size(); ++i) {
    if (b + 1 < bucket_first_.size() && i == bucket_first_[b + 1]) ++b;
    bucket_of_.push_back(b);
    offset_.push_back(off);
    off += static_cast<std::size_t>(ts[i].numel());
  }
  buffer_.resize(off);
  copied_.assign(ts.size(), 0);
  missing_.assign(bucket_first_.size(), 0);
  params_->owner = std::this_thread::get_id();
  for (std::size_t i = 0; i < ts.size(); ++i) {
    torch::Tensor p = ts[i];
    params_->hooks.push_back(p.register_hook([this, i](torch::Tensor g) { on_grad(i, &g); }));
  }
}

GradientAverager::~GradientAverager() {
  // Outstanding reductions write into buffer_: finish them before it goes away.
  if (overlap_) comm_.wait_all();
  for (std::size_t i = 0; i < params_->hooks.size(); ++i)
    params_->tensors[i].remove_hook(params_->hooks[i]);
}

void GradientAverager::begin_step() {
  if (!overlap_) return;
  armed_ = true;
  next_bucket_ = 0;
  std::fill(copied_.begin(), copied_.end(), 0);
  for (std::size_t b = 0; b < bucket_first_.size(); ++b) {
    std::size_t last =
        b + 1 < bucket_first_.size() ? bucket_first_[b + 1] : params_->tensors.size();
    missing_[b] = last - bucket_first_[b];
  }
}

void GradientAverager::on_grad(std::size_t i, const void* grad) {
  if (!armed_ || copied_[i]) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor& g = *static_cast<const torch::Tensor*>(grad);
  const torch::Tensor& p = params_->tensors[i];
  torch::from_blob(buffer_.data() + offset_[i], p.sizes()).copy_(g);
  copied_[i] = 1;
  --missing_[bucket_of_[i]];
  if (std::this_thread::get_id() == params_->owner) start_ready_buckets();
}

void GradientAverager::start_ready_buckets() {
  // In bucket order on every rank (MPI matches collectives by order), however the hooks ran.
  while (next_bucket_ < bucket_first_.size() && missing_[next_bucket_] == 0) {
    std::size_t b = next_bucket_++;
    std::size_t first = bucket_first_[b];
    std::size_t last =
        b + 1 < bucket_first_.size() ? bucket_first_[b + 1] : params_->tensors.size();
    std::size_t end = last < offset_.size() ? offset_[last] : buffer_.size();
    comm_.iallreduce_sum(buffer_.data() + offset_[first], end - offset_[first]);
  }
  comm_.progress();
}

void GradientAverager::run() {
  if (comm_.size() == 1) return;
  if (overlap_ && armed_) {
    started_in_backward_ = next_bucket_;
    torch::NoGradGuard no_grad;
    auto& ts = params_->tensors;
    // Parameters backward did not reach (unused in this step) contribute their .grad or zeros.
    for (std::size_t i = 0; i < ts.size(); ++i) {
      if (copied_[i]) continue;
      torch::Tensor slot = torch::from_blob(buffer_.data() + offset_[i], ts[i].sizes());
      if (ts[i].grad().defined())
        slot.copy_(ts[i].grad());
      else
        slot.zero_();
      copied_[i] = 1;
      --missing_[bucket_of_[i]];
    }
    start_ready_buckets();
    comm_.wait_all();
    armed_ = false;
    const float inv = 1.0f / static_cast<float>(comm_.size());
    for (std::size_t i = 0; i < ts.size(); ++i) {
      auto& g = ts[i].mutable_grad();
      torch::Tensor slot = torch::from_blob(buffer_.data() + offset_[i], ts[i].sizes());
      if (!g.defined()) g = torch::zeros_like(ts[i]);
      g.copy_(slot).mul_(inv);
    }
    return;
  }
  torch::NoGradGuard no_grad;
  auto& ts = params_->tensors;
  const float inv = 1.0f / static_cast<float>(comm_.size());
  for (std::size_t b = 0; b < bucket_first_.size(); ++b) {
    std::size_t first = bucket_first_[b];
    std::size_t last = b + 1 < bucket_first_.size() ? bucket_first_[b + 1] : ts.size();
    torch::Tensor flat =
        torch::from_blob(buffer_.data(), {static_cast<std::int64_t>(buffer_.size())});
    std::int64_t off = 0;
    for (std::size_t i = first; i < last; ++i) {
      auto& g = ts[i].mutable_grad();
      if (!g.defined()) g = torch::zeros_like(ts[i]);
      flat.narrow(0, off, g.numel()).view(g.sizes()).copy_(g);
      off += g.numel();
    }
    comm_.allreduce_sum(buffer_.data(), static_cast<std::size_t>(off));
    off = 0;
    for (std::size_t i = first; i < last; ++i) {
      auto& g = ts[i].mutable_grad();
      g.copy_(flat.narrow(0, off, g.numel()).view(g.sizes())).mul_(inv);
      off += g.numel();
    }
  }
}

namespace {

void write_meta(torch::serialize::OutputArchive& ar, const CheckpointMeta& m) {
  ar.write("epoch", torch::tensor(m.epoch, torch::kLong));
  ar.write("step", torch::tensor(m.step, torch::kLong));
  ar.write("seed", torch::tensor(static_cast<std::int64_t>(m.seed), torch::kLong));
  ar.write("extra_json", c10::IValue(m.extra_json));
}

CheckpointMeta read_meta(torch::serialize::InputArchive& ar) {
  CheckpointMeta m;
  torch::Tensor t;
  ar.read("epoch", t);
  m.epoch = t.item<std::int64_t>();
  ar.read("step", t);
  m.step = t.item<std::int64_t>();
  ar.read("seed", t);
  m.seed = static_cast<std::uint64_t>(t.item<std::int64_t>());
  c10::IValue v;
  ar.read("extra_json", v);
  m.extra_json = v.toStringRef();
  return m;
}

torch::serialize::InputArchive open_archive(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file))
    throw core::InputError("checkpoint not found", {file.string(), 0, 0, {}});
  // The checksum first: a damaged file is refused before LibTorch parses any of it.
  bool legacy = false;
  std::istringstream payload(core::read_sealed_file(file, "checkpoint", &legacy));
  if (legacy)
    core::log_warn("{}: written by a keel without checkpoint checksums: loading it unchecked",
                   file.string());
  torch::serialize::InputArchive ar;
  try {
    ar.load_from(payload);
  } catch (const c10::Error& e) {
    throw core::InputError("not a keel checkpoint (unreadable archive)", {file.string(), 0, 0, {}});
  }
  return ar;
}

}  // namespace

void save_checkpoint(const std::filesystem::path& file, torch::nn::Module& model,
                     torch::optim::Optimizer& opt, const CheckpointMeta& meta) {
  torch::serialize::OutputArchive ar, model_ar, opt_ar;
  model.save(model_ar);
  opt.save(opt_ar);
  ar.write("model", model_ar);
  ar.write("optimizer", opt_ar);
  write_meta(ar, meta);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    ar.write("torch_rng", gen.get_state());
  }
  std::ostringstream bytes;
  ar.save_to(bytes);
  core::write_sealed_file(file, bytes.str());
}

CheckpointMeta load_checkpoint(const std::filesystem::path& file, torch::nn::Module& model,
                               torch::optim::Optimizer* opt) {
  auto ar = open_archive(file);
  CheckpointMeta meta;
  // Module::load replaces tensors without checking shapes: remember them and compare.
  std::vector<std::vector<std::int64_t>> shapes;
  for (const auto& p : model.parameters()) shapes.push_back(p.sizes().vec());
  try {
    meta = read_meta(ar);
    torch::serialize::InputArchive model_ar;
    ar.read("model", model_ar);
    model.load(model_ar);
    if (opt) {
      torch::serialize::InputArchive opt_ar;
      ar.read("optimizer", opt_ar);
      opt->load(opt_ar);
    }
    torch::Tensor rng;
    ar.read("torch_rng", rng);
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw core::InputError("checkpoint does not fit this model: " + what.substr(0, what.find('\n')),
                           {file.string(), 0, 0, {}});
  }
  auto ps = model.parameters();
  for (std::size_t i = 0; i < ps.size(); ++i)
    if (ps[i].sizes().vec() != shapes[i])
      throw core::InputError("checkpoint was written for another model shape (input size?)",
                             {file.string(), 0, 0, {}});
  return meta;
}

CheckpointMeta read_checkpoint_meta(const std::filesystem::path& file) {
  auto ar = open_archive(file);
  try {
    return read_meta(ar);
  } catch (const c10::Error&) {
    throw core::InputError("not a keel checkpoint (no metadata)", {file.string(), 0, 0, {}});
  }
}

ParamFingerprint fingerprint(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  ParamFingerprint f;
  for (const auto& p : model.parameters()) {
    auto d = p.to(torch::kDouble);
    f.sum += d.sum().item<double>();
    f.l2 += d.pow(2).sum().item<double>();
  }
  f.l2 = std::sqrt(f.l2);
  return f;
}

}  // namespace keel::train
