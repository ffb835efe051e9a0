// `keel mcnn ...`: argument parsing and output only; the engine is keel::mcnn.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <memory>

#include "cli.h"
#include "keel/core/table.h"
#include "keel/core/progress.h"
#include "keel/mcnn/model.h"
#include "keel/mcnn/synth.h"

namespace keel::cli {

namespace {

struct InfoArgs {
  int height = 1024, width = 1280, classes = 13;
};

void run_info(const InfoArgs& a, const GlobalOptions& g) {
  mcnn::check_input_size(a.height, a.width);
  mcnn::ModelShape s{a.height, a.width, a.classes};
  std::int64_t params = mcnn::parameter_count(s);
  double gflop = mcnn::forward_flops(s) / 1e9;
  if (g.json) {
    nlohmann::json j = {{"height", a.height},    {"width", a.width},
                        {"classes", a.classes},  {"parameters", params},
                        {"forward_gflop_per_image", gflop},
                        {"train_gflop_per_image", 3 * gflop}};
    print_out(j.dump(2));
    return;
  }
  core::Table t({"M-CNN", "value"});
  t.add_row({"input", fmt::format("3x{}x{}", a.height, a.width)});
  t.add_row({"classes", std::to_string(a.classes)});
  t.add_row({"parameters", fmt::format("{} ({:.2f} M)", params, static_cast<double>(params) / 1e6)});
  t.add_row({"forward GFLOP/image", fmt::format("{:.1f}", gflop)});
  t.add_row({"training GFLOP/image (~3x forward)", fmt::format("{:.1f}", 3 * gflop)});
  print_out(t.render());
}

void run_synth(const mcnn::SynthOptions& o, const GlobalOptions& g) {
  core::Progress bar("synth", 1, core::progress_enabled(g.quiet), "img");
  auto sum = mcnn::synthesize(o, [&](int done, int total) {
    (void)total;
    bar.update(static_cast<std::uint64_t>(done));
  });
  bar.finish();
  if (g.json) {
    print_out(nlohmann::json{{"out", o.out.string()}, {"images", sum.images},
                             {"classes", sum.classes}, {"compounds", sum.compounds},
                             {"plates", sum.plates}, {"height", o.height}, {"width", o.width}}
                  .dump(2));
  } else {
    print_out(fmt::format("wrote {} images ({} classes, {} compounds, {} plates), {}x{}, to {}",
                          sum.images, sum.classes, sum.compounds, sum.plates, o.height, o.width,
                          o.out.string()));
  }
}

}  // namespace

void register_mcnn(CLI::App& app, const GlobalOptions& global) {
  auto* mcnn = app.add_subcommand("mcnn", "M-CNN trainer for full-resolution microscopy images");
  mcnn->require_subcommand(1);

  auto info_args = std::make_shared<InfoArgs>();
  auto* info = mcnn->add_subcommand("info", "Parameter count and forward GFLOP per image");
  info->add_option("--height", info_args->height, "Input height (multiple of 128)")
      ->capture_default_str();
  info->add_option("--width", info_args->width, "Input width (multiple of 128)")
      ->capture_default_str();
  info->add_option("--classes", info_args->classes, "Output classes")
      ->capture_default_str()->check(CLI::PositiveNumber);
  info->callback([info_args, &global] { run_info(*info_args, global); });

  auto so = std::make_shared<mcnn::SynthOptions>();
  so->metadata = KEEL_BBBC021_METADATA;
  auto* synth = mcnn->add_subcommand(
      "synth", "Write a synthetic dataset in the BBBC021 layout (TIFFs + both CSVs)");
  synth->add_option("--out", so->out, "Output directory")->required();
  synth->add_option("--metadata", so->metadata,
                    "Directory with the real BBBC021_v1_image.csv and BBBC021_v1_moa.csv")
      ->capture_default_str();
  synth->add_option("--height", so->height, "Image height (multiple of 128)")->capture_default_str();
  synth->add_option("--width", so->width, "Image width (multiple of 128)")->capture_default_str();
  synth->add_option("--images-per-class", so->images_per_class, "Images per MOA class")
      ->capture_default_str()->check(CLI::PositiveNumber);
  synth->add_option("--seed", so->seed, "Random seed")->capture_default_str();
  synth->add_option("--threads", so->threads, "Drawing threads (0: all cores)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  synth->callback([so, &global] { run_synth(*so, global); });
}

}  // namespace keel::cli
