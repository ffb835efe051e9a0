// Faults a user meets outside keel's own code: a full disk (or a file-size limit) while writing a
// trace, a report or a model, and a closed stdout. One clear line, the previous file intact, no
// temporary left; a closed pipe ends keel quietly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "../support/run_keel.h"
#include "../support/source_paths.h"
#include "../support/temp_dir.h"

using keel::testing::count_lines;
using keel::testing::read_all;
using keel::testing::run_shell;
namespace fs = std::filesystem;
using keel::testing::TempDir;

namespace {
using keel::testing::kPowerExamples;

const std::string kKeel = KEEL_BINARY;

int temporaries(const fs::path& dir) {
  int n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    n += e.path().filename().string().find(".tmp.") != std::string::npos;
  return n;
}

// Runs `command` under a file-size limit of `kib` KiB (bash's ulimit -f; keel ignores SIGXFSZ,
// so the write fails with EFBIG instead of the process being killed).
keel::testing::RunResult limited(int kib, const std::string& command) {
  return run_shell("bash -c 'ulimit -f " + std::to_string(kib) + "; " + command + "'");
}

}  // namespace

TEST(Faults, FileSizeLimitLeavesThePreviousFileIntact) {
  TempDir d;
  const fs::path scenario = d.path / "s.toml";
  std::ofstream(scenario) << "[simulation]\nduration_s = 30\n[[job]]\ngpus = 72\ncompute_ms = 800\n"
                             "comm_ms = 300\n";
  struct Case {
    const char* file;
    std::string args;
  } cases[] = {
      {"trace.csv", "power simulate --quiet " + scenario.string() + " --trace "},
      {"report.html", "power simulate --quiet " + scenario.string() + " --report "},
      {"model.keel", "nmt random-model --preset base --out "},
  };
  for (const auto& c : cases) {
    const fs::path out = d.path / c.file;
    std::ofstream(out) << "previous";
    auto r = limited(64, kKeel + " " + c.args + out.string());
    EXPECT_EQ(r.rc, 1) << c.file << ": " << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("writing failed"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(out.string()), std::string::npos) << r.err;
    EXPECT_EQ(read_all(out), "previous") << c.file;
    EXPECT_EQ(temporaries(d.path), 0) << c.file;
  }
}

TEST(Faults, AClosedStdoutEndsKeelQuietly) {
  TempDir d;
  const fs::path model = d.path / "tiny.keel", err = d.path / "err.txt";
  ASSERT_EQ(keel::testing::run_keel("nmt random-model --preset tiny --out " + model.string()).rc,
            0);
  // 20 000 lines in, the reader takes one and closes the pipe.
  // keel's own status (PIPESTATUS): 0, or 141 when SIGPIPE ended it; never a crash (134, 139).
  auto r = run_shell("bash -c 'yes \"w4 w5 w6\" | head -20000 | " + kKeel +
                     " nmt translate --quiet --max-decoding-length 4 --model " + model.string() +
                     " 2>" + err.string() + " | head -1; exit ${PIPESTATUS[2]}'");
  EXPECT_TRUE(r.rc == 0 || r.rc == 141) << r.rc;
  EXPECT_EQ(count_lines(r.out), 1);
  EXPECT_EQ(read_all(err), "");  // no "Broken pipe", no crash report
  r = run_shell("bash -c '" + kKeel + " power compare --quiet " + kPowerExamples +
                "default.toml 2>" + err.string() + " | head -1; exit ${PIPESTATUS[0]}'");
  EXPECT_TRUE(r.rc == 0 || r.rc == 141) << r.rc;
  EXPECT_EQ(read_all(err), "");
}
