// keel nmt benchmark (the speed workload): random Transformer-base, 256 source sentences of 10-40
// tokens, greedy, exactly 32 target tokens each (min = max decoding length); fp32, int8 (static,
// calibrated (99.999th percentile) on 64 other random sentences) and int8-dynamic side by side, each in a
// forked child so its peak RSS is its own; then the same model in Debian's PyTorch
// (bench/pytorch_nmt.py under /usr/bin/python3) when it is installed, in the same run.
//
// Flags: --quick (32 sentences), --sentences N, --batch N (max batch size, default 64),
// --streams N (default: cores), --threads-per-stream N (default 1), --repeat N (default 1; the
// median run is reported), --no-torch (skip the PyTorch comparison).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include "keel/nmt/bench.h"

using namespace keel::nmt;

namespace {

// Runs the PyTorch reference on the same model file and workload; returns its tok/s (0 when
// PyTorch is not installed or the run fails).
double pytorch_tok_per_s(const std::filesystem::path& model, const BenchSettings& s, int threads) {
  const std::string script = std::string(KEEL_SOURCE_DIR) + "/bench/pytorch_nmt.py";
  if (std::system("/usr/bin/python3 -c 'import torch' 2>/dev/null") != 0) return 0;
  const std::string cmd = fmt::format(
      "/usr/bin/python3 {} --model {} --sentences {} --min-len {} --max-len {} --target-len {} "
      "--batch {} --threads {} --seed {}",
      script, model.string(), s.sentences, s.min_len, s.max_len, s.target_len, s.batch, threads,
      s.seed);
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return 0;
  double tok = 0;
  char line[512];
  while (std::fgets(line, sizeof line, p)) {
    std::fputs(line, stdout);
    std::sscanf(line, "pytorch tok/s: %lf", &tok);
  }
  return pclose(p) == 0 ? tok : 0;
}

}  // namespace

int main(int argc, char** argv) {
  BenchSettings s;
  bool torch = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::stoi(argv[++i]) : 0; };
    if (a == "--quick")
      s.sentences = 32;
    else if (a == "--sentences")
      s.sentences = next();
    else if (a == "--batch")
      s.batch = next();
    else if (a == "--streams")
      s.streams = next();
    else if (a == "--threads-per-stream")
      s.threads_per_stream = next();
    else if (a == "--repeat")
      s.repeat = std::max(1, next());
    else if (a == "--no-torch")
      torch = false;
    else {
      std::fprintf(stderr, "bench_nmt: unknown flag '%s' (see the comment at the top)\n",
                   a.c_str());
      return 2;
    }
  }
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (s.streams <= 0) s.streams = std::max(1, cores / s.threads_per_stream);
  fmt::print("machine: {}\n", bench_machine());
  fmt::print(
      "settings: random Transformer-base (6+6, d 512, 8 heads, FFN 2048, vocab 32000), "
      "{} sentences of {}-{} tokens, greedy, {} target tokens each, max batch {}, "
      "{} streams x {} threads (pinned), median of {} run(s) after a warm-up\n",
      s.sentences, s.min_len, s.max_len, s.target_len, s.batch, s.streams, s.threads_per_stream,
      s.repeat);
  auto make = [] { return random_model(preset_config(Preset::base), 1); };
  const auto dir = std::filesystem::temp_directory_path();
  const auto fp32_file = dir / fmt::format("bench_nmt_{}.keel", ::getpid());
  const auto int8_file = dir / fmt::format("bench_nmt_{}.int8.keel", ::getpid());
  run_in_child([&] {
    save_model(make(), fp32_file);
    return std::string();
  });
  auto load = [&] { return load_model(fp32_file, LoadMode::deferred); };
  auto [int8_layers, calib_s] =
      calibrate_to_file([&] { return load_model(fp32_file); }, {}, CalibOptions{}, s, int8_file);
  fmt::print("static int8: percentile (99.999) calibration on 64 random sentences, {:.1f} s, {} layers int8\n\n",
             calib_s, int8_layers);
  std::vector<BenchResult> results;
  results.push_back(bench_forked(load, Compute::fp32, s));
  results.push_back(bench_forked([&] { return load_model(int8_file, LoadMode::deferred); },
                                 Compute::int8_static, s));
  results.push_back(bench_forked(load, Compute::int8_dynamic, s));
  fmt::print("{}", format_bench(results));
  if (torch) {
    fmt::print(
        "\nsame model and workload in Debian's PyTorch (one process, {} threads, batch {}):\n",
        cores, s.batch);
    double t = pytorch_tok_per_s(fp32_file, s, cores);
    if (t > 0)
      fmt::print("keel fp32 / PyTorch fp32: {:.2f}x\n", results.front().tok_per_s / t);
    else
      fmt::print("(PyTorch not available: apt-get install python3-torch)\n");
  }
  std::filesystem::remove(fp32_file);
  std::filesystem::remove(int8_file);
  return 0;
}
