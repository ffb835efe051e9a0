// `keel mcnn train` end to end on a tiny synthetic dataset (128x128, 39 images): resume equals an
// uninterrupted run, 2 MPI ranks follow 1 process, the timeline is valid, bad input exits 2.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "../support/run_keel.h"
#include "keel/core/timeline.h"

namespace keel::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// 1 vs 2 ranks differ only in float summation order (batch split, allreduce): measured 4e-7
// absolute on losses ~2.5 over 12 steps.
constexpr double kRankTolerance = 1e-5;  // relative, per step loss and weight fingerprint
// A resumed run restores weights, momentum, epoch, step and RNG: it should be bit-identical with
// one thread; allow only rounding-level noise.
constexpr double kResumeTolerance = 1e-9;

class McnnTrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ =
        new fs::path(fs::temp_directory_path() / ("keel_mcnn_train_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    auto r = run_keel(
        "mcnn synth --quiet --height 128 --width 128 --images-per-class 3 --seed 5 --out " +
        dir_->string());
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string common(int epochs = 2, int batch = 4, const char* lr = "0.01") {
    return "mcnn train --quiet --data " + dir_->string() + " --epochs " + std::to_string(epochs) +
           " --batch " + std::to_string(batch) + " --lr " + lr +
           " --reference-batch 4 --warmup-epochs 1 --threads 1 ";
  }
  static json read_json(const fs::path& p) { return json::parse(read_all(p)); }
  static fs::path* dir_;
};
fs::path* McnnTrain::dir_ = nullptr;

// Like run_keel, for a whole command line (here: mpirun ... keel ...).
RunResult run_shell(const std::string& cmd) {
  auto tmp = fs::temp_directory_path() / ("keel_mpi_" + std::to_string(::getpid()));
  std::string full = cmd + " >" + tmp.string() + ".out 2>" + tmp.string() + ".err </dev/null";
  int status = std::system(full.c_str());
  RunResult r;
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_all(tmp.string() + ".out");
  r.err = read_all(tmp.string() + ".err");
  fs::remove(tmp.string() + ".out");
  fs::remove(tmp.string() + ".err");
  return r;
}

bool close(double a, double b, double rel) {
  return std::abs(a - b) <= rel * std::max(1.0, std::abs(a));
}

TEST_F(McnnTrain, ResumeReachesTheSameWeightsAsAnUninterruptedRun) {
  const fs::path d = *dir_;
  auto full = run_keel(common() + "--log " + (d / "full.json").string() + " --checkpoint " +
                       (d / "full.ckpt").string());
  ASSERT_EQ(full.rc, 0) << full.err;
  auto first = run_keel(common() + "--stop-after 1 --checkpoint " + (d / "part.ckpt").string());
  ASSERT_EQ(first.rc, 0) << first.err;
  auto rest = run_keel(common() + "--resume --log " + (d / "resumed.json").string() +
                       " --checkpoint " + (d / "part.ckpt").string());
  ASSERT_EQ(rest.rc, 0) << rest.err;
  json a = read_json(d / "full.json"), b = read_json(d / "resumed.json");
  ASSERT_EQ(a["epochs"].size(), 2u);
  ASSERT_EQ(b["epochs"].size(), 2u);  // the history travels in the checkpoint
  ASSERT_EQ(a["step_losses"].size(), b["step_losses"].size());
  for (const char* k : {"train_loss", "val_loss", "param_sum", "param_l2"})
    EXPECT_TRUE(close(a["epochs"][1][k], b["epochs"][1][k], kResumeTolerance))
        << k << " " << a["epochs"][1][k] << " vs " << b["epochs"][1][k];
  // eval on the held-out split of that run: 13 images (one per class), a full confusion matrix.
  auto ev = run_keel("mcnn eval --json --threads 1 --data " + d.string() + " --checkpoint " +
                     (d / "full.ckpt").string());
  ASSERT_EQ(ev.rc, 0) << ev.err;
  json e = json::parse(ev.out);
  EXPECT_EQ(e["images"], 13);
  int total = 0;
  for (const auto& row : e["confusion"])
    for (const auto& v : row) total += v.get<int>();
  EXPECT_EQ(total, 13);
  EXPECT_GT(e["nsc_treatments"].get<int>(), 0);
  // The run did train: the weights moved and the loss is finite.
  EXPECT_NE(a["epochs"][0]["param_sum"], a["epochs"][1]["param_sum"]);
  EXPECT_TRUE(std::isfinite(a["epochs"][1]["train_loss"].get<double>()));
}

TEST_F(McnnTrain, Bf16ResumeReachesTheSameWeightsAndEvalUsesBf16) {
  const fs::path d = *dir_;
  const std::string bf = common() + "--precision bf16 ";
  auto full = run_keel(bf + "--log " + (d / "bf_full.json").string() + " --checkpoint " +
                       (d / "bf_full.ckpt").string());
  ASSERT_EQ(full.rc, 0) << full.err;
  auto first = run_keel(bf + "--stop-after 1 --checkpoint " + (d / "bf_part.ckpt").string());
  ASSERT_EQ(first.rc, 0) << first.err;
  auto rest = run_keel(bf + "--resume --log " + (d / "bf_resumed.json").string() +
                       " --checkpoint " + (d / "bf_part.ckpt").string());
  ASSERT_EQ(rest.rc, 0) << rest.err;
  json a = read_json(d / "bf_full.json"), b = read_json(d / "bf_resumed.json");
  EXPECT_EQ(a["config"]["precision"], "bf16");
  ASSERT_EQ(b["epochs"].size(), 2u);
  for (const char* k : {"train_loss", "val_loss", "param_sum", "param_l2"})
    EXPECT_TRUE(close(a["epochs"][1][k], b["epochs"][1][k], kResumeTolerance))
        << k << " " << a["epochs"][1][k] << " vs " << b["epochs"][1][k];
  EXPECT_TRUE(std::isfinite(a["epochs"][1]["train_loss"].get<double>()));
  // eval runs the held-out split in the checkpoint's precision (bf16) by default.
  auto ev = run_keel("mcnn eval --json --threads 1 --data " + d.string() + " --checkpoint " +
                     (d / "bf_full.ckpt").string());
  ASSERT_EQ(ev.rc, 0) << ev.err;
  EXPECT_EQ(json::parse(ev.out)["images"], 13);
  auto bad = run_keel(common() + "--precision fp16");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_EQ(count_lines(bad.err), 1) << bad.err;
}

TEST_F(McnnTrain, TwoMpiRanksFollowOneProcessAndWriteATimeline) {
  const fs::path d = *dir_;
  // At LR 0.01 the first full-LR step (epoch 2) amplifies the summation-order differences from
  // 1e-7 to 1e-4 on this tiny set (the loss rises: the run is unstable); 0.003 trains stably and
  // keeps 1 and 2 ranks within 1e-7.
  const std::string args = common(2, 4, "0.003");
  auto one = run_keel(args + "--log " + (d / "r1.json").string());
  ASSERT_EQ(one.rc, 0) << one.err;
  // MALLOC_ variables: glibc would otherwise unmap and re-fault MPI buffers (MEASURED.md);
  // no leak check: OpenMPI's own allocations would fail an ASan build.
  const std::string env =
      "MALLOC_MMAP_THRESHOLD_=1099511627776 MALLOC_TRIM_THRESHOLD_=1099511627776 "
      "ASAN_OPTIONS=detect_leaks=0";
  auto two = run_shell("env " + env +
                       " " KEEL_MPIEXEC
                       " --allow-run-as-root --oversubscribe --bind-to none -np 2"
                       " -x MALLOC_MMAP_THRESHOLD_ -x MALLOC_TRIM_THRESHOLD_ -x ASAN_OPTIONS " +
                       std::string(KEEL_BINARY) + " " + args + "--log " +
                       (d / "r2.json").string() + " --timeline " + (d / "tl.csv").string());
  ASSERT_EQ(two.rc, 0) << two.err;
  json a = read_json(d / "r1.json"), b = read_json(d / "r2.json");
  EXPECT_EQ(b["config"]["ranks"], 2);
  ASSERT_EQ(a["step_losses"].size(), 12u);
  ASSERT_EQ(b["step_losses"].size(), 12u);
  for (std::size_t i = 0; i < 12; ++i)
    EXPECT_TRUE(close(a["step_losses"][i], b["step_losses"][i], kRankTolerance))
        << "step " << i << ": " << a["step_losses"][i] << " vs " << b["step_losses"][i];
  for (const char* k : {"val_loss", "param_sum", "param_l2"})
    EXPECT_TRUE(close(a["epochs"][1][k], b["epochs"][1][k], kRankTolerance)) << k;
  // Both phases are timed and logged (the allreduce share is what 2 ranks pay per step).
  EXPECT_GT(b["epochs"][1]["compute_s"].get<double>(), 0.0);
  EXPECT_GT(b["epochs"][1]["comm_s"].get<double>(), 0.0);
  auto tl = core::read_timeline_csv(d / "tl.csv");
  ASSERT_EQ(tl.size(), 2u * 12u * 2u);  // ranks x steps x {compute, comm}
  int rank1 = 0;
  for (const auto& r : tl) rank1 += r.rank == 1;
  EXPECT_EQ(rank1, 24);
}

// Overlapped bucket allreduces (started from gradient hooks during backward) sum the same
// buckets as the sequential ones after backward: with 2 ranks each sum is a + b either way, so the
// runs must agree exactly. Small buckets (many of them) exercise the ordering.
TEST_F(McnnTrain, OverlappedAllreduceGivesTheSameResultAsSequential) {
  const fs::path d = *dir_;
  const std::string env =
      "MALLOC_MMAP_THRESHOLD_=1099511627776 MALLOC_TRIM_THRESHOLD_=1099511627776 "
      "ASAN_OPTIONS=detect_leaks=0";
  auto mpi = [&](const std::string& extra, const std::string& log) {
    return run_shell("env " + env +
                     " " KEEL_MPIEXEC
                     " --allow-run-as-root --oversubscribe --bind-to none -np 2"
                     " -x MALLOC_MMAP_THRESHOLD_ -x MALLOC_TRIM_THRESHOLD_ -x ASAN_OPTIONS " +
                     std::string(KEEL_BINARY) + " " + common(1) + "--bucket-mb 0.05 " + extra +
                     " --log " + (d / log).string());
  };
  auto ov = mpi("", "ov.json");
  ASSERT_EQ(ov.rc, 0) << ov.err;
  auto seq = mpi("--sequential-allreduce", "seq.json");
  ASSERT_EQ(seq.rc, 0) << seq.err;
  json a = read_json(d / "ov.json"), b = read_json(d / "seq.json");
  ASSERT_EQ(a["step_losses"].size(), 6u);
  // Many buckets, and the hooks did start all but the last (the first layer's) during backward.
  const int buckets = a["config"]["buckets"];
  EXPECT_GT(buckets, 5);
  EXPECT_GE(a["config"]["buckets_overlapped"].get<int>(), buckets - 1);
  EXPECT_EQ(b["config"]["buckets_overlapped"], 0);
  EXPECT_EQ(a["step_losses"], b["step_losses"]);
  for (const char* k : {"val_loss", "param_sum", "param_l2"})
    EXPECT_EQ(a["epochs"][0][k], b["epochs"][0][k]) << k;
}

TEST_F(McnnTrain, CsvLogHasOneRowPerEpoch) {
  auto r = run_keel(common(1) + "--log " + (*dir_ / "log.csv").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string csv = read_all(*dir_ / "log.csv");
  EXPECT_TRUE(csv.starts_with("epoch,lr,train_loss,train_acc,val_loss,val_acc,")) << csv;
  EXPECT_EQ(count_lines(csv), 2);
}

TEST_F(McnnTrain, BadInputIsOneLineAndExit2) {
  auto big = run_keel(common(2, 1000));
  EXPECT_EQ(big.rc, 2);
  EXPECT_EQ(count_lines(big.err), 1) << big.err;
  EXPECT_NE(big.err.find("fewer than one batch"), std::string::npos) << big.err;
  auto missing = run_keel("mcnn train --quiet --data " + (*dir_ / "nope").string());
  EXPECT_EQ(missing.rc, 2);
  EXPECT_NE(missing.err.find("BBBC021_v1_image.csv"), std::string::npos) << missing.err;
  auto resume = run_keel(common() + "--resume");
  EXPECT_EQ(resume.rc, 2);
  auto junk = *dir_ / "junk.ckpt";
  std::ofstream(junk) << "not a checkpoint";
  auto bad_ckpt = run_keel(common() + "--resume --checkpoint " + junk.string());
  EXPECT_EQ(bad_ckpt.rc, 2) << bad_ckpt.err;
  EXPECT_NE(bad_ckpt.err.find("checkpoint"), std::string::npos) << bad_ckpt.err;
  auto synth =
      run_keel("mcnn synth --quiet --metadata /nonexistent --out " + (*dir_ / "s").string());
  EXPECT_EQ(synth.rc, 2);
  EXPECT_NE(synth.err.find("metadata"), std::string::npos) << synth.err;
  // Refused when the flags are read, not after an epoch of training.
  struct Case {
    std::string flag, expect;
  } cases[] = {
      {"--momentum -5", "--momentum"},
      {"--momentum 1", "--momentum"},
      {"--momentum nan", "--momentum"},
      {"--weight-decay -1", "--weight-decay"},
      {"--log " + (*dir_ / "no" / "log.csv").string(), "its directory does not exist"},
      {"--checkpoint " + (*dir_ / "no" / "c.ckpt").string(), "its directory does not exist"},
  };
  for (const auto& c : cases) {
    auto r = run_keel(common() + c.flag);
    EXPECT_EQ(r.rc, 2) << c.flag;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.flag << ": " << r.err;
  }
  auto inf = run_keel(common(2, 4, "inf"));
  EXPECT_EQ(inf.rc, 2);
  EXPECT_NE(inf.err.find("--lr: must be a finite number, got inf"), std::string::npos) << inf.err;
}

// First-day defects: a fresh run does not silently replace an earlier run's checkpoint; an
// empty evaluation is an input error; no validation split is said, not printed as 0 %; a resume
// with another --epochs says the schedule changed.
TEST_F(McnnTrain, CheckpointsAreNotReplacedSilentlyAndEmptyEvaluationsAreErrors) {
  const fs::path d = *dir_;
  const auto ckpt = d / "keep.ckpt";
  auto first = run_keel(common(1) + "--checkpoint " + ckpt.string());
  ASSERT_EQ(first.rc, 0) << first.err;
  const std::string before = read_all(ckpt);
  auto again = run_keel(common(1) + "--checkpoint " + ckpt.string());
  EXPECT_EQ(again.rc, 2);
  EXPECT_EQ(count_lines(again.err), 1) << again.err;
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos) << again.err;
  EXPECT_EQ(read_all(ckpt), before);
  auto over = run_keel(common(1) + "--seed 9 --overwrite --checkpoint " + ckpt.string());
  ASSERT_EQ(over.rc, 0) << over.err;
  EXPECT_NE(read_all(ckpt), before);

  // --val-fraction 0: the summary says there is no validation split; eval of its held-out
  // split is an input error, eval of all images works.
  const auto noval = d / "noval.ckpt";
  auto nv = run_keel(common(1) + "--val-fraction 0 --checkpoint " + noval.string());
  ASSERT_EQ(nv.rc, 0) << nv.err;
  EXPECT_NE(nv.out.find("no validation split"), std::string::npos) << nv.out;
  EXPECT_EQ(nv.out.find("val acc"), std::string::npos) << nv.out;
  auto ev = run_keel("mcnn eval --threads 1 --data " + d.string() + " --checkpoint " + noval.string());
  EXPECT_EQ(ev.rc, 2) << ev.out;
  EXPECT_NE(ev.err.find("--split all"), std::string::npos) << ev.err;
  auto all = run_keel("mcnn eval --json --threads 1 --split all --data " + d.string() +
                      " --checkpoint " + noval.string());
  ASSERT_EQ(all.rc, 0) << all.err;
  EXPECT_EQ(json::parse(all.out)["images"], 39);

  // No image row joins an MOA: nothing to evaluate.
  const auto empty = d / "unlabelled";
  fs::create_directories(empty);
  fs::copy_file(d / "BBBC021_v1_image.csv", empty / "BBBC021_v1_image.csv");
  std::ofstream(empty / "BBBC021_v1_moa.csv") << "\"compound\",concentration,\"moa\"\n";
  auto none = run_keel("mcnn eval --threads 1 --data " + empty.string() + " --checkpoint " +
                       noval.string());
  EXPECT_EQ(none.rc, 2) << none.out;
  EXPECT_EQ(count_lines(none.err), 1) << none.err;
  EXPECT_NE(none.err.find("no labelled images"), std::string::npos) << none.err;

  // Resuming with another --epochs warns that the learning-rate schedule changed.
  const auto part = d / "sched.ckpt";
  ASSERT_EQ(run_keel(common(2) + "--stop-after 1 --checkpoint " + part.string()).rc, 0);
  auto longer = run_keel(common(3) + "--resume --json --checkpoint " + part.string());
  ASSERT_EQ(longer.rc, 0) << longer.err;
  EXPECT_NE(longer.err.find("differs from the checkpoint's 2"), std::string::npos) << longer.err;
  EXPECT_GT(json::parse(longer.out)["img_per_s"].get<double>(), 0.0);
}

// Ctrl-C mid-epoch: the step finishes, a checkpoint holding the partial epoch is written, exit
// 130 with how to continue; the resumed run reaches the uninterrupted run's weights. A second
// Ctrl-C quits at once, writing nothing.
TEST_F(McnnTrain, CtrlCMidEpochSavesAndResumesToTheSameWeights) {
  const fs::path d = *dir_;
  auto whole = run_keel(common() + "--log " + (d / "sig_whole.json").string());
  ASSERT_EQ(whole.rc, 0) << whole.err;
  const auto ckpt = d / "sig.ckpt";
  auto stopped = run_keel(common() + "--test-stop-at-step 3 --checkpoint " + ckpt.string());
  EXPECT_EQ(stopped.rc, 130) << stopped.err;
  EXPECT_NE(stopped.err.find("after step 3"), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("--resume"), std::string::npos) << stopped.err;
  auto resumed = run_keel(common() + "--resume --log " + (d / "sig_resumed.json").string() +
                          " --checkpoint " + ckpt.string());
  ASSERT_EQ(resumed.rc, 0) << resumed.err;
  json a = read_json(d / "sig_whole.json"), b = read_json(d / "sig_resumed.json");
  ASSERT_EQ(b["epochs"].size(), 2u);
  for (const char* k : {"train_loss", "val_loss", "param_sum", "param_l2"})
    for (int e : {0, 1})
      EXPECT_TRUE(close(a["epochs"][e][k], b["epochs"][e][k], kResumeTolerance))
          << k << " epoch " << e << ": " << a["epochs"][e][k] << " vs " << b["epochs"][e][k];
  EXPECT_EQ(a["step_losses"], b["step_losses"]);
  const auto quit = d / "quit.ckpt";
  auto twice = run_keel(common() + "--test-stop-at-step 2 --test-stop-signals 2 --checkpoint " +
                        quit.string());
  EXPECT_EQ(twice.rc, 130);
  EXPECT_FALSE(fs::exists(quit));
}

// srun without an MPI plugin starts N plain processes: each would train alone and write the same
// files. keel refuses and says how to launch (checked under a real single-node Slurm with
// tools/slurm_single_node.sh: with --mpi=pmix, 2 tasks follow mpirun -np 2 exactly).
TEST_F(McnnTrain, SrunWithoutAnMpiPluginIsRefused) {
  auto r =
      run_shell("env -u OMPI_COMM_WORLD_SIZE -u PMIX_RANK -u PMI_RANK SLURM_STEP_NUM_TASKS=2 " +
                std::string(KEEL_BINARY) + " " + common(1));
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("srun --mpi=pmix"), std::string::npos) << r.err;
  auto one = run_shell("env SLURM_STEP_NUM_TASKS=1 " + std::string(KEEL_BINARY) + " " + common(1));
  EXPECT_EQ(one.rc, 0) << one.err;
}

}  // namespace
}  // namespace keel::testing
