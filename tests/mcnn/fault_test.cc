// Training under faults: kill -9 at random moments (every resume starts from the last complete
// checkpoint; no stale temporary is left), a full disk while checkpointing (the previous
// checkpoint intact, exit 1), and one MPI rank dying (every rank ends, non-zero, within 30 s).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include "../support/run_keel.h"
#include "../support/spawn_keel.h"


namespace keel::testing {
namespace {

namespace fs = std::filesystem;

class McnnFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() /
                        ("keel_mcnn_faults_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    auto r = run_keel(
        "mcnn synth --quiet --height 128 --width 128 --images-per-class 2 --seed 3 --out " +
        (*dir_ / "data").string());
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string train_args(int epochs, int batch = 4) {
    return "mcnn train --quiet --data " + (*dir_ / "data").string() + " --epochs " +
           std::to_string(epochs) + " --batch " + std::to_string(batch) +
           " --threads 1 --val-fraction 0.2 ";
  }
  static int temporaries() {
    int n = 0;
    for (const auto& e : fs::directory_iterator(*dir_))
      n += e.path().filename().string().find(".tmp.") != std::string::npos;
    return n;
  }
  static fs::path* dir_;
};
fs::path* McnnFaults::dir_ = nullptr;

TEST_F(McnnFaults, KillNineAtRandomMomentsThenEveryResumeWorks) {
  const fs::path ckpt = *dir_ / "k.ckpt", log = *dir_ / "k.log";
  std::mt19937 rng(17);
  int killed = 0, finished_before = 0;
  // A first checkpoint, so every killed run below is a resume of the one before it.
  ASSERT_EQ(run_keel(train_args(10000) + "--stop-after 1 --checkpoint " + ckpt.string()).rc, 0);
  for (int i = 0; i < 20; ++i) {
    // Each run resumes what the killed one before it left: it must always be loadable.
    const pid_t pid = spawn_keel(train_args(10000) + "--resume --checkpoint " + ckpt.string(), log);
    // The kill comes at a random moment: loading, mid-step, mid-checkpoint-write.
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 1200));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
      ++killed;
    } else {
      ++finished_before;  // ended before the kill: only acceptable as an error we can read
      ADD_FAILURE() << "run " << i << " exited " << WEXITSTATUS(status) << " before the kill:\n"
                    << read_all(log);
    }
  }
  EXPECT_EQ(killed, 20);
  ASSERT_TRUE(fs::exists(ckpt)) << read_all(log);
  // The last complete checkpoint resumes and trains one more epoch; the next write removed the
  // temporaries the killed runs left.
  auto last = run_keel(train_args(10000) + "--resume --stop-after 1 --checkpoint " + ckpt.string());
  EXPECT_EQ(last.rc, 0) << last.err;
  EXPECT_EQ(temporaries(), 0);
}

TEST_F(McnnFaults, DiskFullWhileCheckpointingKeepsThePreviousCheckpoint) {
  const fs::path ckpt = *dir_ / "full.ckpt";
  ASSERT_EQ(run_keel(train_args(1) + "--checkpoint " + ckpt.string()).rc, 0);
  const std::string before = read_all(ckpt);
  auto r = run_shell("bash -c 'ulimit -f 256; " + std::string(KEEL_BINARY) + " " + train_args(1) +
                     "--overwrite --seed 5 --checkpoint " + ckpt.string() + "'");
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_NE(r.err.find("writing failed"), std::string::npos) << r.err;
  EXPECT_EQ(read_all(ckpt), before);
  EXPECT_EQ(temporaries(), 0);
}

TEST_F(McnnFaults, OneRankDyingEndsEveryRankWithin30Seconds) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = run_shell(
      "env MALLOC_MMAP_THRESHOLD_=1099511627776 MALLOC_TRIM_THRESHOLD_=1099511627776 "
      "ASAN_OPTIONS=detect_leaks=0 timeout 60 " KEEL_MPIEXEC
      " --allow-run-as-root --oversubscribe --bind-to none -np 2 " +
      std::string(KEEL_BINARY) + " " + train_args(50) + "--test-kill-at-step 2 --test-kill-rank 1");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.rc, 124) << "mpirun hung: the timeout killed it";
  EXPECT_LT(s, 30.0);
}

TEST_F(McnnFaults, ABatchThatCannotFitIsRefusedUpFront) {
  // 4 000 images of 128 x 128 need ~20 GiB: under an 8 GiB address-space limit the run is
  // refused at once with the size, the limit and the flag, never std::bad_alloc or the OOM killer.
  auto r = run_shell("bash -c 'ulimit -v 8000000; " + std::string(KEEL_BINARY) + " " +
                     train_args(1, 4000) + "'");
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("GiB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ulimit -v"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--batch"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace keel::testing
