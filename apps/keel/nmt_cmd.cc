// `keel nmt ...`: argument parsing and output only; the engine is keel::nmt.
#include <fmt/format.h>

#include <memory>

#include "cli.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/nmt/model.h"

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
    print_out(fmt::format(R"({{"out": "{}", "preset": "{}", "seed": {}, "parameters": {}}})",
                          a.out, a.preset, a.seed, params));
  else if (!g.quiet)
    print_out(fmt::format("wrote {} ({} preset, {} parameters, seed {})", a.out, a.preset, params,
                          a.seed));
}

}  // namespace

void register_nmt(CLI::App& app, const GlobalOptions& global) {
  auto* nmt = app.add_subcommand("nmt", "Transformer translation inference (fp32 / int8 on VNNI)");
  nmt->require_subcommand(1);

  auto rm = std::make_shared<RandomModelArgs>();
  auto* random = nmt->add_subcommand(
      "random-model", "Write a model file with random weights (to measure speed before training)");
  random->add_option("--preset", rm->preset,
                     "base (6+6 layers, d_model 512, 8 heads, FFN 2048, 32 000 shared vocab) or "
                     "tiny (2+2 layers, d_model 32; for tests)")
      ->check(CLI::IsMember({"base", "tiny"}));
  random->add_option("--out", rm->out, "Model file to write")->required();
  random->add_option("--seed", rm->seed, "Random seed (same seed, same file)");
  random->callback([rm, &global] { run_random_model(*rm, global); });
}

}  // namespace keel::cli
