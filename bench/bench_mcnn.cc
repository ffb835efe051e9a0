// keel mcnn benchmark: M-CNN training steps at full resolution (3x1024x1280), keel fp32
// and bf16 mixed precision side by side with the same model in Debian's PyTorch
// (bench/pytorch_mcnn.py under /usr/bin/python3, channels_last, tcmalloc preloaded, bf16 through
// torch.autocast) in the same run. Every configuration runs in its own process (this program
// re-executed with --worker), so each peak RSS is its own. A step is forward + fp32 loss +
// backward + Nesterov SGD on one fixed random batch; warm-up steps first (bf16 needs 4-5 before
// its step time settles, shared/MEASURED.md), then the median of --steps timed steps.
//
// Flags: --quick (batch 1, 2 timed steps), --batches 1,2,4,8, --threads N (default 2),
// --steps N (default 3), --warmup-fp32 N (default 2), --warmup-bf16 N (default 5),
// --precision fp32|bf16|both, --height H --width W, --no-torch (skip PyTorch),
// --dense-backward (keel without the sparse max-pool backward of src/mcnn/sparse_pool.h),
// --rounds N: run keel and PyTorch alternately N times per configuration (each a fresh process)
// and report the median over rounds and the median of the paired keel/PyTorch ratios (the VM's
// speed drifts by 10-20 % between minutes; pairing cancels most of it),
// --mpi: instead, the data-parallel efficiency: img/s of 2 MPI ranks x 1 thread over 1 rank x
// 2 threads on the same global batch(es) (keel only, both under the allocator settings of
// shared/MEASURED.md).
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "keel/mcnn/bench.h"
#include "keel/mcnn/model.h"
#include "keel/train/dist.h"

using namespace keel::mcnn;

namespace {

struct Settings {
  std::vector<int> batches = {1, 2, 4, 8};
  int threads = 2, steps = 3, warmup_fp32 = 2, warmup_bf16 = 5, height = 1024, width = 1280;
  std::string precision = "both";
  bool torch = true, mpi = false, dense_backward = false;
  int rounds = 1;
};

struct Row {
  std::string engine, precision;
  int batch = 0, ranks = 1, threads = 0;
  double median_s = 0, peak_rss_mb = 0;
  std::string steps;
  bool ok = false;
};

// The malloc settings every run uses: glibc would otherwise unmap and re-fault the big
// activation buffers on every step (~10x slower at full size, shared/MEASURED.md).
const char* kMallocEnv =
    "MALLOC_MMAP_THRESHOLD_=1099511627776 MALLOC_TRIM_THRESHOLD_=1099511627776";

std::string self_exe() {
  std::vector<char> buf(4096);
  ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  return n > 0 ? std::string(buf.data(), static_cast<std::size_t>(n)) : "bench_mcnn";
}

// Runs `cmd`, echoes nothing, returns the first line starting with `prefix` (empty on failure).
std::string run_for_line(const std::string& cmd, const std::string& prefix) {
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return {};
  std::string found, all;
  char line[4096];
  while (std::fgets(line, sizeof line, p)) {
    all += line;
    if (found.empty() && std::string(line).rfind(prefix, 0) == 0) found = line;
  }
  int rc = pclose(p);
  if (rc != 0 || found.empty()) {
    std::fprintf(stderr, "bench_mcnn: '%s' failed (status %d):\n%s\n", cmd.c_str(), rc,
                 all.substr(all.size() > 2000 ? all.size() - 2000 : 0).c_str());
    return {};
  }
  return found;
}

// "NAME: precision P batch B median_s S peak_rss_mb M steps a,b,c"
Row parse_row(const std::string& line, const std::string& engine, int ranks, int threads) {
  Row r;
  r.engine = engine;
  r.ranks = ranks;
  r.threads = threads;
  std::istringstream in(line.substr(line.find(':') + 1));
  std::string key;
  while (in >> key) {
    if (key == "precision")
      in >> r.precision;
    else if (key == "batch")
      in >> r.batch;
    else if (key == "median_s")
      in >> r.median_s;
    else if (key == "peak_rss_mb")
      in >> r.peak_rss_mb;
    else if (key == "steps")
      in >> r.steps;
  }
  r.ok = r.median_s > 0;
  return r;
}

Row run_keel(const Settings& s, const std::string& precision, int batch, int ranks, int threads) {
  const int warmup = precision == "bf16" ? s.warmup_bf16 : s.warmup_fp32;
  std::string cmd = fmt::format(
      "{} --worker --precision {} --batches {} --threads {} --steps {} "
      "--warmup-fp32 {} --warmup-bf16 {} --height {} --width {}{}",
      self_exe(), precision, batch / ranks, threads, s.steps, warmup, warmup, s.height, s.width,
      s.dense_backward ? " --dense-backward" : "");
  if (ranks > 1)
    cmd = fmt::format(
        "env {} {} --allow-run-as-root --oversubscribe --bind-to none -np {} "
        "-x MALLOC_MMAP_THRESHOLD_ -x MALLOC_TRIM_THRESHOLD_ {}",
        kMallocEnv, KEEL_MPIEXEC, ranks, cmd);
  else
    cmd = fmt::format("env KEEL_MPI=0 {} {}", kMallocEnv, cmd);
  Row r = parse_row(run_for_line(cmd, "keel:"), "keel", ranks, threads);
  r.batch = batch;  // global
  r.precision = precision;
  return r;
}

Row run_torch(const Settings& s, const std::string& precision, int batch) {
  const int warmup = precision == "bf16" ? s.warmup_bf16 : s.warmup_fp32;
  const std::string cmd = fmt::format(
      "env LD_PRELOAD=libtcmalloc_minimal.so.4 /usr/bin/python3 {}/bench/pytorch_mcnn.py "
      "--precision {} --batch {} --threads {} --steps {} --warmup {} --height {} --width {}",
      KEEL_SOURCE_DIR, precision, batch, s.threads, s.steps, warmup, s.height, s.width);
  Row r = parse_row(run_for_line(cmd, "pytorch:"), "PyTorch", 1, s.threads);
  r.batch = batch;
  r.precision = precision;
  return r;
}

std::string machine() {
  std::string cpu = "unknown CPU", flags;
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0 && cpu == "unknown CPU")
      cpu = line.substr(line.find(':') + 2);
    if (line.rfind("flags", 0) == 0 && flags.empty()) flags = line;
  }
  std::string isa = flags.find(" avx512_bf16") != std::string::npos ? "AVX512-BF16"
                    : flags.find(" avx512f") != std::string::npos   ? "AVX-512 (no BF16)"
                                                                    : "no AVX-512";
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  return fmt::format("{} ({} hardware threads, {}), {:.1f} GiB RAM", cpu,
                     std::thread::hardware_concurrency(), isa,
                     static_cast<double>(pages) * static_cast<double>(page) / (1 << 30));
}

std::string load_note() {
  std::ifstream in("/proc/loadavg");
  std::string a;
  in >> a;
  return a;
}

int worker(const Settings& s) {
  auto& comm = keel::train::Comm::world();
  StepBenchOptions o;
  o.height = s.height;
  o.width = s.width;
  o.batch = s.batches.at(0);
  o.threads = s.threads;
  o.steps = s.steps;
  o.precision = parse_precision(s.precision);
  o.sparse_backward = !s.dense_backward;
  o.warmup = o.precision == Precision::bf16 ? s.warmup_bf16 : s.warmup_fp32;
  StepBenchResult r = bench_train_steps(o, comm);
  if (comm.is_root()) {
    std::string steps;
    for (double t : r.step_s) steps += fmt::format("{}{:.4f}", steps.empty() ? "" : ",", t);
    fmt::print("keel: precision {} batch {} median_s {:.6f} peak_rss_mb {:.1f} steps {}\n",
               s.precision, o.batch, r.median_s, r.peak_rss_mb, steps);
  }
  comm.finalize();
  return 0;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Rounds of one configuration as one row: the median of the per-round medians, the largest
// peak RSS, and the per-round medians in place of the single run's step times.
Row combine_rounds(const std::vector<Row>& rounds) {
  if (rounds.size() == 1) return rounds.front();
  Row out = rounds.front();
  std::vector<double> m;
  out.steps.clear();
  for (const Row& r : rounds) {
    if (!r.ok) continue;
    m.push_back(r.median_s);
    out.peak_rss_mb = std::max(out.peak_rss_mb, r.peak_rss_mb);
    out.steps += fmt::format("{}{:.4f}", out.steps.empty() ? "rounds " : ",", r.median_s);
  }
  out.ok = !m.empty();
  out.median_s = median(m);
  return out;
}

std::vector<int> parse_list(const std::string& v) {
  std::vector<int> out;
  std::istringstream in(v);
  for (std::string t; std::getline(in, t, ',');) out.push_back(std::stoi(t));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  bool is_worker = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] { return i + 1 < argc ? std::string(argv[++i]) : std::string("0"); };
    if (a == "--quick") {
      s.batches = {1};
      s.steps = 2;
    } else if (a == "--batches")
      s.batches = parse_list(next());
    else if (a == "--threads")
      s.threads = std::stoi(next());
    else if (a == "--steps")
      s.steps = std::max(1, std::stoi(next()));
    else if (a == "--warmup-fp32")
      s.warmup_fp32 = std::stoi(next());
    else if (a == "--warmup-bf16")
      s.warmup_bf16 = std::stoi(next());
    else if (a == "--precision")
      s.precision = next();
    else if (a == "--height")
      s.height = std::stoi(next());
    else if (a == "--width")
      s.width = std::stoi(next());
    else if (a == "--no-torch")
      s.torch = false;
    else if (a == "--mpi")
      s.mpi = true;
    else if (a == "--dense-backward")
      s.dense_backward = true;
    else if (a == "--rounds")
      s.rounds = std::max(1, std::stoi(next()));
    else if (a == "--worker")
      is_worker = true;
    else {
      std::fprintf(stderr, "bench_mcnn: unknown flag '%s' (see the comment at the top)\n",
                   a.c_str());
      return 2;
    }
  }
  try {
    check_input_size(s.height, s.width);
    if (is_worker) return worker(s);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_mcnn: %s\n", e.what());
    return 2;
  }
  std::vector<std::string> precisions;
  if (s.precision == "both")
    precisions = {"fp32", "bf16"};
  else
    precisions = {s.precision};
  const double gflop = 3 * forward_flops({s.height, s.width, 13}) / 1e9;  // per image, training

  fmt::print("machine: {}; load average at start {}\n", machine(), load_note());
  fmt::print(
      "settings: M-CNN 3x{}x{}, 13 classes, training step = forward + fp32 loss + backward "
      "+ Nesterov SGD on a fixed random batch; {} GFLOP per image (3 x forward); "
      "warm-up fp32 {} / bf16 {} steps, then the median of {} timed steps; "
      "each configuration in its own process, {}; keel backward: {}{}\n\n",
      s.height, s.width, fmt::format("{:.1f}", gflop), s.warmup_fp32, s.warmup_bf16, s.steps,
      kMallocEnv,
      s.dense_backward ? "dense (--dense-backward)"
                       : "sparse through the max-pools (GFLOP/s counts the dense work)",
      s.rounds > 1 ? fmt::format("; {} rounds alternating keel and PyTorch: median over rounds, "
                                 "keel/PyTorch = median of the paired per-round ratios",
                                 s.rounds)
                   : "");

  if (s.mpi) {
    fmt::print("{:>6}  {:>5}  {:>16}  {:>9}  {:>7}  {:>9}  {:>10}\n", "batch", "prec", "config",
               "s/step", "img/s", "GFLOP/s", "efficiency");
    for (int b : s.batches) {
      if (b % 2) {
        fmt::print("{:>6}  skipped: the global batch must split over 2 ranks\n", b);
        continue;
      }
      for (const auto& p : precisions) {
        Settings one = s, two = s;
        one.threads = 2;
        two.threads = 1;
        Row r1 = run_keel(one, p, b, 1, 2), r2 = run_keel(two, p, b, 2, 1);
        auto ips = [&](const Row& r) { return r.ok ? b / r.median_s : 0.0; };
        fmt::print("{:>6}  {:>5}  {:>16}  {:>9.3f}  {:>7.3f}  {:>9.1f}\n", b, p, "1 rank x 2 thr",
                   r1.median_s, ips(r1), ips(r1) * gflop);
        fmt::print("{:>6}  {:>5}  {:>16}  {:>9.3f}  {:>7.3f}  {:>9.1f}  {:>9.1f}%\n", b, p,
                   "2 ranks x 1 thr", r2.median_s, ips(r2), ips(r2) * gflop,
                   ips(r1) > 0 ? 100 * ips(r2) / ips(r1) : 0.0);
        std::fflush(stdout);
      }
    }
    fmt::print(
        "\nefficiency = img/s(2 ranks x 1 thread) / img/s(1 rank x 2 threads), same global "
        "batch; gradients averaged by keel's bucketed MPI allreduce (25 MiB buckets).\n");
    return 0;
  }

  fmt::print("{:>5}  {:>7}  {:>5}  {:>8}  {:>7}  {:>8}  {:>9}  {:>8}  {:>12}  {}\n", "batch",
             "engine", "prec", "s/step", "img/s", "GFLOP/s", "peak GiB", "MiB/img", "keel/PyTorch",
             "timed steps (s)");
  std::vector<Row> rows;
  for (int b : s.batches) {
    std::map<std::string, Row> torch_rows;
    std::map<std::string, std::vector<double>> paired;  // per-round PyTorch / keel step time
    std::vector<Row> keel_rows;
    for (const auto& p : precisions) {
      std::vector<Row> ks, ts;
      for (int r = 0; r < s.rounds; ++r) {
        ks.push_back(run_keel(s, p, b, 1, s.threads));
        if (s.torch) ts.push_back(run_torch(s, p, b));
        if (s.torch && ks.back().ok && ts.back().ok)
          paired[p].push_back(ts.back().median_s / ks.back().median_s);
      }
      keel_rows.push_back(combine_rounds(ks));
      if (s.torch) torch_rows[p] = combine_rounds(ts);
    }
    auto print = [&](const Row& r, const std::string& ratio) {
      if (!r.ok) {
        fmt::print("{:>5}  {:>7}  {:>5}  failed (see stderr)\n", r.batch, r.engine, r.precision);
        return;
      }
      const double ips = r.batch / r.median_s;
      fmt::print(
          "{:>5}  {:>7}  {:>5}  {:>8.3f}  {:>7.3f}  {:>8.1f}  {:>9.2f}  {:>8.0f}  {:>12}  {}\n",
          r.batch, r.engine, r.precision, r.median_s, ips, ips * gflop, r.peak_rss_mb / 1024,
          r.peak_rss_mb / r.batch, ratio, r.steps);
    };
    for (const auto& k : keel_rows) {
      std::string ratio = "-";
      auto t = torch_rows.find(k.precision);
      if (s.rounds > 1 && !paired[k.precision].empty())
        ratio = fmt::format("{:.2f}x", median(paired[k.precision]));
      else if (t != torch_rows.end() && t->second.ok && k.ok)
        ratio = fmt::format("{:.2f}x", t->second.median_s / k.median_s);
      print(k, ratio);
    }
    for (const auto& p : precisions)
      if (torch_rows.count(p)) print(torch_rows[p], "");
    if (keel_rows.size() == 2 && keel_rows[0].ok && keel_rows[1].ok)
      fmt::print("{:>5}  keel bf16 / keel fp32: {:.2f}x\n", b,
                 keel_rows[0].median_s / keel_rows[1].median_s);
    std::fflush(stdout);
  }
  fmt::print("\nload average at end {}\n", load_note());
  return 0;
}
