// `keel nmt train`: argument parsing and output only; the trainer is keel::nmt::train_nmt.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <memory>

#include "cli.h"
#include "keel/core/progress.h"
#include "keel/nmt_train/trainer.h"

namespace keel::cli {

namespace {

struct TrainArgs {
  nmt::NmtTrainOptions o;
  std::string preset = "small";
  std::uint32_t layers = 0, d_model = 0, heads = 0, ffn = 0;
  bool post_norm = false;
  CLI::Option* epochs = nullptr;
  CLI::Option* max_steps = nullptr;
};

void run_train(TrainArgs& a, const GlobalOptions& g) {
  nmt::NmtTrainOptions o = a.o;
  o.model = nmt::train_preset(a.preset);
  if (a.layers) o.model.encoder_layers = o.model.decoder_layers = a.layers;
  if (a.d_model) o.model.d_model = a.d_model;
  if (a.heads) o.model.heads = a.heads;
  if (a.ffn) o.model.ffn = a.ffn;
  o.model.pre_norm = !a.post_norm;
  if (a.max_steps->count() > 0 && a.epochs->count() == 0) o.epochs = 0;  // steps decide
  o.progress = core::progress_enabled(g.quiet);
  o.verbose = !g.quiet;
  const nmt::NmtTrainResult r = nmt::train_nmt(o);
  const nmt::EpochRecord* last = r.epochs.empty() ? nullptr : &r.epochs.back();
  if (g.json) {
    nlohmann::json j = {{"out", o.out.string()},
                        {"finished", r.finished},
                        {"steps", r.steps},
                        {"epochs", last ? last->epoch : 0},
                        {"parameters", r.parameters},
                        {"vocab", r.vocab},
                        {"train_pairs", r.train_pairs},
                        {"skipped_pairs", r.skipped_pairs},
                        {"dev_pairs", r.dev_pairs},
                        {"threads", r.threads}};
    if (r.finished) j["model"] = r.model_file.string();
    if (last) {
      j["dev_loss"] = last->dev_loss;
      j["dev_ppl"] = std::exp(last->dev_nll);
      j["dev_bleu"] = last->dev_bleu ? nlohmann::json(*last->dev_bleu) : nlohmann::json(nullptr);
      j["tokens_per_s"] = last->tokens_per_s;
    }
    print_out(j.dump(2));
    return;
  }
  if (!r.finished) {
    print_out(
        fmt::format("stopped after step {} as asked; continue with --resume (checkpoint in {})",
                    r.steps, (o.out / "checkpoint.pt").string()));
    return;
  }
  std::string dev;
  if (last)
    dev = fmt::format(": dev ppl {:.2f}, dev BLEU {}", std::exp(last->dev_nll),
                      last->dev_bleu ? fmt::format("{:.2f}", *last->dev_bleu) : "n/a");
  print_out(fmt::format("trained {} steps on {} pairs{}\nwrote {} ({} parameters, vocabulary {})",
                        r.steps, r.train_pairs, dev, r.model_file.string(), r.parameters, r.vocab));
}

}  // namespace

void register_nmt_train(CLI::App& nmt, const GlobalOptions& global) {
  auto a = std::make_shared<TrainArgs>();
  auto& o = a->o;
  auto* tr = nmt.add_subcommand(
      "train", "Train a Transformer (LibTorch) on line-aligned piece files; writes OUT/model.keel");
  tr->add_option("--train-src", o.train_src,
                 "Training source: one sentence of space-separated "
                 "pieces per line")
      ->required();
  tr->add_option("--train-tgt", o.train_tgt, "Training target, line-aligned with --train-src")
      ->required();
  tr->add_option("--dev-src", o.dev_src, "Dev source pieces (loss, greedy decode, BLEU per epoch)")
      ->required();
  tr->add_option("--dev-tgt", o.dev_tgt, "Dev target pieces, line-aligned with --dev-src")
      ->required();
  tr->add_option("--dev-refs", o.dev_refs,
                 "Raw dev references for BLEU (default: --dev-tgt with the pieces joined)");
  tr->add_option("--spm-model", o.spm_model, "SentencePiece model, copied to OUT/spm.model");
  tr->add_option("--out", o.out,
                 "Model directory: model.keel, checkpoint.pt, log.json, epochs.csv, steps.csv")
      ->required()
      ->check(OutputDirectory);
  tr->add_option("--preset", a->preset,
                 "tiny (2+2 layers, d 64, 4 heads, FFN 256), small (3+3, 256, 4, 1024) or base "
                 "(6+6, 512, 8, 2048)")
      ->capture_default_str()
      ->check(CLI::IsMember({"tiny", "small", "base"}));
  tr->add_option("--layers", a->layers, "Encoder and decoder layers (overrides the preset)")
      ->check(Positive);
  tr->add_option("--d-model", a->d_model, "Model width (overrides the preset)")
      ->check(Positive);
  tr->add_option("--heads", a->heads, "Attention heads (overrides the preset)")
      ->check(Positive);
  tr->add_option("--ffn", a->ffn, "Feed-forward width (overrides the preset)")
      ->check(Positive);
  tr->add_flag("--post-norm", a->post_norm, "Post-norm layers (default: pre-norm)");
  tr->add_option("--max-tokens", o.max_tokens, "Tokens per batch, padding counted")
      ->capture_default_str()
      ->check(Positive);
  tr->add_option("--max-length", o.max_length, "Leave out training pairs with a longer side")
      ->capture_default_str()
      ->check(Positive);
  tr->add_option("--lr-peak", o.lr_peak, "Adam learning rate at the end of warmup")
      ->capture_default_str()
      ->check(Positive);
  tr->add_option("--warmup-steps", o.warmup_steps,
                 "Linear warmup steps, then the rate decays as 1/sqrt(step)")
      ->capture_default_str()
      ->check(NonNegative);
  tr->add_option("--label-smoothing", o.label_smoothing, "Label smoothing of the cross entropy")
      ->capture_default_str()
      ->check(Finite & CLI::Range(0.0, 0.99));
  tr->add_option("--clip-norm", o.clip_norm, "Clip the gradient's L2 norm to this (0: off)")
      ->capture_default_str()
      ->check(NonNegative);
  tr->add_option("--dropout", o.dropout, "Dropout on embeddings and residual branches")
      ->capture_default_str()
      ->check(Finite & CLI::Range(0.0, 0.99));
  a->epochs =
      tr->add_option("--epochs", o.epochs, "Epochs (with --max-steps: whichever ends first)")
          ->capture_default_str()
          ->check(Positive);
  a->max_steps = tr->add_option("--max-steps", o.max_steps, "Optimizer steps in all")
                     ->check(Positive);
  tr->add_option("--threads", o.threads, "LibTorch threads (0: all cores)")
      ->capture_default_str()
      ->check(NonNegative);
  tr->add_option("--seed", o.seed, "Seed (weights, batch order, dropout)")
      ->check(NonNegative)
      ->capture_default_str();
  tr->add_flag("--resume", o.resume, "Continue from OUT/checkpoint.pt exactly where it stopped");
  tr->add_option("--checkpoint-every", o.checkpoint_every,
                 "Steps between checkpoints (one also ends every epoch; 0: epochs only)")
      ->capture_default_str()
      ->check(NonNegative);
  tr->add_option("--log-every", o.log_every, "Steps per row of OUT/steps.csv")
      ->capture_default_str()
      ->check(Positive);
  tr->add_option("--stop-after", o.stop_after_steps,
                 "End this run after N steps with a checkpoint (time-limited jobs; then --resume)")
      ->check(Positive);
  tr->add_option("--test-stop-at-step", o.test_stop_at_step)->group("");  // test hooks
  tr->add_option("--test-stop-signals", o.test_stop_signals)->group("");
  tr->callback([a, &global] { run_train(*a, global); });
}

}  // namespace keel::cli
