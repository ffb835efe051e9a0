// `keel nmt import`: a model trained elsewhere → a keel model directory (keel/nmt/import.h).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "keel/core/atomic_file.h"
#include "keel/core/error.h"
#include "keel/nmt/import.h"

namespace keel::cli {

namespace {

struct ImportArgs {
  std::string from, source, out, spm, source_spm, target_spm;
};

// The SentencePiece models of a CTranslate2 directory or OpenNMT-py checkpoint: the flags, else
// source.spm + target.spm or sentencepiece.model in the directory (beside the checkpoint), else
// sentencepiece.model beside it (an Argos Translate package).
std::pair<std::filesystem::path, std::filesystem::path> given_spm(const ImportArgs& a) {
  namespace fs = std::filesystem;
  if (!a.source_spm.empty() || !a.target_spm.empty()) {
    if (a.source_spm.empty() || a.target_spm.empty())
      throw core::InputError("--source-spm and --target-spm go together", {}, "pass both, or --spm for one joint model");
    return {a.source_spm, a.target_spm};
  }
  if (!a.spm.empty()) return {a.spm, a.spm};
  const fs::path dir = fs::is_directory(a.source) ? fs::path(a.source) : fs::path(a.source).parent_path();
  if (fs::exists(dir / "source.spm") && fs::exists(dir / "target.spm")) return {dir / "source.spm", dir / "target.spm"};
  for (const fs::path& p : {dir / "sentencepiece.model", dir.parent_path() / "sentencepiece.model"})
    if (fs::exists(p)) return {p, p};
  throw core::InputError("no SentencePiece model found for this model",
                         core::Location{dir.string(), 0, 0, {}},
                         "pass --spm FILE (one joint model) or --source-spm and --target-spm");
}

const char* activation_name(nmt::Activation a) {
  switch (a) {
    case nmt::Activation::relu: return "relu";
    case nmt::Activation::gelu: return "gelu";
    case nmt::Activation::swish: return "swish";
    case nmt::Activation::gelu_tanh: return "gelu (tanh)";
  }
  return "?";
}

void run_import(const ImportArgs& a, const GlobalOptions& g) {
  core::check_new_directory(a.out, "--out");  // before reading the source model
  nmt::ImportSummary s;
  if (a.from == "marian-hf") {
    s = nmt::import_marian_hf(a.source, a.out);
  } else if (a.from == "ctranslate2") {
    const auto [src, tgt] = given_spm(a);
    s = nmt::import_ctranslate2(a.source, src, tgt, a.out);
  } else {
    const auto [src, tgt] = given_spm(a);
    s = nmt::import_opennmt_py(a.source, src, tgt, a.out);
  }
  const auto& c = s.config;
  if (g.json) {
    print_out(nlohmann::json{{"out", a.out},
                             {"from", a.from},
                             {"weights", s.weights_file},
                             {"tensors", s.tensors},
                             {"parameters", s.parameters},
                             {"encoder_layers", c.encoder_layers},
                             {"decoder_layers", c.decoder_layers},
                             {"d_model", c.d_model},
                             {"heads", c.heads},
                             {"ffn", c.ffn},
                             {"vocab", {c.src_vocab, c.tgt_vocab}},
                             {"activation", activation_name(c.activation)},
                             {"beam_size", s.decoding.beam_size}}
                  .dump());
  } else if (!g.quiet) {
    print_out(fmt::format(
        "wrote {} from {} ({}): {} parameters, {}+{} layers, d_model {}, {} heads, FFN {} ({}), "
        "vocabularies {}/{}{}; decoding defaults: beam {}, at most {} tokens",
        a.out, a.source, a.from, s.parameters, c.encoder_layers, c.decoder_layers, c.d_model, c.heads,
        c.ffn, activation_name(c.activation), c.src_vocab, c.tgt_vocab,
        c.shared_embeddings ? " (shared)" : "", s.decoding.beam_size, s.decoding.max_length));
  }
}

}  // namespace

void register_nmt_import(CLI::App& nmt, const GlobalOptions& global) {
  auto a = std::make_shared<ImportArgs>();
  auto* cmd = nmt.add_subcommand(
      "import",
      "Convert a model trained elsewhere into a keel model directory (then translate, quantize, "
      "bench and serve use it)");
  cmd->add_option("--from", a->from,
                  "Source format: marian-hf (a Hugging Face MarianMT / OPUS-MT directory with "
                  "model.safetensors or pytorch_model.bin), ctranslate2 (a CTranslate2 model "
                  "directory, as Argos Translate and LibreTranslate install) or opennmt-py (an "
                  "OpenNMT-py 3.x Transformer checkpoint, .pt)")
      ->required()
      ->check(CLI::IsMember({"marian-hf", "ctranslate2", "opennmt-py"}));
  cmd->add_option("source", a->source, "The model's directory (the checkpoint file for opennmt-py)")->required();
  cmd->add_option("--out", a->out, "Model directory to create (must not exist)")->required();
  cmd->add_option("--spm", a->spm,
                  "ctranslate2, opennmt-py: the joint SentencePiece model (default: sentencepiece.model in or "
                  "beside the directory)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--source-spm", a->source_spm, "ctranslate2, opennmt-py: the source SentencePiece model")
      ->check(CLI::ExistingFile);
  cmd->add_option("--target-spm", a->target_spm, "ctranslate2, opennmt-py: the target SentencePiece model")
      ->check(CLI::ExistingFile);
  cmd->callback([a, &global] { run_import(*a, global); });
}

}  // namespace keel::cli
