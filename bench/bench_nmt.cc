// keel nmt benchmark: random Transformer-base, 256 source sentences of 10-40 tokens, greedy,
// exactly 32 target tokens each (min = max decoding length), fp32 and int8-dynamic side by side.
// Each configuration runs in a forked child so its peak RSS is its own.
//
// Flags: --quick (32 sentences), --sentences N, --batch N (max batch size, default 64),
// --streams N (default: cores), --threads-per-stream N (default 1), --repeat N (default 1;
// the median run is reported).
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "keel/nmt/model.h"
#include "keel/nmt/translator.h"

using namespace keel::nmt;

namespace {

struct Settings {
  int sentences = 256, batch = 64, streams = 0, threads_per_stream = 1, repeat = 1;
  int min_len = 10, max_len = 40, target_len = 32;
};

struct Result {
  double load_s = 0, run_s = 0, tok_per_s = 0, cpu_s = 0;
  long tokens = 0;
};

std::vector<std::string> make_input(const Settings& s, std::uint32_t vocab) {
  std::mt19937 gen(2026);
  std::uniform_int_distribution<int> len(s.min_len, s.max_len);
  std::uniform_int_distribution<std::uint32_t> tok(4, vocab - 1);  // no special tokens
  std::vector<std::string> lines;
  for (int i = 0; i < s.sentences; ++i) {
    std::string line;
    for (int n = len(gen), j = 0; j < n; ++j) line += (j ? " w" : "w") + std::to_string(tok(gen));
    lines.push_back(line);
  }
  return lines;
}

Result run(const Settings& s, Compute compute) {
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  std::unique_ptr<Translator> tr;
  {
    Model m = random_model(preset_config(Preset::base), 1);
    tr = std::make_unique<Translator>(std::move(m), compute);
  }
  auto t1 = clock::now();
  auto lines = make_input(s, preset_config(Preset::base).src_vocab);
  TranslateOptions opt;
  opt.decode = {.max_length = s.target_len, .min_length = s.target_len};
  opt.max_batch_size = s.batch;
  opt.streams = s.streams;
  opt.threads_per_stream = s.threads_per_stream;
  // Warm-up: JIT the primitives of every stream for the shapes most batches use.
  std::vector<std::string> warm(lines.begin(), lines.begin() + std::min<std::ptrdiff_t>(
                                                                   lines.size(), 2L * s.streams));
  tr->translate(warm, opt);
  auto cpu_now = [] {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  };
  std::vector<double> times, cpu;
  long tokens = 0;
  for (int r = 0; r < s.repeat; ++r) {
    auto a = clock::now();
    double c = cpu_now();
    auto out = tr->translate(lines, opt);
    times.push_back(std::chrono::duration<double>(clock::now() - a).count());
    cpu.push_back(cpu_now() - c);
    tokens = 0;
    for (const auto& o : out) tokens += 1 + std::count(o.begin(), o.end(), ' ');
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu.begin(), cpu.end());
  Result res;
  res.load_s = std::chrono::duration<double>(t1 - t0).count();
  res.run_s = times[times.size() / 2];
  res.cpu_s = cpu[cpu.size() / 2];
  res.tokens = tokens;
  res.tok_per_s = double(tokens) / res.run_s;
  return res;
}

// Runs `run` in a child; returns its result and peak RSS (MB).
std::pair<Result, double> run_forked(const Settings& s, Compute compute) {
  int fd[2];
  if (pipe(fd) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    Result r = run(s, compute);
    if (write(fd[1], &r, sizeof r) != sizeof r) _exit(1);
    _exit(0);
  }
  close(fd[1]);
  Result r;
  bool ok = read(fd[0], &r, sizeof r) == sizeof r;
  close(fd[0]);
  int status = 0;
  rusage ru{};
  wait4(pid, &status, 0, &ru);
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("benchmark child failed");
  return {r, static_cast<double>(ru.ru_maxrss) / 1024.0};
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::stoi(argv[++i]) : 0; };
    if (a == "--quick") s.sentences = 32;
    else if (a == "--sentences") s.sentences = next();
    else if (a == "--batch") s.batch = next();
    else if (a == "--streams") s.streams = next();
    else if (a == "--threads-per-stream") s.threads_per_stream = next();
    else if (a == "--repeat") s.repeat = std::max(1, next());
    else {
      std::fprintf(stderr, "bench_nmt: unknown flag '%s' (see the comment at the top)\n", a.c_str());
      return 2;
    }
  }
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (s.streams <= 0) s.streams = std::max(1, cores / s.threads_per_stream);
  fmt::print("machine: {} ({} hardware threads), {}\n", cpu_name(), cores, gemm_backend());
  fmt::print("settings: random Transformer-base (6+6, d 512, 8 heads, FFN 2048, vocab 32000), "
             "{} sentences of {}-{} tokens, greedy, {} target tokens each, max batch {}, "
             "{} streams x {} threads, median of {} run(s) after a warm-up\n\n",
             s.sentences, s.min_len, s.max_len, s.target_len, s.batch, s.streams,
             s.threads_per_stream, s.repeat);
  auto [f, f_rss] = run_forked(s, Compute::fp32);
  auto [q, q_rss] = run_forked(s, Compute::int8_dynamic);
  // tok per CPU-second does not depend on how busy the machine is: on idle cores, wall tok/s
  // approaches it times the cores used.
  fmt::print("{:<13} {:>10} {:>10} {:>12} {:>12} {:>12}\n", "compute", "tok/s", "run s",
             "tok/CPU-s", "prepare s", "peak RSS MB");
  for (auto [name, r, rss] : {std::tuple{"fp32", f, f_rss}, {"int8-dynamic", q, q_rss}})
    fmt::print("{:<13} {:>10.0f} {:>10.2f} {:>12.0f} {:>12.2f} {:>12.0f}\n", name, r.tok_per_s,
               r.run_s, double(r.tokens) / r.cpu_s, r.load_s, rss);
  fmt::print("\nint8/fp32 speed ratio: {:.2f}x   (target tokens: {} fp32, {} int8)\n",
             q.tok_per_s / f.tok_per_s, f.tokens, q.tokens);
  return 0;
}
