// The trainer end to end on a toy task (reverse strings of 16 pieces) with a tiny model: it
// learns, its export decodes on keel's engine exactly as in LibTorch, and --resume continues a
// run bit for bit.
#include <gtest/gtest.h>

#include <fstream>

#include "../support/run_keel.h"
#include "keel/core/error.h"
#include "keel/nmt/transformer.h"
#include "keel/nmt_train/data.h"
#include "keel/nmt_train/torch_transformer.h"
#include "keel/nmt_train/trainer.h"
#include "toy.h"

using namespace keel::nmt;
namespace fs = std::filesystem;

namespace {

NmtTrainOptions toy_options(const fs::path& data, const fs::path& out) {
  NmtTrainOptions o;
  o.train_src = data / "train.src.sp";
  o.train_tgt = data / "train.tgt.sp";
  o.dev_src = data / "dev.src.sp";
  o.dev_tgt = data / "dev.tgt.sp";
  o.out = out;
  o.model = train_preset("tiny");
  o.max_tokens = 300;
  o.lr_peak = 3e-3;
  o.warmup_steps = 50;
  o.dropout = 0.0;
  o.threads = 1;  // a loaded 2-core machine makes 2 OpenMP threads crawl
  o.verbose = false;
  return o;
}

}  // namespace

TEST(NmtTrain, LearnsTheToyTaskAndTheExportDecodesLikeLibTorch) {
  auto data = keel::testing::nmt_temp("toy_learn"), out = data / "model";
  keel::testing::write_toy_task(data, 2000, 40, 7, 1);
  NmtTrainOptions o = toy_options(data, out);
  o.epochs = 0;
  o.max_steps = 300;
  o.checkpoint_every = 0;
  const NmtTrainResult r = train_nmt(o);
  ASSERT_TRUE(r.finished);
  ASSERT_FALSE(r.epochs.empty());
  // A model that learned nothing sits at ln(20) = 3.0 nats per token; this run reaches ~0.15.
  EXPECT_LT(r.epochs.back().dev_nll, 0.4) << "dev ppl " << std::exp(r.epochs.back().dev_nll);
  EXPECT_LT(r.step_losses.back(), r.step_losses.front() / 2);
  ASSERT_TRUE(r.epochs.back().dev_bleu.has_value());
  EXPECT_GT(*r.epochs.back().dev_bleu, 80.0);  // most of the 40 strings come out exactly
  EXPECT_LT(*r.epochs.front().dev_bleu, *r.epochs.back().dev_bleu);

  // keel's engine on the exported file vs LibTorch greedy on the same weights.
  Model m = load_model(out / "model.keel");
  const Vocabulary vocab = m.src_vocab;
  TorchTransformer torch_model(m.config, 1);
  torch_model.load(m);
  const Transformer engine(m, Compute::fp32);
  const ParallelText dev = read_parallel(o.dev_src, o.dev_tgt);
  std::vector<Ids> src;
  for (const auto& line : dev.src) src.push_back(to_ids(line, vocab, m.config, true));
  DecodeOptions d;
  d.max_length = 30;
  const auto ours = torch_model.greedy(src, d.max_length), theirs = engine.greedy(src, d);
  EXPECT_EQ(ours, theirs);
  int exact = 0;
  for (std::size_t i = 0; i < src.size(); ++i) {
    std::string line;
    for (auto id : theirs[i]) line += (line.empty() ? "" : " ") + vocab.token(id);
    EXPECT_EQ(line, r.dev_hypotheses[i]);  // the trainer's own dev decode
    exact += line == dev.tgt[i];
  }
  EXPECT_GE(exact, 30) << "of 40 dev strings reversed exactly";
  for (const char* f : {"log.json", "epochs.csv", "steps.csv", "checkpoint.pt"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  fs::remove_all(data);
}

TEST(NmtTrain, ResumeContinuesBitForBit) {
  auto data = keel::testing::nmt_temp("toy_resume");
  keel::testing::write_toy_task(data, 300, 10, 8, 2);
  auto run = [&](const fs::path& out, std::int64_t stop_after, bool resume) {
    NmtTrainOptions o = toy_options(data, out);
    o.epochs = 0;
    o.max_steps = 30;  // about three epochs of about ten batches: resume crosses epoch ends
    o.dropout = 0.1;   // the dropout RNG must be restored too
    o.checkpoint_every = 7;
    o.log_every = 5;
    o.stop_after_steps = stop_after;
    o.resume = resume;
    return train_nmt(o);
  };
  const NmtTrainResult whole = run(data / "whole", 0, false);
  ASSERT_TRUE(whole.finished);
  ASSERT_EQ(whole.step_losses.size(), 30u);
  ASSERT_GE(whole.epochs.size(), 3u);

  NmtTrainResult part = run(data / "parts", 12, false);  // mid-epoch, between checkpoints
  EXPECT_FALSE(part.finished);
  EXPECT_EQ(part.steps, 12);
  part = run(data / "parts", 9, true);
  EXPECT_EQ(part.steps, 21);
  part = run(data / "parts", 0, true);
  ASSERT_TRUE(part.finished);

  EXPECT_EQ(part.step_losses, whole.step_losses);  // exactly, not within a tolerance
  ASSERT_EQ(part.epochs.size(), whole.epochs.size());
  for (std::size_t i = 0; i < whole.epochs.size(); ++i) {
    EXPECT_EQ(part.epochs[i].train_loss, whole.epochs[i].train_loss);
    EXPECT_EQ(part.epochs[i].dev_loss, whole.epochs[i].dev_loss);
  }
  ASSERT_EQ(part.log.size(), whole.log.size());
  for (std::size_t i = 0; i < whole.log.size(); ++i) EXPECT_EQ(part.log[i].loss, whole.log[i].loss);
  EXPECT_EQ(keel::testing::read_all(data / "parts" / "model.keel"),
            keel::testing::read_all(data / "whole" / "model.keel"));

  // Resuming with other options is refused, naming what differs.
  NmtTrainOptions o = toy_options(data, data / "parts");
  o.resume = true;
  o.max_steps = 40;
  o.seed = 9;
  try {
    train_nmt(o);
    ADD_FAILURE() << "resume with another seed was accepted";
  } catch (const keel::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("seed"), std::string::npos) << e.what();
  }
  fs::remove_all(data);
}
