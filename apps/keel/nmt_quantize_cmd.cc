// `keel nmt quantize`: static int8 calibration of a model (keel::nmt::calibrate).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "install_paths.h"
#include "keel/core/checksum.h"
#include "keel/core/atomic_file.h"
#include "keel/core/error.h"
#include "keel/core/table.h"
#include "keel/nmt/calibrate.h"
#include "keel/nmt/sentencepiece.h"
#include "keel/nmt/translator.h"

namespace keel::cli {

namespace {

struct QuantizeArgs {
  std::string model, calib, method = "percentile", out;
  double percentile = 99.999, min_sqnr_db = 25;
  bool percentile_given = false;
  std::vector<std::string> fp32;
  int max_sentences = 500, max_length = 256, batch_size = 16, bins = 2048;
};

std::string layer_name(const std::vector<std::string>& scopes) {
  if (scopes.size() == 1) return scopes.front();
  // q/k/v (or k/v) fused: "encoder.layers.0.self_attn.{q,k,v}_proj".
  std::string s = scopes.front();
  auto dot = s.rfind('.');
  std::string tail;
  for (const auto& x : scopes) tail += (tail.empty() ? "" : ",") + x.substr(dot + 1, 1);
  return s.substr(0, dot + 1) + "{" + tail + "}" + s.substr(dot + 2);
}

void run_quantize(const QuantizeArgs& a, const GlobalOptions& g) {
  nmt::CalibOptions o;
  o.method = nmt::parse_calib_method(a.method);
  o.percentile = a.percentile;
  o.min_sqnr_db = a.min_sqnr_db;
  o.force_fp32 = a.fp32;
  o.decode.max_length = a.max_length;
  o.batch_size = a.batch_size;
  o.bins = a.bins;
  if (!(a.percentile > 0 && a.percentile <= 100))
    throw core::InputError(fmt::format("--percentile {} is outside (0, 100]", a.percentile), {},
                           "use e.g. 99.99");
  if (a.percentile_given && o.method != nmt::CalibMethod::percentile)
    throw core::InputError("--percentile applies only to --method percentile", {},
                           "drop --percentile, or add --method percentile");
  // A model directory: raw calibration text through its SentencePiece model, and a complete
  // directory written (model.keel plus the SentencePiece files). A model file: pre-tokenized.
  const nmt::ModelPaths paths = nmt::resolve_model_paths(find_model(a.model));
  const nmt::TextCodec codec(paths);
  // Checked before the calibration's minutes: a directory model makes a new directory (never
  // written into an old one, whose stale files would win over the new ones), a file a file.
  if (codec.active())
    core::check_new_directory(a.out, "--out");
  else
    core::check_output_file(a.out, "--out");
  nmt::Model model = nmt::load_model(paths.model);
  codec.check_vocabulary(model.src_vocab, model.tgt_vocab);
  std::vector<nmt::Ids> sentences;
  std::ifstream in(a.calib);
  if (!in)
    throw core::InputError("cannot read the calibration text", {a.calib, 0, 0, {}},
                           "check the path");
  std::size_t tokens = 0, unknown = 0;
  for (std::string line; std::getline(in, line) &&
                         static_cast<int>(sentences.size()) < a.max_sentences;)
    if (line.find_first_not_of(" \t\r") != std::string::npos) {
      sentences.push_back(nmt::tokens_to_ids(model.src_vocab, model.config, codec.encode(line)));
      tokens += sentences.back().size() - 1;  // EOS not counted
      for (auto id : sentences.back()) unknown += id == model.config.unk_id;
    }
  if (sentences.empty())
    throw core::InputError("the calibration text has no non-empty line", {a.calib, 0, 0, {}},
                           "give source sentences, one per line, tokenized like the input");
  // Ranges measured on <unk> soup would calibrate nothing real.
  if (2 * unknown > tokens)
    throw core::InputError(
        fmt::format("{} of {} calibration tokens are not in the model's vocabulary", unknown,
                    tokens),
        {a.calib, 0, 0, {}},
        codec.active() ? "give source-language text"
                       : "a model file takes pre-tokenized text (its vocabulary's tokens); for raw "
                         "text pass the model directory (model.keel + SentencePiece model)");
  const nmt::Calibration cal = nmt::calibrate(model, sentences, o);
  nmt::Model calibrated = nmt::apply_calibration(std::move(model), cal);
  std::string written = a.out;
  if (codec.active()) {
    // The SentencePiece models and the model's decoding defaults travel with it.
    std::vector<std::filesystem::path> beside = {paths.source_spm, paths.target_spm};
    if (!paths.decoding.empty()) beside.push_back(paths.decoding);
    core::write_new_directory(a.out, "--out", [&](const std::filesystem::path& dir) {
      for (const auto& file : beside)  // one spm.model may serve both sides
        if (!std::filesystem::exists(dir / file.filename()))
          std::filesystem::copy_file(file, dir / file.filename());
      nmt::save_model(calibrated, dir / "model.keel");
      std::vector<std::string> listed = {"model.keel"};
      for (const auto& file : beside)
        if (std::find(listed.begin(), listed.end(), file.filename().string()) == listed.end())
          listed.push_back(file.filename().string());
      core::write_manifest(dir, listed);
    });
    written = (std::filesystem::path(a.out) / "").string();
  } else {
    nmt::save_model(calibrated, a.out);
  }

  int int8 = 0;
  for (const auto& l : cal.layers) int8 += l.int8;
  if (g.json) {
    nlohmann::json j = {{"out", written},
                        {"method", std::string(nmt::to_string(cal.method))},
                        {"sentences", cal.sentences},
                        {"int8_layers", int8},
                        {"layers", nlohmann::json::array()}};
    for (const auto& l : cal.layers)
      j["layers"].push_back({{"name", layer_name(l.scopes)},
                             {"scopes", l.scopes},
                             {"int8", l.int8},
                             {"unsigned", l.is_unsigned},
                             {"threshold", l.threshold},
                             {"max_abs", l.max_abs},
                             {"clipped_fraction", l.clipped_fraction},
                             {"sqnr_db", l.sqnr_db},
                             {"reason", l.reason}});
    print_out(j.dump(2));
    return;
  }
  core::Table t({"layer", "input", "max |x|", "threshold", "clipped", "SQNR dB", "runs"});
  for (const auto& l : cal.layers)
    t.add_row({layer_name(l.scopes), l.is_unsigned ? "u8" : "s8", fmt::format("{:.3g}", l.max_abs),
               fmt::format("{:.3g}", l.threshold), fmt::format("{:.3f}%", 100 * l.clipped_fraction),
               fmt::format("{:.1f}", l.sqnr_db), l.int8 ? "int8" : "fp32"});
  std::string out = fmt::format("calibrated {} on {} sentences ({}): {} of {} layers int8\n\n{}",
                                a.model, cal.sentences, a.method, int8, cal.layers.size(),
                                t.render());
  bool header = false;
  for (const auto& l : cal.layers)
    if (!l.int8) {
      if (!header) out += "\nkept in fp32:\n";
      header = true;
      out += fmt::format("  {}: {}\n", layer_name(l.scopes), l.reason);
    }
  out += fmt::format("\nwrote {} (keel nmt translate uses int8 for it by default)\n", written);
  print_out(out);
}

}  // namespace

void register_nmt_quantize(CLI::App& nmt, const GlobalOptions& global) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* cmd = nmt.add_subcommand(
      "quantize", "Calibrate static int8 activation scales on a text and write the int8 model");
  cmd->add_option("--model", a->model,
                  "fp32 model: a directory (model.keel + SentencePiece), an installed model's "
                  "name, or a model file")
      ->required();
  cmd->add_option("--calib", a->calib,
                  "Calibration text, one source sentence per line: raw text for a model "
                  "directory, pre-tokenized for a model file")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--method", a->method, "Threshold per layer: kl (entropy), percentile, minmax")
      ->check(CLI::IsMember({"kl", "percentile", "minmax"}));
  cmd->add_option("--out", a->out,
                  "Output: a model directory (with the SentencePiece model) for a directory "
                  "--model, else a model file")
      ->required();
  auto* pct = cmd->add_option("--percentile", a->percentile,
                              "Percentile of |x| for --method percentile");
  cmd->add_option("--min-sqnr-db", a->min_sqnr_db,
                  "Keep a layer in fp32 when its estimated SQNR is below this (default 25)")
      ->check(Finite);
  cmd->add_option("--fp32", a->fp32, "Keep layers whose scope starts with this in fp32 "
                                     "(repeatable), e.g. decoder.output");
  cmd->add_option("--max-sentences", a->max_sentences, "Calibration sentences used (default 500)")
      ->check(Positive);
  cmd->add_option("--max-decoding-length", a->max_length, "Target tokens per sentence")
      ->check(Positive);
  cmd->add_option("--bins", a->bins, "Histogram bins of |x| per layer (default 2048)")
      ->check(CLI::Range(256, 1 << 16));
  cmd->add_option("--batch-size", a->batch_size, "Sentences per calibration batch")
      ->check(Positive);
  cmd->callback([a, pct, &global] {
    a->percentile_given = pct->count() > 0;
    run_quantize(*a, global);
  });
}

}  // namespace keel::cli
