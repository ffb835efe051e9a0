// `keel nmt bench`: fp32, int8 (static) and int8-dynamic translation speed side by side
// (keel::nmt::bench_forked), over one or more batch configurations.
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli.h"
#include "decode_flags.h"
#include "install_paths.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/nmt/bench.h"
#include "keel/nmt/sentencepiece.h"

namespace keel::cli {

namespace {

struct BenchArgs {
  std::string model, preset = "base", calib, method = "percentile";
  std::vector<std::string> compute{"fp32", "int8", "int8-dynamic"};
  std::vector<int> batches{32, 64};
  std::vector<int> beams{1};
  DecodeFlags decode;  // the controls only: the workload fixes lengths and beams
  nmt::BenchSettings s;
  bool no_pin = false;
};

void run_bench(BenchArgs a, const GlobalOptions& g) {
  const nmt::DecodeOptions controls = apply_decode_flags(a.decode, {});
  a.s.no_repeat_ngram_size = controls.no_repeat_ngram_size;
  a.s.repetition_penalty = controls.repetition_penalty;
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  if (a.s.streams <= 0) a.s.streams = std::max(1, cores / a.s.threads_per_stream);
  a.s.pin = !a.no_pin;
  if (a.s.min_len > a.s.max_len)
    throw core::InputError("--min-source-length exceeds --max-source-length", {},
                           "swap or adjust them");
  // Every child loads the model file deferred, layer by layer, as `keel nmt translate` does, so
  // peak RSS is the product's; a random preset is written to a temporary file first (in a child,
  // so this process never holds the weights: a forked child starts with its parent's pages).
  const auto tmp = std::filesystem::temp_directory_path();
  const auto random_file = tmp / fmt::format("keel_bench_{}.keel", ::getpid());
  const auto calibrated = tmp / fmt::format("keel_bench_{}.int8.keel", ::getpid());
  struct Cleanup {
    std::vector<std::filesystem::path> files;
    ~Cleanup() {
      std::error_code ec;
      for (const auto& f : files) std::filesystem::remove(f, ec);
    }
  } cleanup{{random_file, calibrated}};
  // A model directory or installed name benchmarks its model.keel (inputs are random ids).
  std::filesystem::path model_file =
      a.model.empty() ? std::filesystem::path() : nmt::resolve_model_paths(find_model(a.model)).model;
  if (model_file.empty()) {
    nmt::run_in_child([&] {
      nmt::save_model(nmt::random_model(nmt::preset_config(nmt::parse_preset(a.preset)), 1),
                      random_file);
      return std::string();
    });
    model_file = random_file;
  }
  const bool file_calibrated =
      nmt::is_calibrated(nmt::load_model(model_file, nmt::LoadMode::deferred));
  std::function<nmt::Model()> make = [model_file] {
    return nmt::load_model(model_file, nmt::LoadMode::deferred);
  };
  std::vector<nmt::Compute> computes;
  for (const auto& c : a.compute) computes.push_back(nmt::parse_compute(c));

  // Static int8 needs a calibrated model: use the file's ranges, or calibrate once (in a child).
  std::function<nmt::Model()> make_static = make;
  std::string calib_note;
  bool needs_calibration = false;
  for (auto c : computes) needs_calibration |= c == nmt::Compute::int8_static;
  if (needs_calibration && !file_calibrated) {
    std::vector<std::string> lines;
    if (!a.calib.empty()) {
      std::ifstream in(a.calib);
      if (!in)
        throw core::InputError("cannot read the calibration text", {a.calib, 0, 0, {}},
                               "check the path");
      for (std::string l; std::getline(in, l);)
        if (l.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(l);
    }
    nmt::CalibOptions co;
    co.method = nmt::parse_calib_method(a.method);
    auto [int8, secs] = nmt::calibrate_to_file([model_file] { return nmt::load_model(model_file); },
                                               lines, co, a.s, calibrated);
    calib_note =
        fmt::format("static int8: calibrated ({}, {}) in {:.1f} s, {} layers int8\n", a.method,
                    a.calib.empty() ? "64 random workload sentences" : a.calib, secs, int8);
    make_static = [calibrated] { return nmt::load_model(calibrated, nmt::LoadMode::deferred); };
  }

  // Beam sizes side by side run in rounds: every (compute, beam) once per round, each in its own
  // child, the beams' order reversed every other round (greedy, beam 4, beam 4, greedy, ...); the
  // tables show each configuration's median run. A beam's time cost comes from paired slices
  // (nmt::paired_slices), where this VM's drift between minutes (10-40 %) cancels far better
  // than between whole runs of 5-15 s; the rounds' median ratio is printed beside it. One beam
  // size: `repeat` runs in one child, as before.
  const bool rounds_mode = a.beams.size() > 1;
  const int rounds = rounds_mode ? a.s.repeat : 1;
  nlohmann::json runs = nlohmann::json::array(), beam_costs = nlohmann::json::array();
  std::string text = fmt::format("machine: {}\n", nmt::bench_machine());
  text += fmt::format(
      "model: {}; {} sentences of {}-{} tokens, exactly {} target tokens each, {} "
      "streams x {} threads{}, {}\n{}",
      a.model.empty() ? fmt::format("random {} preset", a.preset) : a.model, a.s.sentences,
      a.s.min_len, a.s.max_len, a.s.target_len, a.s.streams, a.s.threads_per_stream,
      a.s.pin ? " (pinned)" : "",
      rounds_mode ? fmt::format("{} interleaved round(s), each run in its own process after a warm-up; "
                                "medians shown", rounds)
                  : fmt::format("median of {} run(s) after a warm-up", a.s.repeat),
      calib_note);
  for (int batch : a.batches) {
    a.s.batch = batch;
    // all[beam][compute][round]
    std::vector<std::vector<std::vector<nmt::BenchResult>>> all(
        a.beams.size(), std::vector<std::vector<nmt::BenchResult>>(computes.size()));
    nmt::BenchSettings one = a.s;
    one.repeat = rounds_mode ? 1 : a.s.repeat;
    // A compute type's beams run back to back, so the runs a ratio pairs are adjacent.
    for (int r = 0; r < rounds; ++r)
      for (std::size_t c = 0; c < computes.size(); ++c)
        for (std::size_t k = 0; k < a.beams.size(); ++k) {
          const std::size_t bi = r % 2 == 0 ? k : a.beams.size() - 1 - k;
          one.beam_size = a.beams[bi];
          one.latency = a.s.latency && r == 0;  // per-sentence latency once
          core::log_info("bench: batch {}, beam {}, {}{}", batch, one.beam_size, nmt::to_string(computes[c]),
                         rounds_mode ? fmt::format(", round {}/{}", r + 1, rounds) : std::string());
          all[bi][c].push_back(nmt::bench_forked(
              computes[c] == nmt::Compute::int8_static ? make_static : make, computes[c], one));
        }
    std::vector<std::vector<nmt::BenchResult>> by_beam;
    for (std::size_t bi = 0; bi < a.beams.size(); ++bi) {
      const int beam = a.beams[bi];
      std::vector<nmt::BenchResult> results;
      for (const auto& per_round : all[bi]) results.push_back(nmt::median_run(per_round));
      text += fmt::format(
          "\nmax batch {} sentences{}, {}:\n{}", batch,
          a.s.max_batch_tokens > 0 ? fmt::format(", {} tokens", a.s.max_batch_tokens) : "",
          beam == 1 ? std::string("greedy") : fmt::format("beam {}", beam),
          nmt::format_bench(results));
      for (const auto& r : results)
        runs.push_back({{"batch", batch},
                        {"beam_size", beam},
                        {"compute", std::string(nmt::to_string(r.compute))},
                        {"tok_per_s", r.tok_per_s},
                        {"sent_per_s", r.sent_per_s},
                        {"run_s", r.run_s},
                        {"tok_per_cpu_s", double(r.tokens) / r.cpu_s},
                        {"prepare_s", r.prepare_s},
                        {"peak_rss_mb", r.peak_rss_mb},
                        {"int8_layers", r.int8_layers},
                        {"layers", r.layers},
                        {"ratio_to_first", r.tok_per_s / results.front().tok_per_s},
                        {"latency_p50_ms", r.latency_p50_ms},
                        {"latency_p99_ms", r.latency_p99_ms}});
      by_beam.push_back(std::move(results));
    }
    // Each beam's cost against the first beam size listed (normally greedy), per compute type:
    // time from paired slices (nmt::paired_slices: both searches alternate every second or so in
    // one process, `repeat` passes) and, for reference, the median of the whole rounds' ratios;
    // peak RSS of the median whole runs.
    for (std::size_t i = 1; i < by_beam.size(); ++i) {
      text += fmt::format("beam {} against {}:", a.beams[i], a.beams[0] == 1 ? std::string("greedy")
                                                                              : fmt::format("beam {}", a.beams[0]));
      for (std::size_t c = 0; c < computes.size(); ++c) {
        core::log_info("bench: batch {}, beam {} against {}, {}, paired slices", batch, a.beams[i],
                       a.beams[0], nmt::to_string(computes[c]));
        nmt::BenchSettings passes = a.s;
        passes.latency = false;
        const nmt::RatioSummary p = nmt::paired_slices(
            computes[c] == nmt::Compute::int8_static ? make_static : make, computes[c], passes,
            a.beams[i], a.beams[0]);
        const nmt::RatioSummary t = nmt::round_ratios(all[i][c], all[0][c]);
        const double rss = by_beam[i][c].peak_rss_mb / by_beam[0][c].peak_rss_mb;
        text += fmt::format(" {} {:.2f}x time (slices {:.2f}-{:.2f}; whole runs {:.2f}x{}), {:.2f}x peak RSS;",
                            nmt::to_string(computes[c]), p.value, p.min, p.max, t.value,
                            rounds > 1 ? fmt::format(", {:.2f}-{:.2f}", t.min, t.max) : std::string(), rss);
        beam_costs.push_back({{"batch", batch},
                              {"beam_size", a.beams[i]},
                              {"against_beam_size", a.beams[0]},
                              {"compute", std::string(nmt::to_string(computes[c]))},
                              {"rounds", rounds},
                              {"time_ratio", p.value},
                              {"slice_ratio_min", p.min},
                              {"slice_ratio_max", p.max},
                              {"time_ratio_median", t.value},
                              {"time_ratio_min", t.min},
                              {"time_ratio_max", t.max},
                              {"peak_rss_ratio", rss}});
      }
      text += "\n";
    }
  }
  if (g.json)
    print_out(nlohmann::json{{"machine", nmt::bench_machine()}, {"runs", runs}, {"beam_costs", beam_costs}}.dump(2));
  else
    print_out(text);
}

}  // namespace

void register_nmt_bench(CLI::App& nmt, const GlobalOptions& global) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = nmt.add_subcommand(
      "bench", "Translation speed of fp32, int8 and int8-dynamic side by side (random Transformer-base, 256 sentences of 10-40 tokens, 32 target tokens each, unless changed)");
  cmd->add_option("--model", a->model,
                  "Model file, model directory or installed model name (default: a random model "
                  "of --preset)");
  cmd->add_option("--preset", a->preset, "Random model preset when no --model: base or tiny")
      ->check(CLI::IsMember({"base", "tiny"}));
  cmd->add_option("--compute", a->compute, "Compute types, first is the ratio's base")
      ->delimiter(',')
      ->check(CLI::IsMember({"fp32", "int8", "int8-dynamic"}));
  cmd->add_option("--calib", a->calib, "Calibration text for int8 when the model is not calibrated")
      ->check(CLI::ExistingFile);
  cmd->add_option("--method", a->method, "Calibration method: kl, percentile, minmax")
      ->check(CLI::IsMember({"kl", "percentile", "minmax"}));
  cmd->add_option("--sentences", a->s.sentences, "Source sentences (default 256)")
      ->check(Positive);
  cmd->add_option("--min-source-length", a->s.min_len, "Shortest source (tokens, default 10)")
      ->check(Positive);
  cmd->add_option("--max-source-length", a->s.max_len, "Longest source (tokens, default 40)")
      ->check(Positive);
  cmd->add_option("--target-length", a->s.target_len, "Target tokens per sentence (default 32)")
      ->check(Positive);
  cmd->add_option("--batch", a->batches, "Max batch sizes to compare, e.g. 16,64 (default 32,64)")
      ->delimiter(',')
      ->check(Positive);
  cmd->add_option("--beam-size", a->beams,
                  "Beam sizes to compare, e.g. 1,4 (default 1: greedy); each against the first")
      ->delimiter(',')
      ->check(Positive);
  add_decode_flags(cmd, a->decode, false);
  cmd->add_option("--max-batch-tokens", a->s.max_batch_tokens,
                  "Token budget per batch, padding counted; 0 = off")
      ->check(NonNegative);
  cmd->add_option("--streams", a->s.streams, "Parallel streams (default: cores / threads)")
      ->check(NonNegative);
  cmd->add_option("--threads-per-stream", a->s.threads_per_stream, "Threads per stream (default 1)")
      ->check(Positive);
  cmd->add_option("--repeat", a->s.repeat,
                  "Timed runs per configuration; the median is shown (with several beam sizes: "
                  "interleaved rounds of whole runs, and as many passes of paired slices for the "
                  "beam's cost)")
      ->check(Positive);
  cmd->add_flag("--no-pin", a->no_pin, "Do not pin streams to cores");
  cmd->add_flag("--latency", a->s.latency,
                "Also translate the sentences one at a time (batch 1, one stream with every "
                "thread) and report per-sentence latency p50/p99");
  cmd->callback([a, &global] { run_bench(*a, global); });
}

}  // namespace keel::cli
