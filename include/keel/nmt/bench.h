#pragma once
// Translation speed measured on a fixed workload (the one CTranslate2 comparisons use here): source sentences of 10–40 random tokens,
// greedy, exactly N target tokens each (min = max decoding length), several compute types side
// by side in one run, each in a forked child so that its peak RSS is its own. Shared by
// `keel nmt bench` and bench/bench_nmt.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "keel/nmt/calibrate.h"
#include "keel/nmt/gemm.h"
#include "keel/nmt/model.h"

namespace keel::nmt {

struct BenchSettings {
  int sentences = 256, batch = 64, streams = 0, threads_per_stream = 1, repeat = 1;
  int min_len = 10, max_len = 40, target_len = 32;
  int beam_size = 1;  // 1 = greedy
  int no_repeat_ngram_size = 0;
  float repetition_penalty = 1.f;
  std::int64_t max_batch_tokens = 0;
  std::uint64_t seed = 2026;
  bool pin = true;  // pin each stream's threads to its own cores
  // Also translate the sentences one at a time (batch 1, one stream with all the threads) and
  // report per-sentence latency: what an interactive user waits.
  bool latency = false;
};

struct BenchResult {
  Compute compute = Compute::fp32;
  double prepare_s = 0, run_s = 0, tok_per_s = 0, sent_per_s = 0, cpu_s = 0, peak_rss_mb = 0;
  long tokens = 0;
  int int8_layers = 0, layers = 0;  // dense layers running int8 / all
  double latency_p50_ms = 0, latency_p99_ms = 0;  // BenchSettings::latency; else 0
};

// Space-separated vocabulary tokens ("w17 w4051 ..."), specials excluded, deterministic.
std::vector<std::string> bench_input(const BenchSettings& s, const Vocabulary& vocab,
                                     std::uint64_t seed);

// Translates the workload with a model made by `make_model` in a forked child (the parent's
// memory is untouched) and reports the median of `repeat` runs after a warm-up. Throws
// core::Error when the child fails (its message is passed on).
BenchResult bench_forked(const std::function<Model()>& make_model, Compute compute,
                         const BenchSettings& s);

// Runs `f` in a forked child and returns what it returned (its peak RSS in MB in `peak_rss_mb`),
// so that big temporary work (loading, calibrating) leaves no memory behind in this process.
// Throws core::Error with the child's message when it threw.
std::string run_in_child(const std::function<std::string()>& f, double* peak_rss_mb = nullptr);

// Calibrates the model `make_model` gives (in a child process) on `calib_lines` (pre-tokenized;
// empty: 64 workload-like random sentences) and writes the int8 model to `out`. Returns the
// number of layers that run int8 and the seconds calibration took.
std::pair<int, double> calibrate_to_file(const std::function<Model()>& make_model,
                                         const std::vector<std::string>& calib_lines,
                                         CalibOptions options, const BenchSettings& s,
                                         const std::filesystem::path& out);

// True when some dense layer of the model carries a calibrated input range.
bool is_calibrated(const Model& model);

// The run with the median run time (the lower middle one for an even count); its latency
// figures are the first run's (BenchSettings::latency is measured once). `runs` not empty.
BenchResult median_run(const std::vector<BenchResult>& runs);

// Per-round time ratios runs[r].run_s / base[r].run_s (paired by index): their median (the mean
// of the two middle ones for an even count) in `value`, smallest and largest.
struct RatioSummary {
  double value = 0, min = 0, max = 0;
};
RatioSummary round_ratios(const std::vector<BenchResult>& runs, const std::vector<BenchResult>& base);

// A beam size's time against another's with the drift between minutes taken out: in one child,
// the workload is cut into slices of one batch per stream, each slice is translated with both
// beam sizes in turn (base first, then second, alternately), over `repeat` passes, after a
// warm-up of both. Slices take about a second here, so this VM's speed drift (tens of percent
// between minutes) falls on both sides of nearly every pair. Returns slice_ratios of the times.
RatioSummary paired_slices(const std::function<Model()>& make_model, Compute compute,
                           const BenchSettings& s, int beam_size, int base_beam_size);
// The same pairing between any two settings of one child: a side's beam size, and `enter`
// (may be empty), called before each of its slices (e.g. to switch a kernel on or off).
struct SliceSide {
  int beam_size = 1;
  std::function<void()> enter;
};
RatioSummary paired_slices(const std::function<Model()>& make_model, Compute compute,
                           const BenchSettings& s, const SliceSide& side, const SliceSide& base);
// Σ times / Σ base (in `value`) and the smallest and largest times[i] / base[i]: the total
// cost, and the spread of the pairs. Paired by index; not empty.
RatioSummary slice_ratios(const std::vector<double>& times, const std::vector<double>& base);

// The results as a table with tok/s, sentences/s, tok per CPU-second, preparation time, peak
// RSS, int8 layers and the speed ratio to the first (fp32) row.
std::string format_bench(const std::vector<BenchResult>& results);

// "AMD EPYC ... (2 hardware threads), oneDNN 2.6.3, ISA avx512_core_bf16, fp32 decode steps on
// keel's AVX-512 kernel" (the last part where the build has it).
std::string bench_machine();

}  // namespace keel::nmt
