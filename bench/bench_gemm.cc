// keel's fp32 decode-step GEMM (src/nmt/gemm_f32.cc) against oneDNN's, side by side in one run:
//  1. the GEMMs of one decoder step of Transformer-base (6 layers: q/k/v, self-out, cross-q,
//     cross-out, fc1 + ReLU, fc2; then the 32 000-column projection in 512-column chunks), for
//     32 rows (greedy, batch 32) and 128 rows (beam 4), on two threads at once, each with its own
//     weights (~240 MB each, so they come from memory as in a real step). The two paths take
//     turns phase by phase; the median step of each is shown, with GFLOP/s and the ratio.
//  2. the nmt speed workload (random Transformer-base, 256 sentences, 32 target tokens, batch 32,
//     2 streams x 1 thread) in paired slices: each slice translated with the kernel on and off in
//     turn (nmt::paired_slices), greedy and beam 4: the time ratio of the whole translation.
//
// Flags: --steps N (per phase, default 20), --phases N (per path, default 5), --repeat N (slice
// passes, default 2), --no-translate (part 1 only).
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "keel/nmt/bench.h"
#include "keel/nmt/gemm.h"
#include "keel/nmt/model.h"

using namespace keel::nmt;

namespace {

constexpr std::int64_t kD = 512, kFfn = 2048, kVocab = 32000, kLayers = 6, kChunk = 512;

struct Layer {
  std::int64_t n, k;
  bool relu;
  Linear lin;
};

std::vector<Layer> decoder_layers(std::uint64_t seed) {
  std::mt19937 rng(static_cast<std::uint32_t>(seed));
  std::normal_distribution<float> nd(0.f, 0.05f);
  auto make = [&](std::int64_t n, std::int64_t k, bool relu) {
    std::vector<float> w(static_cast<std::size_t>(n * k)), b(static_cast<std::size_t>(n));
    for (auto& v : w) v = nd(rng);
    for (auto& v : b) v = nd(rng);
    return Layer{n, k, relu, Linear(w, b, n, k, Compute::fp32)};
  };
  std::vector<Layer> layers;
  for (int l = 0; l < kLayers; ++l) {
    layers.push_back(make(3 * kD, kD, false));
    layers.push_back(make(kD, kD, false));
    layers.push_back(make(kD, kD, false));
    layers.push_back(make(kD, kD, false));
    layers.push_back(make(kFfn, kD, true));
    layers.push_back(make(kD, kFfn, false));
  }
  layers.push_back(make(kVocab, kD, false));  // the projection, run in chunks
  return layers;
}

double step_flops(std::int64_t M) {
  return 2.0 * double(M) * double(kLayers * (6 * kD * kD + 2 * kD * kFfn) + kVocab * kD);
}

// One decoder step's GEMMs on `rows` rows (inputs are fixed random rows; values do not matter).
void step(const std::vector<Layer>& layers, std::int64_t M, const std::vector<float>& x,
          std::vector<float>& y, float& sink) {
  for (std::size_t i = 0; i + 1 < layers.size(); ++i)
    layers[i].lin.forward(x.data(), M, y.data(), layers[i].relu);
  layers.back().lin.forward_chunks(
      x.data(), M, kChunk, [&](std::int64_t, std::int64_t nc, float* v) { sink += v[nc - 1]; });
}

void standalone(int steps, int phases) {
  for (std::int64_t M : {32, 128}) {
    std::vector<double> t_kernel, t_onednn;
    std::barrier sync(2);
    std::mutex mu;
    auto worker = [&](int id) {
      omp_set_num_threads(1);
      const auto layers = decoder_layers(100 + static_cast<std::uint64_t>(id));
      std::vector<float> x(static_cast<std::size_t>(M * kFfn), 0.25f),
          y(static_cast<std::size_t>(M * kFfn));
      float sink = 0;
      for (int p = 0; p < 2 * phases; ++p) {
        const bool kernel = p % 4 == 0 || p % 4 == 3;  // ABBA
        sync.arrive_and_wait();
        if (id == 0) detail::use_f32_kernel_for_tests(kernel);
        sync.arrive_and_wait();
        step(layers, M, x, y, sink);  // the phase's first step pays the switch: untimed
        for (int s = 0; s < steps; ++s) {
          const auto t0 = std::chrono::steady_clock::now();
          step(layers, M, x, y, sink);
          const double t =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          std::lock_guard lock(mu);
          (kernel ? t_kernel : t_onednn).push_back(t);
        }
      }
      if (sink == 12345.f) std::puts("");  // keep the work
    };
    std::thread a(worker, 0), b(worker, 1);
    a.join();
    b.join();
    detail::use_f32_kernel_for_tests(true);
    auto median = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      return v[v.size() / 2];
    };
    const double k = median(t_kernel), o = median(t_onednn);
    fmt::print(
        "{:>4} rows: keel kernel {:7.2f} ms/step {:6.1f} GFLOP/s | oneDNN {:7.2f} ms/step {:6.1f} "
        "GFLOP/s | "
        "kernel / oneDNN time {:.3f}\n",
        M, 1e3 * k, step_flops(M) / k / 1e9, 1e3 * o, step_flops(M) / o / 1e9, k / o);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 20, phases = 5, repeat = 2;
  bool translate = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::max(1, std::stoi(argv[++i])) : 1; };
    if (a == "--steps")
      steps = next();
    else if (a == "--phases")
      phases = next();
    else if (a == "--repeat")
      repeat = next();
    else if (a == "--no-translate")
      translate = false;
    else {
      std::fprintf(stderr, "bench_gemm: unknown flag '%s' (see the comment at the top)\n",
                   a.c_str());
      return 2;
    }
  }
  fmt::print("machine: {}\n", bench_machine());
  fmt::print(
      "decoder-step GEMMs of Transformer-base (6 layers + 32000-column projection in {}-column "
      "chunks), 2 threads at once, own weights each; {} phases x {} steps per path, medians:\n",
      kChunk, 2 * phases, steps);
  standalone(steps, phases);
  if (!translate) return 0;
  BenchSettings s;
  s.batch = 32;
  s.repeat = repeat;
  s.streams = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  fmt::print(
      "\ntranslation: random Transformer-base, {} sentences of {}-{} tokens, {} target tokens, "
      "batch {}, {} streams x 1 thread (pinned), fp32; paired slices, {} passes:\n",
      s.sentences, s.min_len, s.max_len, s.target_len, s.batch, s.streams, s.repeat);
  auto make = [] { return random_model(preset_config(Preset::base), 1); };
  for (int beam : {1, 4}) {
    const RatioSummary q = paired_slices(
        make, Compute::fp32, s, SliceSide{beam, [] { detail::use_f32_kernel_for_tests(true); }},
        SliceSide{beam, [] { detail::use_f32_kernel_for_tests(false); }});
    fmt::print("{}: keel kernel / oneDNN time {:.3f} (slices {:.3f}-{:.3f})\n",
               beam == 1 ? "greedy" : "beam 4", q.value, q.min, q.max);
  }
  return 0;
}
