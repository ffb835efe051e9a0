// `keel nmt ...`: argument parsing and output only; the engine is keel::nmt.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>

#include "cli.h"
#include "install_paths.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"
#include "keel/nmt/model.h"
#include "keel/nmt/sentencepiece.h"
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
  std::string model, compute = "fp32";
  int max_length = 256, min_length = 0, max_batch_size = 32, streams = 0, threads_per_stream = 1;
  int beam_size = 1;
  float length_penalty = 1.f;
  std::int64_t max_batch_tokens = 0;
  int chunk_lines = 20000;
  bool no_pin = false;
};

void run_translate(const TranslateArgs& a, const GlobalOptions& g) {
  const nmt::Compute compute = nmt::parse_compute(a.compute);
  if (a.min_length > a.max_length)
    throw core::InputError(fmt::format("--min-decoding-length {} exceeds --max-decoding-length {}",
                                       a.min_length, a.max_length),
                           {}, "lower the minimum or raise the maximum");
  if (a.chunk_lines < 1)
    throw core::InputError("--chunk-lines must be at least 1", {}, "use e.g. 20000");
  // A model directory brings SentencePiece: raw text in and out (else pre-tokenized lines).
  const nmt::ModelPaths paths = nmt::resolve_model_paths(find_model(a.model));
  const nmt::TextCodec codec(paths);

  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<nmt::Translator> translator;
  {
    // Read layer by layer as the weights are prepared: never the whole file in memory.
    nmt::Model model = nmt::load_model(paths.model, nmt::LoadMode::deferred);
    codec.check_vocabulary(model.src_vocab, model.tgt_vocab);
    translator = std::make_unique<nmt::Translator>(std::move(model), compute);
  }
  auto t1 = std::chrono::steady_clock::now();
  nmt::TranslateOptions opt;
  opt.decode.max_length = a.max_length;
  opt.decode.min_length = a.min_length;
  opt.decode.beam_size = a.beam_size;
  opt.decode.length_penalty = a.length_penalty;
  opt.max_batch_size = a.max_batch_size;
  opt.max_batch_tokens = a.max_batch_tokens;
  opt.threads_per_stream = a.threads_per_stream;
  opt.pin_cores = !a.no_pin;
  opt.streams = a.streams > 0 ? a.streams
                              : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                                                a.threads_per_stream);
  // Input is read and translated in chunks of --chunk-lines, each written before the next is
  // read: memory stays bounded however long stdin is, and output order is input order.
  std::size_t sentences = 0, tokens = 0, chunk_no = 0;
  std::vector<std::string> lines;
  for (bool eof = false; !eof;) {
    lines.clear();
    for (std::string line; static_cast<int>(lines.size()) < a.chunk_lines;) {
      if (!std::getline(std::cin, line)) {
        eof = true;
        break;
      }
      lines.push_back(codec.encode(line));
    }
    if (lines.empty()) break;
    ++chunk_no;
    core::Progress bar("translate", lines.size(), core::progress_enabled(g.quiet), "sent");
    if (chunk_no > 1 || !eof) bar.set_note(fmt::format("chunk {}", chunk_no));
    auto out = translator->translate(lines, opt, [&](std::size_t done) { bar.update(done); });
    bar.finish();
    for (const auto& line : out) {
      std::cout << codec.decode(line) << '\n';
      if (!line.empty())
        tokens += 1 + static_cast<std::size_t>(std::count(line.begin(), line.end(), ' '));
    }
    std::cout.flush();
    sentences += lines.size();
  }
  auto t2 = std::chrono::steady_clock::now();
  const double load_s = std::chrono::duration<double>(t1 - t0).count();
  const double run_s = std::chrono::duration<double>(t2 - t1).count();
  core::log_info(
      "translated {} sentences, {} target tokens in {:.2f} s ({:.0f} tok/s, {}, {} "
      "streams x {} threads; model load {:.2f} s)",
      sentences, tokens, run_s, run_s > 0 ? double(tokens) / run_s : 0.0, a.compute, opt.streams,
      opt.threads_per_stream, load_s);
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
  random->add_option("--out", rm->out, "Model file to write")->required();
  random->add_option("--seed", rm->seed, "Random seed (same seed, same file)");
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
                 "int8-dynamic (per-row scales at run time); int8 GEMMs run on VNNI")
      ->check(CLI::IsMember({"fp32", "int8", "int8-dynamic"}));
  tr->add_option("--max-decoding-length", ta->max_length, "Most target tokens per sentence")
      ->check(CLI::NonNegativeNumber);
  tr->add_option("--min-decoding-length", ta->min_length,
                 "Fewest target tokens per sentence (EOS is forbidden before)")
      ->check(CLI::NonNegativeNumber);
  tr->add_option("--beam-size", ta->beam_size, "Beam size (1 = greedy)")
      ->check(CLI::PositiveNumber);
  tr->add_option("--length-penalty", ta->length_penalty,
                 "Beam search ranks finished hypotheses by logprob / length^this");
  tr->add_option("--max-batch-size", ta->max_batch_size, "Sentences per batch")
      ->check(CLI::PositiveNumber);
  tr->add_option("--max-batch-tokens", ta->max_batch_tokens,
                 "Token budget per batch, padding counted (sentences x longest source); 0 = off")
      ->check(CLI::NonNegativeNumber);
  tr->add_option("--streams", ta->streams,
                 "Batches translated in parallel (default: cores / threads-per-stream)")
      ->check(CLI::NonNegativeNumber);
  tr->add_option("--threads-per-stream", ta->threads_per_stream, "Threads inside each stream")
      ->check(CLI::PositiveNumber);
  tr->add_option("--chunk-lines", ta->chunk_lines,
                 "Lines read, translated and written at a time (bounded memory; default 20000)")
      ->check(CLI::PositiveNumber);
  tr->add_flag("--no-pin", ta->no_pin, "Do not pin streams to cores");
  tr->callback([ta, &global] { run_translate(*ta, global); });

  register_nmt_bleu(*nmt, global);
  register_nmt_quantize(*nmt, global);
  register_nmt_bench(*nmt, global);
  register_nmt_corpus(*nmt, global);
#ifdef KEEL_HAVE_TRAIN
  // Listed for --help; the command itself runs in keel-train (main.cc hands it over).
  nmt->add_subcommand("train", "Train a Transformer (LibTorch) on line-aligned piece files");
#endif
}

}  // namespace keel::cli
