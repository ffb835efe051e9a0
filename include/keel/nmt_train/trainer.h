#pragma once
// `keel nmt train`: a Transformer trained in LibTorch on line-aligned piece files, exported as
// keel's model file. Adam with inverse-sqrt warmup, label smoothing, token-budget batches,
// gradient clipping; atomic checkpoints from which --resume continues exactly (same batches,
// optimizer state and dropout RNG), per-epoch dev loss, greedy decode and BLEU.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "keel/nmt/model.h"

namespace keel::nmt {

// Model sizes `--preset` names: tiny (2+2 layers, d 64, 4 heads, FFN 256; tests),
// small (3+3, d 256, 4 heads, FFN 1024), base (6+6, d 512, 8 heads, FFN 2048). Vocabulary
// sizes are set from the data. Throws InputError for another name.
ModelConfig train_preset(const std::string& name);

struct NmtTrainOptions {
  std::filesystem::path train_src, train_tgt, dev_src, dev_tgt;
  std::filesystem::path dev_refs;  // raw reference text for BLEU; default: dev_tgt detokenized
  // The SentencePiece model of the pieces. When given, its pieces (in id order) are the
  // vocabulary and it is copied to out/spm.model, so that out/ is a model directory the
  // translator loads. Without it the vocabulary is built from the training pieces.
  std::filesystem::path spm_model;
  std::filesystem::path out;  // model.keel, checkpoint.pt, log.json, steps.csv, epochs.csv
  ModelConfig model = train_preset("small");  // vocabulary sizes are replaced
  std::int64_t max_tokens = 4096;             // per batch, padding counted
  std::size_t max_length = 256;               // training pairs with a longer side are left out
  double lr_peak = 7e-4;
  std::int64_t warmup_steps = 4000;
  double label_smoothing = 0.1, clip_norm = 1.0, dropout = 0.1;
  int epochs = 10;             // 0: until max_steps
  std::int64_t max_steps = 0;  // 0: until epochs
  int threads = 0;             // LibTorch (and OpenMP) threads; 0: all cores
  std::uint64_t seed = 1;
  bool resume = false;                   // continue from out/checkpoint.pt
  std::int64_t checkpoint_every = 1000;  // steps; a checkpoint also ends every epoch
  std::int64_t stop_after_steps = 0;     // end this run after N steps (then --resume); 0: never
  std::int64_t test_stop_at_step = 0;    // test hook: act as if Ctrl-C arrived after step N
  int test_stop_signals = 1;             // ... this many times (2: the second quits at once)
  std::int64_t log_every = 100;          // steps per row of steps.csv
  bool progress = false;                 // progress bar on stderr
  bool verbose = true;                   // a log line per epoch
};

struct EpochRecord {
  int epoch = 0;  // 1-based
  std::int64_t step = 0;
  double lr = 0, train_loss = 0, train_nll = 0, dev_loss = 0, dev_nll = 0;
  std::optional<double> dev_bleu;  // sacreBLEU-compatible; absent when it could not be scored
  double tokens_per_s = 0, seconds = 0;
};

struct StepRecord {  // one row of steps.csv: means over the last log_every steps
  std::int64_t step = 0;
  int epoch = 0;
  double lr = 0, loss = 0, nll = 0, tokens_per_s = 0;
};

struct NmtTrainResult {
  std::vector<EpochRecord> epochs;  // including those before a resume
  std::vector<StepRecord> log;
  std::vector<double> step_losses;  // per optimizer step: mean smoothed loss per token
  std::int64_t steps = 0, parameters = 0;
  std::size_t vocab = 0, train_pairs = 0, skipped_pairs = 0, dev_pairs = 0;
  std::vector<std::string> dev_hypotheses;  // last dev decode (pieces), by keel's engine
  std::filesystem::path model_file;         // out/model.keel, written when the run ended
  bool finished = false;                    // false when stop_after_steps ended the run early
  int threads = 1;
};

// Throws InputError for bad input (files, options, a checkpoint that does not match).
NmtTrainResult train_nmt(const NmtTrainOptions& options);

}  // namespace keel::nmt
