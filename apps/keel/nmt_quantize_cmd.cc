// `keel nmt quantize`: static int8 calibration of a model (keel::nmt::calibrate).
#include <fmt/format.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "keel/core/error.h"
#include "keel/core/table.h"
#include "keel/nmt/calibrate.h"
#include "keel/nmt/translator.h"

namespace keel::cli {

namespace {

struct QuantizeArgs {
  std::string model, calib, method = "percentile", out;
  double percentile = 99.999, min_sqnr_db = 25;
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
  nmt::Model model = nmt::load_model(a.model);
  std::vector<nmt::Ids> sentences;
  std::ifstream in(a.calib);
  if (!in)
    throw core::InputError("cannot read the calibration text", {a.calib, 0, 0, {}},
                           "check the path");
  for (std::string line; std::getline(in, line) &&
                         static_cast<int>(sentences.size()) < a.max_sentences;)
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      sentences.push_back(nmt::tokens_to_ids(model.src_vocab, model.config, line));
  if (sentences.empty())
    throw core::InputError("the calibration text has no non-empty line", {a.calib, 0, 0, {}},
                           "give source sentences, one per line, tokenized like the input");
  const nmt::Calibration cal = nmt::calibrate(model, sentences, o);
  nmt::save_model(nmt::apply_calibration(std::move(model), cal), a.out);

  int int8 = 0;
  for (const auto& l : cal.layers) int8 += l.int8;
  if (g.json) {
    nlohmann::json j = {{"out", a.out},
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
  out += fmt::format("\nwrote {} (translate it with --compute int8)\n", a.out);
  print_out(out);
}

}  // namespace

void register_nmt_quantize(CLI::App& nmt, const GlobalOptions& global) {
  auto a = std::make_shared<QuantizeArgs>();
  auto* cmd = nmt.add_subcommand(
      "quantize", "Calibrate static int8 activation scales on a text and write the int8 model");
  cmd->add_option("--model", a->model, "Model file (fp32)")->required()->check(CLI::ExistingFile);
  cmd->add_option("--calib", a->calib,
                  "Calibration text: source sentences, one per line, tokenized like the input")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--method", a->method, "Threshold per layer: kl (entropy), percentile, minmax")
      ->check(CLI::IsMember({"kl", "percentile", "minmax"}));
  cmd->add_option("--out", a->out, "Output model file")->required();
  cmd->add_option("--percentile", a->percentile, "Percentile of |x| for --method percentile");
  cmd->add_option("--min-sqnr-db", a->min_sqnr_db,
                  "Keep a layer in fp32 when its estimated SQNR is below this (default 25)");
  cmd->add_option("--fp32", a->fp32, "Keep layers whose scope starts with this in fp32 "
                                     "(repeatable), e.g. decoder.output");
  cmd->add_option("--max-sentences", a->max_sentences, "Calibration sentences used (default 500)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-decoding-length", a->max_length, "Target tokens per sentence")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--bins", a->bins, "Histogram bins of |x| per layer (default 2048)")
      ->check(CLI::Range(256, 1 << 16));
  cmd->add_option("--batch-size", a->batch_size, "Sentences per calibration batch")
      ->check(CLI::PositiveNumber);
  cmd->callback([a, &global] { run_quantize(*a, global); });
}

}  // namespace keel::cli
