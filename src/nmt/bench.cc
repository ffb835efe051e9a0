// The translation speed workload (bench.h), run in forked children.
#include "keel/nmt/bench.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <numeric>
#include <random>
#include <thread>

#include "keel/core/error.h"
#include "keel/nmt/translator.h"

namespace keel::nmt {

std::vector<std::string> bench_input(const BenchSettings& s, const Vocabulary& vocab,
                                     std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::uniform_int_distribution<int> len(s.min_len, s.max_len);
  // Ids 0-3 are the specials (pad, bos, eos, unk).
  std::uniform_int_distribution<std::uint32_t> tok(4, static_cast<std::uint32_t>(vocab.size() - 1));
  std::vector<std::string> lines;
  for (int i = 0; i < s.sentences; ++i) {
    std::string line;
    for (int n = len(gen), j = 0; j < n; ++j) line += (j ? " " : "") + vocab.token(tok(gen));
    lines.push_back(line);
  }
  return lines;
}

namespace {

double cpu_seconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

// A translator for `compute` over the model `make_model` gives (the Model itself is gone once
// the translator holds its weights) and the workload's lines in its vocabulary.
std::pair<std::unique_ptr<Translator>, std::vector<std::string>> prepare(
    const std::function<Model()>& make_model, Compute compute, const BenchSettings& s) {
  Model m = make_model();
  std::vector<std::string> lines = bench_input(s, m.src_vocab, s.seed);
  return {std::make_unique<Translator>(std::move(m), compute), std::move(lines)};
}

TranslateOptions translate_options(const BenchSettings& s, int beam_size) {
  TranslateOptions opt;
  opt.decode = {.max_length = s.target_len, .min_length = s.target_len, .beam_size = beam_size};
  opt.decode.no_repeat_ngram_size = s.no_repeat_ngram_size;
  opt.decode.repetition_penalty = s.repetition_penalty;
  opt.max_batch_size = s.batch;
  opt.max_batch_tokens = s.max_batch_tokens;
  opt.streams = s.streams;
  opt.threads_per_stream = s.threads_per_stream;
  opt.pin_cores = s.pin;
  return opt;
}

BenchResult run(const std::function<Model()>& make_model, Compute compute, const BenchSettings& s) {
  using clock = std::chrono::steady_clock;
  BenchResult res;
  res.compute = compute;
  auto t0 = clock::now();
  auto [tr, lines] = prepare(make_model, compute, s);
  res.prepare_s = std::chrono::duration<double>(clock::now() - t0).count();
  tr->model().for_each_linear([&](const auto&, const Linear& l) {
    ++res.layers;
    res.int8_layers += l.compute() != Compute::fp32;
  });
  const TranslateOptions opt = translate_options(s, s.beam_size);
  // Warm-up: JIT the primitives of every stream for the shapes most batches use.
  std::vector<std::string> warm(
      lines.begin(), lines.begin() + std::min<std::ptrdiff_t>(std::ssize(lines), 2L * s.streams));
  tr->translate(warm, opt);
  std::vector<double> times, cpu;
  for (int r = 0; r < std::max(1, s.repeat); ++r) {
    auto a = clock::now();
    double c = cpu_seconds();
    auto out = tr->translate(lines, opt);
    times.push_back(std::chrono::duration<double>(clock::now() - a).count());
    cpu.push_back(cpu_seconds() - c);
    res.tokens = 0;
    for (const auto& o : out) res.tokens += o.empty() ? 0 : 1 + std::count(o.begin(), o.end(), ' ');
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu.begin(), cpu.end());
  if (s.latency) {
    TranslateOptions one = opt;
    one.max_batch_size = 1;
    one.max_batch_tokens = 0;
    one.threads_per_stream = std::max(1, s.streams) * s.threads_per_stream;
    one.streams = 1;
    tr->translate({lines.front()}, one);  // warm-up at batch 1
    std::vector<double> ms;
    for (const auto& line : lines) {
      auto a = clock::now();
      tr->translate({line}, one);
      ms.push_back(1e3 * std::chrono::duration<double>(clock::now() - a).count());
    }
    std::sort(ms.begin(), ms.end());
    auto at = [&](double q) {  // nearest-rank percentile
      return ms[static_cast<std::size_t>(std::ceil(q * static_cast<double>(ms.size()))) - 1];
    };
    res.latency_p50_ms = at(0.50);
    res.latency_p99_ms = at(0.99);
  }
  res.run_s = times[times.size() / 2];
  res.cpu_s = cpu[cpu.size() / 2];
  res.tok_per_s = double(res.tokens) / res.run_s;
  res.sent_per_s = double(lines.size()) / res.run_s;
  return res;
}

}  // namespace

std::string run_in_child(const std::function<std::string()>& f, double* peak_rss_mb) {
  int fd[2];
  if (pipe(fd) != 0) throw core::Error("bench: pipe failed");
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    // The child answers with 1 + its result, or 0 + an error message.
    std::string reply;
    try {
      reply = '\1' + f();
    } catch (const std::exception& e) {
      reply = std::string(1, '\0') + e.what();
    }
    for (std::size_t off = 0; off < reply.size();) {
      ssize_t n = write(fd[1], reply.data() + off, reply.size() - off);
      if (n <= 0) _exit(1);
      off += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(fd[1]);
  std::string bytes;
  char buf[4096];
  for (ssize_t n; (n = read(fd[0], buf, sizeof buf)) > 0;)
    bytes.append(buf, static_cast<std::size_t>(n));
  close(fd[0]);
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  if (peak_rss_mb) *peak_rss_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;
  if (!bytes.empty() && bytes[0] == 1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return bytes.substr(1);
  if (!bytes.empty() && bytes[0] == 0) throw core::Error(bytes.substr(1));
  throw core::Error(fmt::format("bench: a child process died (status {})", status));
}

BenchResult bench_forked(const std::function<Model()>& make_model, Compute compute,
                         const BenchSettings& s) {
  double rss = 0;
  const std::string bytes = run_in_child(
      [&] {
        BenchResult r = run(make_model, compute, s);
        return std::string(reinterpret_cast<const char*>(&r), sizeof r);
      },
      &rss);
  if (bytes.size() != sizeof(BenchResult)) throw core::Error("bench: short reply from a child");
  BenchResult r;
  std::memcpy(&r, bytes.data(), sizeof r);
  r.peak_rss_mb = rss;
  return r;
}

std::pair<int, double> calibrate_to_file(const std::function<Model()>& make_model,
                                         const std::vector<std::string>& calib_lines,
                                         CalibOptions options, const BenchSettings& s,
                                         const std::filesystem::path& out) {
  const std::string reply = run_in_child([&] {
    auto t0 = std::chrono::steady_clock::now();
    Model m = make_model();
    BenchSettings cs = s;
    cs.sentences = 64;
    const auto lines = calib_lines.empty() ? bench_input(cs, m.src_vocab, s.seed + 1) : calib_lines;
    std::vector<Ids> src;
    for (const auto& l : lines) src.push_back(tokens_to_ids(m.src_vocab, m.config, l));
    options.decode = {.max_length = s.target_len, .min_length = 0};
    const Calibration cal = calibrate(m, src, options);
    save_model(apply_calibration(std::move(m), cal), out);
    int int8 = 0;
    for (const auto& l : cal.layers) int8 += l.int8;
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return fmt::format("{} {}", int8, secs);
  });
  int int8 = 0;
  double secs = 0;
  std::sscanf(reply.c_str(), "%d %lf", &int8, &secs);
  return {int8, secs};
}

bool is_calibrated(const Model& model) {
  for (const auto& [name, t] : model.tensors)
    if (name.ends_with(".input_range")) return true;
  return false;
}

BenchResult median_run(const std::vector<BenchResult>& runs) {
  assert(!runs.empty());
  std::vector<std::size_t> order(runs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return runs[x].run_s < runs[y].run_s; });
  BenchResult r = runs[order[(order.size() - 1) / 2]];
  r.latency_p50_ms = runs.front().latency_p50_ms;
  r.latency_p99_ms = runs.front().latency_p99_ms;
  return r;
}

RatioSummary round_ratios(const std::vector<BenchResult>& runs, const std::vector<BenchResult>& base) {
  assert(!runs.empty() && runs.size() == base.size());
  std::vector<double> q;
  for (std::size_t i = 0; i < runs.size(); ++i) q.push_back(runs[i].run_s / base[i].run_s);
  std::sort(q.begin(), q.end());
  const std::size_t n = q.size();
  return {n % 2 ? q[n / 2] : 0.5 * (q[n / 2 - 1] + q[n / 2]), q.front(), q.back()};
}

RatioSummary slice_ratios(const std::vector<double>& times, const std::vector<double>& base) {
  assert(!times.empty() && times.size() == base.size());
  RatioSummary r{0, times[0] / base[0], times[0] / base[0]};
  double sum = 0, sum_base = 0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    sum += times[i];
    sum_base += base[i];
    r.min = std::min(r.min, times[i] / base[i]);
    r.max = std::max(r.max, times[i] / base[i]);
  }
  r.value = sum / sum_base;
  return r;
}

RatioSummary paired_slices(const std::function<Model()>& make_model, Compute compute,
                           const BenchSettings& s, const SliceSide& side, const SliceSide& base_side) {
  const std::string reply = run_in_child([&] {
    using clock = std::chrono::steady_clock;
    auto [tr, lines] = prepare(make_model, compute, s);
    const TranslateOptions a = translate_options(s, side.beam_size),
                           b = translate_options(s, base_side.beam_size);
    // A slice is one batch per stream: both sides see the same batches as in a whole run.
    const auto slice = static_cast<std::size_t>(std::max(1, s.streams) * s.batch);
    auto part = [&](std::size_t i) {
      return std::vector<std::string>(lines.begin() + static_cast<std::ptrdiff_t>(i),
                                      lines.begin() + static_cast<std::ptrdiff_t>(std::min(i + slice, lines.size())));
    };
    auto timed = [&](const std::vector<std::string>& in, const TranslateOptions& o,
                     const SliceSide& x) {
      if (x.enter) x.enter();
      const auto t0 = clock::now();
      tr->translate(in, o);
      return std::chrono::duration<double>(clock::now() - t0).count();
    };
    timed(part(0), b, base_side);  // warm-up of both
    timed(part(0), a, side);
    std::vector<double> t_side, t_base;
    for (int r = 0; r < std::max(1, s.repeat); ++r)
      for (std::size_t i = 0; i < lines.size(); i += slice) {
        const auto in = part(i);
        if (t_side.size() % 2 == 0) {  // ABBA: neither always runs first
          t_base.push_back(timed(in, b, base_side));
          t_side.push_back(timed(in, a, side));
        } else {
          t_side.push_back(timed(in, a, side));
          t_base.push_back(timed(in, b, base_side));
        }
      }
    const RatioSummary q = slice_ratios(t_side, t_base);
    return fmt::format("{} {} {}", q.value, q.min, q.max);
  });
  RatioSummary q;
  if (std::sscanf(reply.c_str(), "%lf %lf %lf", &q.value, &q.min, &q.max) != 3)
    throw core::Error("bench: bad reply from the paired-slices child");
  return q;
}

RatioSummary paired_slices(const std::function<Model()>& make_model, Compute compute,
                           const BenchSettings& s, int beam_size, int base_beam_size) {
  return paired_slices(make_model, compute, s, SliceSide{beam_size, {}},
                       SliceSide{base_beam_size, {}});
}

std::string format_bench(const std::vector<BenchResult>& results) {
  const bool latency = !results.empty() && results.front().latency_p50_ms > 0;
  std::string out = fmt::format("{:<13} {:>9} {:>9} {:>8} {:>10} {:>10} {:>12} {:>12} {:>7}",
                                "compute", "tok/s", "sent/s", "run s", "tok/CPU-s", "prepare s",
                                "peak RSS MB", "int8 layers", "ratio");
  out += latency ? fmt::format(" {:>12} {:>12}\n", "b1 p50 ms", "b1 p99 ms") : "\n";
  for (const auto& r : results) {
    out += fmt::format(
        "{:<13} {:>9.0f} {:>9.1f} {:>8.2f} {:>10.0f} {:>10.2f} {:>12.0f} {:>12} "
        "{:>6.2f}x",
        to_string(r.compute), r.tok_per_s, r.sent_per_s, r.run_s, double(r.tokens) / r.cpu_s,
        r.prepare_s, r.peak_rss_mb, fmt::format("{}/{}", r.int8_layers, r.layers),
        r.tok_per_s / results.front().tok_per_s);
    out += latency ? fmt::format(" {:>12.1f} {:>12.1f}\n", r.latency_p50_ms, r.latency_p99_ms) : "\n";
  }
  return out;
}

std::string bench_machine() {
  std::string cpu = "unknown CPU";
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
#if defined(__AVX512F__)
  const char* decode = ", fp32 decode steps on keel's AVX-512 kernel";  // src/nmt/gemm_f32.cc
#else
  const char* decode = "";
#endif
  return fmt::format("{} ({} hardware threads), {}{}", cpu, std::thread::hardware_concurrency(),
                     gemm_backend(), decode);
}

}  // namespace keel::nmt
