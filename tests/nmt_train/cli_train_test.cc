// `keel nmt train` as a user runs it (keel hands it to keel-train): a short run from a real
// SentencePiece model whose directory the translator then loads, and bad input as one clear
// error line. This binary links SentencePiece, never LibTorch (they cannot share a process).
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <thread>
#include <random>
#include <utility>
#include <vector>

#include "../support/run_keel.h"
#include "../support/spawn_keel.h"
#include "keel/nmt/model.h"
#include "keel/nmt/sentencepiece.h"
#include "toy.h"

using keel::testing::count_lines;
using keel::testing::run_keel;
namespace fs = std::filesystem;

namespace {

// Writes DIR/{train,dev}.{src,tgt} (raw: 3..7 words of a 24-word list, the target in reverse
// order), spm.model trained on them, and the .sp piece files it makes of them: the layout
// `keel nmt corpus` writes.
void write_toy_spm_task(const std::filesystem::path& dir, int pairs, int dev, unsigned seed) {
  static const char* words[] = {"red",   "green", "blue",  "cat",   "dog",  "house",
                                "tree",  "river", "sings", "walks", "sees", "eats",
                                "big",   "small", "old",   "new",   "the",  "a",
                                "under", "over",  "fast",  "slow",  "day",  "night"};
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  std::vector<std::string> all;
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> splits = {
      {"train", {}}, {"dev", {}}};
  for (auto& [split, lines] : splits) {
    const int n = split == "train" ? pairs : dev;
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> w(3 + rng() % 5);
      for (auto& x : w) x = words[rng() % 24];
      std::string src, tgt;
      for (std::size_t k = 0; k < w.size(); ++k) {
        src += (k ? " " : "") + w[k];
        tgt += (k ? " " : "") + w[w.size() - 1 - k];
      }
      all.push_back(src);
      all.push_back(tgt);
      lines.emplace_back(src, tgt);
    }
  }
  keel::nmt::SentencePieceTrainOptions o;
  o.vocab_size = 40;
  std::ofstream(dir / "spm.model", std::ios::binary) << keel::nmt::train_sentencepiece(all, o);
  const auto sp = keel::nmt::SentencePiece::load(dir / "spm.model");
  for (const auto& [split, lines] : splits) {
    std::ofstream src(dir / (split + ".src")), tgt(dir / (split + ".tgt")),
        src_sp(dir / (split + ".src.sp")), tgt_sp(dir / (split + ".tgt.sp"));
    for (const auto& [s, t] : lines) {
      src << s << '\n';
      tgt << t << '\n';
      src_sp << sp.encode_line(s) << '\n';
      tgt_sp << sp.encode_line(t) << '\n';
    }
  }
}

std::string files(const fs::path& d, const std::string& train_src = "train.src.sp",
                  const std::string& train_tgt = "train.tgt.sp") {
  return " --train-src " + (d / train_src).string() + " --train-tgt " + (d / train_tgt).string() +
         " --dev-src " + (d / "dev.src.sp").string() + " --dev-tgt " + (d / "dev.tgt.sp").string();
}
}  // namespace

TEST(CliNmtTrain, ShortRunWritesAModelDirectoryTheTranslatorLoads) {
  auto d = keel::testing::nmt_temp("cli_short");
  write_toy_spm_task(d, 200, 5, 3);
  auto out = d / "model";
  auto r =
      run_keel("nmt train" + files(d) + " --out " + out.string() +
               " --preset tiny --max-steps 6 --threads 1 --max-tokens 300 --spm-model " +
               (d / "spm.model").string() + " --dev-refs " + (d / "dev.tgt").string() + " --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("\"steps\": 6"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"dev_bleu\": "), std::string::npos) << r.out;
  auto m = keel::nmt::load_model(out / "model.keel");
  EXPECT_EQ(m.config.d_model, 64u);
  EXPECT_EQ(m.src_vocab.tokens(), keel::nmt::SentencePiece::load(d / "spm.model").pieces());
  EXPECT_TRUE(fs::exists(out / "spm.model"));
  // The directory is a model directory: raw text in, raw text out, one line per line.
  r = keel::testing::run_shell("( " + std::string(KEEL_BINARY) +
                               " nmt translate --max-decoding-length 8 --model " + out.string() +
                               " <" + (d / "dev.src").string() + " )");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 5) << r.out;
  // A second run into the same directory must not silently restart.
  r = run_keel("nmt train" + files(d) + " --out " + out.string() + " --preset tiny --max-steps 6");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--resume"), std::string::npos) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  fs::remove_all(d);
}

TEST(CliNmtTrain, BadInputIsOneErrorLine) {
  auto d = keel::testing::nmt_temp("cli_bad");
  keel::testing::write_toy_task(d, 20, 5, 6, 4);
  std::ofstream(d / "short.sp") << "\xe2\x96\x81"
                                   "a\n";
  std::ofstream(d / "empty.sp");
  const auto out = " --out " + (d / "out").string() + " --preset tiny --max-steps 2";
  struct Case {
    std::string args, expect;
  } cases[] = {
      {files(d, "train.src.sp", "short.sp"), "20 lines here but 1"},
      {files(d, "empty.sp", "empty.sp"), "file is empty"},
      {files(d, "missing.sp", "train.tgt.sp"), "missing.sp: file not found"},
  };
  for (const auto& c : cases) {
    auto r = run_keel("nmt train" + c.args + out);
    EXPECT_EQ(r.rc, 2) << c.args;
    EXPECT_NE(r.err.find("keel: error:"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_FALSE(fs::exists(d / "out" / "model.keel"));
  }
  auto r = run_keel("nmt train" + files(d) + out + " --resume");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("nothing to resume"), std::string::npos) << r.err;
  // --out naming a file: refused when the flags are read (was a raw filesystem error, exit 1).
  r = run_keel("nmt train" + files(d) + " --out " + (d / "empty.sp").string() + " --preset tiny");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("is a file, not a directory"), std::string::npos) << r.err;
  // A width the heads do not divide: the hint is about the flags, not an exporter.
  r = run_keel("nmt train" + files(d) + out + " --d-model 10 --heads 3");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--d-model a multiple of --heads"), std::string::npos) << r.err;
  for (const std::string flag : {" --lr-peak inf", " --seed -1"}) {
    r = run_keel("nmt train" + files(d) + out + flag);
    EXPECT_EQ(r.rc, 2) << flag;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
  }
  fs::remove_all(d);
}

// Ctrl-C (SIGINT) during training: the step finishes, a checkpoint is written, the message says
// how to continue, exit 130; the resumed run ends where an uninterrupted one does. A second
// Ctrl-C quits at once without writing.
TEST(CliNmtTrain, CtrlCSavesAndResumesExactly) {
  auto d = keel::testing::nmt_temp("cli_sigint");
  write_toy_spm_task(d, 200, 5, 4);
  const std::string base = "nmt train" + files(d) +
                           " --preset tiny --max-steps 8 --threads 1 --max-tokens 300 --json --out ";
  auto whole = run_keel(base + (d / "whole").string());
  ASSERT_EQ(whole.rc, 0) << whole.err;
  auto stopped = run_keel(base + (d / "cut").string() + " --test-stop-at-step 3");
  EXPECT_EQ(stopped.rc, 130) << stopped.err;
  EXPECT_NE(stopped.err.find("after step 3"), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("--resume"), std::string::npos) << stopped.err;
  EXPECT_TRUE(fs::exists(d / "cut" / "checkpoint.pt"));
  auto resumed = run_keel(base + (d / "cut").string() + " --resume");
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  // Bit-identical weights: every tensor of the exported models is equal.
  auto a = keel::nmt::load_model(d / "whole" / "model.keel"),
       b = keel::nmt::load_model(d / "cut" / "model.keel");
  for (const auto& [name, t] : a.tensors) EXPECT_EQ(t.f32, b.tensors.at(name).f32) << name;
  auto twice = run_keel(base + (d / "quit").string() + " --test-stop-at-step 2 --test-stop-signals 2");
  EXPECT_EQ(twice.rc, 130);
  EXPECT_FALSE(fs::exists(d / "quit" / "checkpoint.pt"));
  fs::remove_all(d);
}

// kill -9 at random moments while training with checkpoints after every step: each following
// run resumes from the last complete checkpoint (never a half-written one), and the run that
// finally completes leaves no temporary behind.
TEST(CliNmtTrain, KillNineAtRandomMomentsThenEveryResumeWorks) {
  auto d = keel::testing::nmt_temp("cli_kill");
  write_toy_spm_task(d, 200, 5, 5);
  const auto out = d / "m", log = d / "log.txt";
  const std::string base = "nmt train" + files(d) +
                           " --preset tiny --epochs 1000 --threads 1 --max-tokens 300"
                           " --checkpoint-every 1 --out " + out.string();
  ASSERT_EQ(run_keel(base + " --max-steps 2").rc, 0);  // a first checkpoint to resume from
  std::mt19937 rng(23);
  for (int i = 0; i < 20; ++i) {
    const pid_t pid = keel::testing::spawn_keel(base + " --resume", log);
    // The kill comes at a random moment: loading, mid-step, mid-checkpoint-write.
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 900));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status)) << "run " << i << " ended on its own:\n"
                                     << keel::testing::read_all(log);
  }
  auto last = run_keel(base + " --resume --stop-after 1");
  EXPECT_EQ(last.rc, 0) << last.err;
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  fs::remove_all(d);
}
