// M-CNN training-step timing (LibTorch translation unit), for bench/bench_mcnn.
#include "keel/mcnn/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <torch/csrc/autograd/profiler_legacy.h>

#include "keel/train/dist.h"
#include "keel/train/torch_train.h"
#include "net.h"

namespace keel::mcnn {

StepBenchResult bench_train_steps(const StepBenchOptions& opt, const train::Comm& comm) {
  train::set_torch_threads(opt.threads);
  torch::manual_seed(opt.seed);
  McnnNet net(ModelShape{opt.height, opt.width, 13});
  if (opt.channels_last) to_channels_last(*net);
  net->set_sparse_backward(opt.sparse_backward);
  train::broadcast_parameters(*net, comm);
  train::SgdConfig sc;
  sc.lr = 1e-4;  // small: the timed steps must not diverge into NaN/denormal territory
  auto optim = train::make_sgd(*net, sc);
  train::GradientAverager averager(*net, comm, static_cast<std::size_t>(opt.bucket_mb * 1048576),
                                   /*overlap=*/true);
  torch::Tensor raw = torch::randn({opt.batch, 3, opt.height, opt.width});
  torch::Tensor y = torch::randint(0, 13, {opt.batch}, torch::kLong);

  auto step = [&] {
    optim->zero_grad();
    torch::Tensor logits;
    {
      PrecisionScope scope(opt.precision);
      // The conversion of the batch is part of the step, as in the trainer.
      logits = net->forward(model_input(raw.data_ptr<float>(), opt.batch, kInputChannels, opt.height, opt.width,
                                        opt.channels_last, opt.precision))
                   .to(torch::kFloat);
    }
    auto loss = torch::nn::functional::cross_entropy(logits, y);
    averager.begin_step();
    loss.backward();
    averager.run();
    optim->step();
  };
  for (int i = 0; i < opt.warmup; ++i) step();
  // KEEL_PROFILE=FILE: one more step under LibTorch's profiler, as a chrome://tracing JSON
  // (where the time goes per op; docs/benchmarks.md).
  if (const char* file = std::getenv("KEEL_PROFILE"); file && *file) {
    torch::autograd::profiler::RecordProfile guard(file);
    step();
  }
  StepBenchResult r;
  for (int i = 0; i < opt.steps; ++i) {
    comm.barrier();
    const auto t0 = std::chrono::steady_clock::now();
    step();
    r.step_s.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::vector<double> s = r.step_s;
  std::sort(s.begin(), s.end());
  if (!s.empty())
    r.median_s = s.size() % 2 ? s[s.size() / 2] : 0.5 * (s[s.size() / 2 - 1] + s[s.size() / 2]);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  r.peak_rss_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;
  return r;
}

}  // namespace keel::mcnn
