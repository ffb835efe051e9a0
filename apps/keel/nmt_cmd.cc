// `keel nmt ...`: argument parsing and output only; the engine is keel::nmt.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli.h"
#include "decode_flags.h"
#include "install_paths.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"
#include "keel/nmt/bench.h"
#include "keel/nmt/model.h"
#include "keel/nmt/segment.h"
#include "keel/nmt/sentencepiece.h"
#include "keel/nmt/text_job.h"
#include "keel/nmt/translator.h"

namespace keel::cli {

namespace {

struct RandomModelArgs {
  std::string preset = "base", out;
  std::uint64_t seed = 1;
};

void run_random_model(const RandomModelArgs& a, const GlobalOptions& g) {
  nmt::ModelConfig cfg = nmt::preset_config(nmt::parse_preset(a.preset));
  nmt::Model m = nmt::random_model(cfg, a.seed);
  nmt::save_model(m, a.out);
  std::size_t params = 0;
  for (const auto& [name, t] : m.tensors) params += static_cast<std::size_t>(t.numel());
  if (g.json)
    print_out(fmt::format(R"({{"out": "{}", "preset": "{}", "seed": {}, "parameters": {}}})", a.out,
                          a.preset, a.seed, params));
  else if (!g.quiet)
    print_out(fmt::format("wrote {} ({} preset, {} parameters, seed {})", a.out, a.preset, params,
                          a.seed));
}

struct TranslateArgs {
  std::string model;
  std::string compute;  // empty: int8 for a model calibrated by keel nmt quantize, else fp32
  int max_batch_size = 32, streams = 0, threads_per_stream = 1;
  DecodeFlags decode;
  std::int64_t max_batch_tokens = 0;
  int chunk_lines = 20000;
  bool no_pin = false;
  bool split = false, no_split = false;  // neither: split raw text (a model directory) only
  int max_input_length = 200;
  std::string long_input = "split";
};

// Tokens of pre-tokenized input the model does not know, counted to catch raw text fed to a
// model file (every word becomes <unk> and the output is noise).
struct UnknownCount {
  std::size_t tokens = 0, unknown = 0;
  bool warned = false;
};

void run_translate(const TranslateArgs& a, const GlobalOptions& g) {
  const nmt::LengthPolicy policy = nmt::parse_length_policy(a.long_input);
  // A model directory brings SentencePiece: raw text in and out (else pre-tokenized lines).
  const nmt::ModelPaths paths = nmt::resolve_model_paths(find_model(a.model));
  nmt::TranslateOptions opt;
  opt.decode = resolve_decoding(a.decode, paths);
  const nmt::TextCodec codec(paths);
  const bool split = a.split || (!a.no_split && codec.active());

  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<nmt::Translator> translator;
  std::string compute_name = a.compute;
  {
    // Read layer by layer as the weights are prepared: never the whole file in memory.
    nmt::Model model = nmt::load_model(paths.model, nmt::LoadMode::deferred);
    codec.check_vocabulary(model.src_vocab, model.tgt_vocab);
    if (compute_name.empty()) compute_name = nmt::is_calibrated(model) ? "int8" : "fp32";
    translator = std::make_unique<nmt::Translator>(std::move(model), nmt::parse_compute(compute_name));
  }
  const std::uint32_t unk = translator->model().config().unk_id;
  auto t1 = std::chrono::steady_clock::now();
  opt.max_batch_size = a.max_batch_size;
  opt.max_batch_tokens = a.max_batch_tokens;
  opt.threads_per_stream = a.threads_per_stream;
  opt.pin_cores = !a.no_pin;
  opt.streams = a.streams > 0 ? a.streams
                              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                                                a.threads_per_stream);
  // Input is read and translated in chunks of --chunk-lines, each written before the next is
  // read: memory stays bounded however long stdin is, and output order is input order. Each
  // line becomes one or more segments (sentences, then pieces capped at --max-input-length),
  // translated together and joined back into one output line.
  std::size_t sentences = 0, tokens = 0, chunk_no = 0, line_no = 0, capped = 0;
  UnknownCount unknown;
  const nmt::SegmentOptions seg_opt{split, static_cast<std::size_t>(a.max_input_length), policy};
  std::vector<std::string> raw;
  check_stdin_readable();
  for (bool eof = false; !eof;) {
    raw.clear();
    for (std::string line; static_cast<int>(raw.size()) < a.chunk_lines;) {
      if (!std::getline(std::cin, line)) {
        eof = true;
        break;
      }
      raw.push_back(std::move(line));
    }
    if (raw.empty()) break;
    const nmt::SegmentedText st = nmt::segment_lines(raw, codec, seg_opt, "stdin", line_no + 1);
    line_no += raw.size();
    capped += st.capped;
    const auto& segs = st.segments;
    const auto& per_line = st.per_line;
    if (!codec.active())
      for (const auto& seg : segs) {
        const nmt::Ids ids = translator->source_ids(seg);
        for (const auto id : ids) unknown.unknown += id == unk;
        unknown.tokens += ids.size() - 1;  // EOS not counted
      }
    if (!unknown.warned && unknown.tokens >= 5 && 2 * unknown.unknown > unknown.tokens) {
      unknown.warned = true;
      core::log_warn(
          "{} of {} input tokens are not in the model's vocabulary: a model file takes "
          "space-separated vocabulary tokens (pre-tokenized); for raw text pass a model directory "
          "(model.keel + its SentencePiece model)",
          unknown.unknown, unknown.tokens);
    }
    ++chunk_no;
    core::Progress bar("translate", segs.size(), core::progress_enabled(g.quiet), "seg");
    if (chunk_no > 1 || !eof) bar.set_note(fmt::format("chunk {}", chunk_no));
    auto out = translator->translate(segs, opt, [&](std::size_t done) { bar.update(done); });
    bar.finish();
    std::vector<double> scores;
    if (g.json) scores = translator->score(segs, out, opt.decode.max_length);
    const std::vector<std::string> texts = nmt::join_segments(out, per_line, codec);
    std::size_t k = 0;
    for (std::size_t i = 0; i < raw.size(); ++i) {
      std::string pieces;
      double score = 0;
      for (std::size_t j = 0; j < per_line[i]; ++j, ++k) {
        if (!out[k].empty()) {
          pieces += (pieces.empty() ? "" : " ") + out[k];
          tokens += 1 + static_cast<std::size_t>(std::count(out[k].begin(), out[k].end(), ' '));
        }
        if (g.json) score += scores[k];
      }
      if (g.json) {
        nlohmann::json j = {{"translation", texts[i]}, {"segments", per_line[i]}};
        j["tokens"] = nlohmann::json::array();
        std::istringstream ps(pieces);
        for (std::string p; ps >> p;) j["tokens"].push_back(p);
        j["score"] = score;  // natural-log probability of the tokens (and EOS) per segment, summed
        std::cout << j.dump() << '\n';
      } else {
        std::cout << texts[i] << '\n';
      }
    }
    std::cout.flush();
    sentences += segs.size();
  }
  if (capped)
    core::log_warn("{} sentence(s) longer than --max-input-length {} were {}", capped,
                   a.max_input_length, policy == nmt::LengthPolicy::split ? "split" : "truncated");
  auto t2 = std::chrono::steady_clock::now();
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double run_s = std::chrono::duration<double>(t2 - t1).count();
  core::log_info(
      "translated {} lines ({} segments), {} target tokens in {:.2f} s ({:.0f} tok/s, {}, {} "
      "streams x {} threads; model load {:.2f} s)",
      line_no, sentences, tokens, run_s, run_s > 0 ? double(tokens) / run_s : 0.0, compute_name,
      opt.streams, opt.threads_per_stream, load_s);
}

}  // namespace

void register_nmt(CLI::App& app, const GlobalOptions& global) {
  auto* nmt = app.add_subcommand("nmt", "Transformer translation inference (fp32 / int8 on VNNI)");
  nmt->require_subcommand(1);

  auto rm = std::make_shared<RandomModelArgs>();
  auto* random = nmt->add_subcommand(
      "random-model", "Write a model file with random weights (to measure speed before training)");
  random
      ->add_option("--preset", rm->preset,
                   "base (6+6 layers, d_model 512, 8 heads, FFN 2048, 32 000 shared vocab) or "
                   "tiny (2+2 layers, d_model 32; for tests)")
      ->check(CLI::IsMember({"base", "tiny"}));
  random->add_option("--out", rm->out, "Model file to write")->required()->check(OutputFile);
  random->add_option("--seed", rm->seed, "Random seed (same seed, same file)")->check(NonNegative);
  random->callback([rm, &global] { run_random_model(*rm, global); });

  auto ta = std::make_shared<TranslateArgs>();
  auto* tr = nmt->add_subcommand(
      "translate",
      "Translate lines from stdin to stdout: raw text with a model directory (SentencePiece), "
      "space-separated tokens with a model file");
  tr->add_option("--model", ta->model,
                 "Model file, directory with model.keel + spm.model (docs/nmt_model_format.md), "
                 "or the name of an installed model (en-es)")
      ->required();
  tr->add_option("--compute", ta->compute,
                 "fp32, int8 (static scales of a model calibrated by keel nmt quantize) or "
                 "int8-dynamic (per-row scales at run time); int8 GEMMs run on VNNI (default: "
                 "int8 for a calibrated model, else fp32)")
      ->check(CLI::IsMember({"fp32", "int8", "int8-dynamic"}));
  add_decode_flags(tr, ta->decode, true);
  tr->add_option("--max-batch-size", ta->max_batch_size, "Segments per batch")
      ->capture_default_str()
      ->check(Positive);
  tr->add_option("--max-batch-tokens", ta->max_batch_tokens,
                 "Token budget per batch, padding counted (segments x longest source); 0 = off")
      ->capture_default_str()
      ->check(NonNegative);
  tr->add_option("--streams", ta->streams,
                 "Batches translated in parallel (default: cores / threads-per-stream)")
      ->check(NonNegative);
  tr->add_option("--threads-per-stream", ta->threads_per_stream, "Threads inside each stream")
      ->capture_default_str()
      ->check(Positive);
  tr->add_option("--chunk-lines", ta->chunk_lines,
                 "Lines read, translated and written at a time (bounded memory)")
      ->capture_default_str()
      ->check(Positive);
  auto* split = tr->add_flag("--split-sentences", ta->split,
                             "Split each line into sentences, translate them, join them back "
                             "(default for raw text, i.e. a model directory)");
  tr->add_flag("--no-split-sentences", ta->no_split, "Translate each line as one segment")
      ->excludes(split);
  tr->add_option("--max-input-length", ta->max_input_length,
                 "Most source pieces per segment (0 = no limit): longer ones follow --long-input")
      ->capture_default_str()
      ->check(NonNegative);
  tr->add_option("--long-input", ta->long_input,
                 "Segments over --max-input-length: split (at punctuation where possible), "
                 "truncate, or refuse (exit 2)")
      ->capture_default_str()
      ->check(CLI::IsMember({"split", "truncate", "refuse"}));
  tr->add_flag("--no-pin", ta->no_pin, "Do not pin streams to cores");
  tr->callback([ta, &global] { run_translate(*ta, global); });

  register_nmt_bleu(*nmt, global);
  register_nmt_quantize(*nmt, global);
  register_nmt_import(*nmt, global);
  register_nmt_bench(*nmt, global);
  register_nmt_corpus(*nmt, global);
  register_nmt_serve(*nmt, global);
  register_nmt_bench_serve(*nmt, global);
#ifdef KEEL_HAVE_TRAIN
  // Listed for --help; the command itself runs in keel-train (main.cc hands it over).
  nmt->add_subcommand("train", "Train a Transformer (LibTorch) on line-aligned piece files");
#endif
}

}  // namespace keel::cli
