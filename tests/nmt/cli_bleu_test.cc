// `keel nmt bleu` as a user runs it: output line, signature, --json, --sentence-level, stdin,
// and one-line errors with exit code 2.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../support/run_keel.h"
#include "keel/nmt/bleu.h"

using keel::testing::count_lines;
using keel::testing::run_keel;
using keel::testing::run_shell;
namespace fs = std::filesystem;

namespace {

const std::string kData = std::string(KEEL_SOURCE_DIR) + "/tests/data/bleu/";

fs::path write_temp(const std::string& name, const std::string& text) {
  auto p = fs::temp_directory_path() / (std::to_string(::getpid()) + "_bleu_" + name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

struct Readme {  // sacreBLEU's README example as files
  fs::path hyp = write_temp("hyp",
                            "The dog bit the man.\nIt wasn't surprising.\nThe man had just "
                            "bitten him.\n");
  fs::path ref1 = write_temp("ref1",
                             "The dog bit the man.\nIt was not unexpected.\nThe man bit "
                             "him first.\n");
  fs::path ref2 = write_temp("ref2",
                             "The dog had bit the man.\nNo one was surprised.\nThe man "
                             "had bitten the dog.\n");
  std::string args() const { return hyp.string() + " " + ref1.string() + " " + ref2.string(); }
  ~Readme() {
    for (const auto& p : {hyp, ref1, ref2}) fs::remove(p);
  }
};

std::string fmt_2(double v) {
  return fmt::format("{:.2f}", v);
}

void expect_one_error_line(const keel::testing::RunResult& r, const std::string& needle) {
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_EQ(r.err.rfind("keel: error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace

TEST(CliBleu, PrintsSacrebleusLineAndSignature) {
  Readme f;
  auto r = run_keel("nmt bleu " + f.args());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(
      r.out,
      "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)\n"
      "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:keel-" KEEL_VERSION_TEXT "\n");
}

TEST(CliBleu, HypothesesFromStdin) {
  Readme f;
  // run_shell gives the command /dev/null as stdin: the pipe lives inside an inner shell.
  auto r = run_shell("sh -c 'cat " + f.hyp.string() + " | " + KEEL_BINARY + " nmt bleu - " +
                     f.ref1.string() + " " + f.ref2.string() + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out.rfind("BLEU = 48.53 ", 0), 0u) << r.out;
}

TEST(CliBleu, JsonHasTheScoreStatisticsAndSignatureFields) {
  auto r = run_keel("nmt bleu " + kData + "hyp.txt " + kData + "ref1.txt " + kData +
                    "ref2.txt --smooth-method floor --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  keel::nmt::BleuOptions o;
  o.smooth = keel::nmt::BleuSmooth::floor;
  std::vector<std::string> hyp, r1, r2;
  for (auto [name, v] : {std::pair{"hyp.txt", &hyp}, {"ref1.txt", &r1}, {"ref2.txt", &r2}}) {
    std::ifstream in(kData + name);
    for (std::string l; std::getline(in, l);) v->push_back(l);
  }
  const auto s = keel::nmt::corpus_bleu(hyp, {r1, r2}, o);
  EXPECT_EQ(j.at("name"), "BLEU");
  EXPECT_EQ(j.at("score").get<double>(), s.score);  // JSON doubles round-trip exactly
  EXPECT_EQ(j.at("counts").get<std::vector<std::int64_t>>(), s.counts);
  EXPECT_EQ(j.at("totals").get<std::vector<std::int64_t>>(), s.totals);
  EXPECT_EQ(j.at("hyp_len"), s.sys_len);
  EXPECT_EQ(j.at("ref_len"), s.ref_len);
  EXPECT_EQ(j.at("nrefs"), "2");
  EXPECT_EQ(j.at("smooth"), "floor[0.10]");
  EXPECT_EQ(j.at("signature"), keel::nmt::bleu_signature(o, 2));
  EXPECT_EQ("BLEU = " + fmt_2(s.score) + " " + j.at("verbose_score").get<std::string>(),
            keel::nmt::bleu_format(s));
}

TEST(CliBleu, SentenceLevelPrintsOneScorePerLine) {
  Readme f;
  auto r = run_keel("nmt bleu " + f.args() + " --sentence-level --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 3) << r.out;
  std::istringstream lines(r.out);
  std::string first;
  std::getline(lines, first);
  EXPECT_EQ(first.rfind("BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000", 0), 0u) << first;
  r = run_keel("nmt bleu " + f.args() + " --sentence-level --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("sentences").size(), 3u);
  EXPECT_NE(j.at("signature").get<std::string>().find("|eff:yes|"), std::string::npos);
}

TEST(CliBleu, OptionsReachTheMetricAndTheSignature) {
  Readme f;
  auto lc = run_keel("nmt bleu -lc " + f.args()),
       lower = run_keel("nmt bleu --lowercase " + f.args());
  ASSERT_EQ(lc.rc, 0) << lc.err;
  EXPECT_EQ(lc.out, lower.out);
  EXPECT_NE(lc.out.find("|case:lc|"), std::string::npos);
  auto none = run_keel(
      "nmt bleu --tokenize none --smooth-method add-k --smooth-value 2 "
      "--max-ngram-order 2 " +
      f.args());
  ASSERT_EQ(none.rc, 0) << none.err;
  EXPECT_NE(none.out.find("|tok:none|smooth:add-k[2.00]|"), std::string::npos) << none.out;
  EXPECT_EQ(std::count(none.out.begin(), none.out.end(), '/'), 1) << none.out;  // two precisions
}

TEST(CliBleu, MismatchedLineCountsAreOneErrorLine) {
  Readme f;
  auto short_ref = write_temp("short", "The dog bit the man.\n");
  expect_one_error_line(run_keel("nmt bleu " + f.hyp.string() + " " + short_ref.string()),
                        short_ref.string() + ": 1 lines, but the hypotheses");
  fs::remove(short_ref);
}

TEST(CliBleu, MissingFilesBadUtf8AndEmptyReferencesAreInputErrors) {
  Readme f;
  expect_one_error_line(run_keel("nmt bleu " + f.hyp.string() + " /nonexistent/ref.txt"),
                        "/nonexistent/ref.txt");
  auto bad = write_temp("bad",
                        "fine\nab\xff"
                        "c\nfine\n");
  expect_one_error_line(run_keel("nmt bleu " + bad.string() + " " + f.ref1.string()),
                        bad.string() + ":2:3: invalid UTF-8");
  auto empty = write_temp("empty", "x\n\ny\n");
  expect_one_error_line(run_keel("nmt bleu " + f.hyp.string() + " " + empty.string()),
                        empty.string() + ":2: every reference of this line is empty");
  expect_one_error_line(run_keel("nmt bleu -c " + f.args()), "-c");
  expect_one_error_line(run_keel("nmt bleu " + f.args() + " --tokenize moses"), "--tokenize");
  fs::remove(bad);
  fs::remove(empty);
}

// A directory where a file of lines belongs (as an argument, or as stdin for bleu and translate):
// one line, exit 2 (found by a first-day audit: a raw libstdc++ error with exit 1, and translate
// exited 0 with no output).
TEST(CliBleu, ADirectoryInsteadOfAFileIsOneLine) {
  Readme r;
  const fs::path dir = write_temp("dir", "");
  fs::remove(dir);
  fs::create_directory(dir);
  expect_one_error_line(run_keel("nmt bleu " + r.hyp.string() + " " + dir.string()), "is a directory");
  expect_one_error_line(run_keel("nmt bleu " + dir.string() + " " + r.ref1.string()), "is a directory");
  expect_one_error_line(run_shell("(" + std::string(KEEL_BINARY) + " nmt bleu - " + r.ref1.string() +
                                  " < " + dir.string() + ")"),
                        "standard input is a directory");
  expect_one_error_line(run_shell("(" + std::string(KEEL_BINARY) + " nmt translate --model " +
                                  KEEL_SOURCE_DIR + "/models/en-es-int8 < " + dir.string() + ")"),
                        "standard input is a directory");
  fs::remove(dir);
}
