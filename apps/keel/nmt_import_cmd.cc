// `keel nmt import`: a model trained elsewhere → a keel model directory (keel/nmt/import.h).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "cli.h"
#include "keel/nmt/import.h"

namespace keel::cli {

namespace {

struct ImportArgs {
  std::string from, source, out;
};

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
  const nmt::ImportSummary s = nmt::import_marian_hf(a.source, a.out);
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
                  "model.safetensors)")
      ->required()
      ->check(CLI::IsMember({"marian-hf"}));
  cmd->add_option("source", a->source, "The model's directory")->required();
  cmd->add_option("--out", a->out, "Model directory to create (must not exist)")->required();
  cmd->callback([a, &global] { run_import(*a, global); });
}

}  // namespace keel::cli
