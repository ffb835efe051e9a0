// `keel nmt` as a user runs it: outputs, files and exit codes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../support/run_keel.h"
#include "keel/nmt/bench.h"
#include "keel/nmt/model.h"

using keel::testing::run_keel;
namespace fs = std::filesystem;

namespace {
using keel::testing::run_keel_stdin;
fs::path temp(const std::string& name) {
  return fs::temp_directory_path() / (std::to_string(::getpid()) + "_" + name);
}

}  // namespace

TEST(CliNmt, RandomModelWritesALoadableFile) {
  auto m = temp("cli_tiny.keelnmt");
  auto r = run_keel("nmt random-model --preset tiny --seed 5 --out " + m.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("tiny preset"), std::string::npos);
  auto model = keel::nmt::load_model(m);
  EXPECT_EQ(model.config.d_model, 32u);
  fs::remove(m);
}

TEST(CliNmt, BadPresetOrUnwritableOutIsAnInputError) {
  auto r = run_keel("nmt random-model --preset huge --out x");
  EXPECT_EQ(r.rc, 2);
  r = run_keel("nmt random-model --preset tiny --out /nonexistent_dir/m");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("keel: error:"), std::string::npos);
  EXPECT_EQ(keel::testing::count_lines(r.err), 1);
}

TEST(CliNmt, TranslateKeepsLinesInOrderWithExactLengths) {
  auto m = temp("cli_tr.keelnmt");
  ASSERT_EQ(run_keel("nmt random-model --preset tiny --out " + m.string()).rc, 0);
  auto in = temp("cli_tr.txt");
  std::ofstream(in) << "w5 w6 w7\nw8\n\nw9 w10 w11 w12 w13\n";
  for (const char* compute : {"fp32", "int8-dynamic", "int8-dynamic --beam-size 3"}) {
    auto r = run_keel_stdin("nmt translate --model " + m.string() + " --compute " + compute +
                                " --min-decoding-length 3 --max-decoding-length 3 "
                                "--max-batch-size 2 --quiet",
                            in);
    ASSERT_EQ(r.rc, 0) << r.err;
    EXPECT_EQ(keel::testing::count_lines(r.out), 4) << r.out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);)
      EXPECT_EQ(std::count(line.begin(), line.end(), ' '), 2) << line;
    EXPECT_TRUE(r.err.empty()) << r.err;  // --quiet: no progress, no info log
  }
  fs::remove(m);
  fs::remove(in);
}

TEST(CliNmt, TranslateRejectsBadModelsAndOptions) {
  auto bad = temp("cli_bad.keelnmt");
  std::ofstream(bad) << "not a model";
  auto r = run_keel("nmt translate --model " + bad.string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("not a keel model file"), std::string::npos) << r.err;
  r = run_keel("nmt translate --model " + bad.string() + " --compute int4");
  EXPECT_EQ(r.rc, 2);
  r = run_keel("nmt translate --model " + bad.string() +
               " --min-decoding-length 5 --max-decoding-length 2");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("exceeds"), std::string::npos) << r.err;
  fs::remove(bad);
}

TEST(CliNmt, QuantizeCalibratesAndInt8Translates) {
  auto m = temp("q_tiny.keelnmt"), q = temp("q_tiny8.keelnmt"), calib = temp("q_calib.txt");
  ASSERT_EQ(run_keel("nmt random-model --preset tiny --seed 2 --out " + m.string()).rc, 0);
  {
    std::ofstream c(calib);
    for (int i = 0; i < 30; ++i) c << "w" << 4 + i % 40 << " w" << 5 + (i * 7) % 40 << " w9\n";
  }
  const std::string args = "nmt quantize --model " + m.string() + " --calib " + calib.string() +
                           " --out " + q.string() + " --max-decoding-length 6 --fp32 decoder.output --bins 256";
  auto r = run_keel(args);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("layers int8"), std::string::npos);
  EXPECT_NE(r.out.find("decoder.output: requested (--fp32 decoder.output)"), std::string::npos);
  auto j = run_keel(args + " --method minmax --json");
  ASSERT_EQ(j.rc, 0) << j.err;
  EXPECT_NE(j.out.find("\"method\": \"minmax\""), std::string::npos);

  auto t = run_keel_stdin("nmt translate --quiet --compute int8 --max-decoding-length 4 --model " +
                              q.string(), calib);
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_EQ(std::count(t.out.begin(), t.out.end(), '\n'), 30);
  // The uncalibrated model cannot run static int8: one clear error.
  auto bad = run_keel_stdin("nmt translate --compute int8 --model " + m.string(), calib);
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("keel nmt quantize"), std::string::npos);
  auto bad_method = run_keel(args + " --method entropy");
  EXPECT_EQ(bad_method.rc, 2);
  for (const auto& p : {m, q, calib}) fs::remove(p);
}

TEST(CliNmt, ChunkedStdinGivesTheSameOutputInOrder) {
  auto m = temp("chunk_tiny.keelnmt"), in = temp("chunk_in.txt");
  ASSERT_EQ(run_keel("nmt random-model --preset tiny --seed 4 --out " + m.string()).rc, 0);
  {
    std::ofstream f(in);
    for (int i = 0; i < 23; ++i) f << "w" << 4 + i << " w" << 30 - i % 9 << (i % 3 ? " w7" : "") << "\n";
  }
  const std::string base = "nmt translate --quiet --max-decoding-length 5 --model " + m.string();
  auto whole = run_keel_stdin(base, in), chunked = run_keel_stdin(base + " --chunk-lines 4", in);
  ASSERT_EQ(whole.rc, 0) << whole.err;
  ASSERT_EQ(chunked.rc, 0) << chunked.err;
  EXPECT_EQ(std::count(whole.out.begin(), whole.out.end(), '\n'), 23);
  EXPECT_EQ(chunked.out, whole.out);
  EXPECT_EQ(run_keel_stdin(base + " --chunk-lines 0", in).rc, 2);
  fs::remove(m);
  fs::remove(in);
}

// First-day defects of `keel nmt translate` on the shipped model directory: paragraphs are
// split into sentences and joined back, --json gives JSON lines, the calibrated model runs int8
// by default, and bad numbers get a plain message.
namespace {
const std::string kShipped = std::string(KEEL_SOURCE_DIR) + "/models/en-es-int8";

std::vector<std::string> out_lines(const std::string& text) {
  std::vector<std::string> v;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}
}  // namespace

// The README's `--model en-es` with a keel in its build tree (not installed): the repository's
// models/en-es-int8 (linked where an installed keel has its share/keel/models), the same
// translation as by path; an unknown name is one line saying where keel looked.
TEST(CliNmtText, AModelNameFromTheBuildTreeIsTheRepositorysModel) {
  auto in = temp("name.txt");
  std::ofstream(in) << "The house is big.\n";
  auto by_name = run_keel_stdin("nmt translate --quiet --model en-es", in);
  auto by_path = run_keel_stdin("nmt translate --quiet --model " + kShipped, in);
  ASSERT_EQ(by_name.rc, 0) << by_name.err;
  ASSERT_EQ(by_path.rc, 0) << by_path.err;
  EXPECT_EQ(by_name.out, by_path.out);
  EXPECT_FALSE(by_name.out.empty());
  auto none = run_keel_stdin("nmt translate --quiet --model no-such-model", in);
  EXPECT_EQ(none.rc, 2);
  EXPECT_NE(none.err.find("share/keel/models"), std::string::npos) << none.err;
  fs::remove(in);
}

TEST(CliNmtText, ParagraphsAreTranslatedSentenceBySentenceAndJoinedBack) {
  auto para = temp("para.txt"), sents = temp("sents.txt");
  std::ofstream(para) << "The cat sleeps on the table. The dog eats the bread.\n\nThe house is big.\n";
  std::ofstream(sents) << "The cat sleeps on the table.\nThe dog eats the bread.\n";
  const std::string base = "nmt translate --quiet --model " + kShipped;
  auto split = run_keel_stdin(base, para);
  auto alone = run_keel_stdin(base + " --no-split-sentences", sents);
  ASSERT_EQ(split.rc, 0) << split.err;
  ASSERT_EQ(alone.rc, 0) << alone.err;
  auto s = out_lines(split.out), a = out_lines(alone.out);
  ASSERT_EQ(s.size(), 3u) << split.out;  // one output line per input line, the blank one kept
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(s[0], a[0] + " " + a[1]);
  EXPECT_TRUE(s[1].empty());
  EXPECT_FALSE(s[2].empty());

  // --json: one object per input line with the same translation, its pieces and a log-prob.
  auto j = run_keel_stdin(base + " --json", para);
  ASSERT_EQ(j.rc, 0) << j.err;
  auto jl = out_lines(j.out);
  ASSERT_EQ(jl.size(), 3u);
  auto first = nlohmann::json::parse(jl[0]);
  EXPECT_EQ(first["translation"], s[0]);
  EXPECT_EQ(first["segments"], 2);
  EXPECT_GT(first["tokens"].size(), 4u);
  EXPECT_LT(first["score"].get<double>(), 0.0);
  EXPECT_GT(first["score"].get<double>(), -1e4);

  // The model is calibrated: int8 by default (the log line names the compute type).
  auto verbose = run_keel_stdin("nmt translate --model " + kShipped, sents);
  ASSERT_EQ(verbose.rc, 0) << verbose.err;
  EXPECT_NE(verbose.err.find(", int8,"), std::string::npos) << verbose.err;
  fs::remove(para);
  fs::remove(sents);
}

TEST(CliNmtText, LongSegmentsFollowThePolicyAndNumbersAreChecked) {
  auto in = temp("long.txt");
  std::ofstream(in) << "the cat and the dog and the cow and the horse and the bird sleep\n";
  const std::string base = "nmt translate --quiet --model " + kShipped + " --max-input-length 5";
  auto refuse = run_keel_stdin(base + " --long-input refuse", in);
  EXPECT_EQ(refuse.rc, 2);
  EXPECT_NE(refuse.err.find("stdin:1"), std::string::npos) << refuse.err;
  auto split = run_keel_stdin(base, in);  // default policy: split
  ASSERT_EQ(split.rc, 0) << split.err;
  EXPECT_EQ(out_lines(split.out).size(), 1u);
  EXPECT_NE(split.err.find("were split"), std::string::npos) << split.err;
  auto trunc = run_keel_stdin(base + " --long-input truncate --json", in);
  ASSERT_EQ(trunc.rc, 0) << trunc.err;
  EXPECT_LT(nlohmann::json::parse(out_lines(trunc.out)[0])["tokens"].size(),
            nlohmann::json::parse(out_lines(run_keel_stdin(base + " --json", in).out)[0])["tokens"].size());
  for (const char* bad : {"--beam-size 0", "--max-decoding-length 0", "--max-batch-size -1"}) {
    auto r = run_keel_stdin("nmt translate --model " + kShipped + " " + bad, in);
    EXPECT_EQ(r.rc, 2) << bad;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.find("1.79"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("179769"), std::string::npos) << r.err;
  }
  fs::remove(in);
}

TEST(CliNmtText, RawTextToAModelFileWarnsAndQuantizeRefusesIt) {
  auto m = temp("raw_tiny.keelnmt"), in = temp("raw.txt");
  ASSERT_EQ(run_keel("nmt random-model --preset tiny --out " + m.string()).rc, 0);
  std::ofstream(in) << "This is plain English text, not vocabulary tokens.\n";
  auto r = run_keel_stdin("nmt translate --quiet --max-decoding-length 3 --model " + m.string(), in);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.err.find("not in the model's vocabulary"), std::string::npos) << r.err;
  auto q = run_keel("nmt quantize --model " + m.string() + " --calib " + in.string() + " --out " +
                    temp("raw_q.keelnmt").string());
  EXPECT_EQ(q.rc, 2);
  EXPECT_NE(q.err.find("not in the model's vocabulary"), std::string::npos) << q.err;
  EXPECT_FALSE(fs::exists(temp("raw_q.keelnmt")));
  fs::remove(m);
  fs::remove(in);
}

TEST(CliNmtText, QuantizeAndBenchTakeModelDirectories) {
  auto calib = temp("dir_calib.txt"), out = temp("dir_q");
  std::ofstream(calib) << "The cat sleeps on the table.\nThe dog eats the bread.\nIt is late.\n";
  auto q = run_keel("nmt quantize --quiet --model " + kShipped + " --calib " + calib.string() +
                    " --out " + out.string() + " --method minmax");
  ASSERT_EQ(q.rc, 0) << q.err;
  EXPECT_TRUE(fs::is_regular_file(out / "model.keel"));
  EXPECT_TRUE(fs::is_regular_file(out / "spm.model"));  // a complete directory
  auto t = run_keel_stdin("nmt translate --model " + out.string(), calib);
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_EQ(out_lines(t.out).size(), 3u);
  EXPECT_NE(t.err.find(", int8,"), std::string::npos) << t.err;
  auto b = run_keel("nmt bench --quiet --json --model " + out.string() +
                    " --compute fp32 --sentences 4 --target-length 4 --streams 1");
  EXPECT_EQ(b.rc, 0) << b.err;
  fs::remove_all(out);
  fs::remove(calib);
}

// Found by a first-day audit: quantize wrote into an existing directory, whose stale spm.model
// or decoding.json then won over the new files; bad flags were ignored or failed only after the
// work. Each is now one line, exit 2, before calibrating, and nothing is written.
TEST(CliNmtText, QuantizeRefusesAnExistingOutAndBadFlagsUpFront) {
  auto calib = temp("up_calib.txt"), out = temp("up_q"), dir = temp("up_dir");
  std::ofstream(calib) << "The cat sleeps on the table.\n";
  fs::create_directories(out);
  std::ofstream(out / "decoding.json") << "{}";
  const std::string base = "nmt quantize --quiet --model " + kShipped + " --calib " + calib.string();
  auto q = run_keel(base + " --out " + out.string());
  EXPECT_EQ(q.rc, 2) << q.err;
  EXPECT_NE(q.err.find("already exists"), std::string::npos) << q.err;
  EXPECT_EQ(keel::testing::read_all(out / "decoding.json"), "{}");
  EXPECT_FALSE(fs::exists(out / "model.keel"));
  fs::remove_all(out);
  for (const std::string& bad :
       {std::string(" --fp32 decoder.nosuch"),
        // k of a fused q/k/v layer, named by its q scope: nothing kept
        std::string(" --fp32 decoder.layers.0.self_attn.k_proj"),
        std::string(" --method kl --percentile 99"), std::string(" --min-sqnr-db nan")}) {
    auto r = run_keel(base + " --out " + out.string() + bad);
    EXPECT_EQ(r.rc, 2) << bad << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(fs::exists(out)) << bad;
  }
  fs::create_directories(dir);
  auto rm = run_keel("nmt random-model --preset tiny --out " + dir.string());
  EXPECT_EQ(rm.rc, 2);
  EXPECT_NE(rm.err.find("is a directory"), std::string::npos) << rm.err;
  auto lp = run_keel_stdin("nmt translate --quiet --beam-size 4 --length-penalty nan --model " + kShipped, calib);
  EXPECT_EQ(lp.rc, 2);
  EXPECT_NE(lp.err.find("finite"), std::string::npos) << lp.err;
  fs::remove_all(dir);
  fs::remove(calib);
}

// Busy cores: OpenMP teams wait passively instead of spinning (unless the user chose a policy).
TEST(CliNmtText, BusyCoresMakeOpenMpWaitPassivelyUnlessTheUserChose) {
  auto in = temp("omp.txt");
  std::ofstream(in) << "The cat sleeps.\n";
  const std::string cmd = std::string(KEEL_BINARY) + " nmt translate --log-level debug --model " +
                          kShipped + " --threads-per-stream 2 --streams 1 <" + in.string();
  auto busy = keel::testing::run_shell("(env -u OMP_WAIT_POLICY KEEL_ASSUME_BUSY=1 " + cmd + ")");
  ASSERT_EQ(busy.rc, 0) << busy.err;
  EXPECT_NE(busy.err.find("wait passively"), std::string::npos) << busy.err;
  auto idle = keel::testing::run_shell("(env -u OMP_WAIT_POLICY KEEL_ASSUME_BUSY=0 " + cmd + ")");
  ASSERT_EQ(idle.rc, 0) << idle.err;
  EXPECT_EQ(idle.err.find("wait passively"), std::string::npos) << idle.err;
  EXPECT_EQ(idle.out, busy.out);
  auto chosen = keel::testing::run_shell("(env OMP_WAIT_POLICY=ACTIVE KEEL_ASSUME_BUSY=1 " + cmd + ")");
  ASSERT_EQ(chosen.rc, 0) << chosen.err;
  EXPECT_EQ(chosen.err.find("wait passively"), std::string::npos) << chosen.err;
  fs::remove(in);
}

// A model directory's decoding.json sets the model's defaults; flags override them; a bad
// setting is one line naming the file and the key.
TEST(CliNmtText, DecodingJsonSetsTheModelsDefaultsAndFlagsOverrideThem) {
  const auto dir = temp("decoding_model");
  fs::remove_all(dir);
  fs::copy(kShipped, dir);
  auto in = temp("decoding_in.txt");
  std::ofstream(in) << "the cat and the dog and the cow and the horse sleep in the house\n";
  const std::string base = "nmt translate --quiet --json --no-split-sentences --model " + dir.string();
  auto tokens = [](const keel::testing::RunResult& r) {
    return nlohmann::json::parse(out_lines(r.out).at(0))["tokens"].size();
  };
  auto free_run = run_keel_stdin(base, in);
  ASSERT_EQ(free_run.rc, 0) << free_run.err;
  ASSERT_GT(tokens(free_run), 6u);
  std::ofstream(dir / "decoding.json") << R"({"max_decoding_length": 3, "beam_size": 2})";
  auto capped = run_keel_stdin(base, in);
  ASSERT_EQ(capped.rc, 0) << capped.err;
  EXPECT_EQ(tokens(capped), 3u);
  auto flag = run_keel_stdin(base + " --max-decoding-length 5", in);
  ASSERT_EQ(flag.rc, 0) << flag.err;
  EXPECT_EQ(tokens(flag), 5u);
  std::ofstream(dir / "decoding.json") << R"({"beam_width": 4})";
  auto bad = run_keel_stdin(base, in);
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("decoding.json"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("beam_width"), std::string::npos) << bad.err;
  std::ofstream(dir / "decoding.json") << R"({"repetition_penalty": 0.5})";
  bad = run_keel_stdin(base, in);
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("repetition penalty"), std::string::npos) << bad.err;
  fs::remove_all(dir);
  fs::remove(in);
}

// A beam's cost is the median of per-round ratios, paired by round: a round that ran slow for
// both configurations (the VM's drift) does not move it.
TEST(NmtBench, RoundRatiosArePairedByRoundAndMedianRunIsTheMiddleOne) {
  auto runs_of = [](std::vector<double> secs) {
    std::vector<keel::nmt::BenchResult> v;
    for (double s : secs) v.push_back({.run_s = s});
    return v;
  };
  // Rounds 2 and 3 ran twice as slow for both: the ratios are 2, 2.5, 2.5.
  auto r = keel::nmt::round_ratios(runs_of({2.0, 10.0, 10.0}), runs_of({1.0, 4.0, 4.0}));
  EXPECT_DOUBLE_EQ(r.value, 2.5);
  EXPECT_DOUBLE_EQ(r.min, 2.0);
  EXPECT_DOUBLE_EQ(r.max, 2.5);
  r = keel::nmt::round_ratios(runs_of({3.0, 2.0, 8.0, 4.0}), runs_of({1.0, 1.0, 2.0, 1.0}));  // 3 2 4 4
  EXPECT_DOUBLE_EQ(r.value, 3.5);
  auto runs = runs_of({5.0, 1.0, 3.0, 4.0});
  runs[0].latency_p50_ms = 7.0;  // measured in the first round only
  const auto m = keel::nmt::median_run(runs);
  EXPECT_DOUBLE_EQ(m.run_s, 3.0);
  EXPECT_DOUBLE_EQ(m.latency_p50_ms, 7.0);
}

// Paired slices: the beam's cost is its total time over the base's, not a mean of ratios; the
// spread is the pairs' smallest and largest ratio.
TEST(NmtBench, SliceRatiosAreTotalsWithThePairsSpread) {
  // Pairs 3/1, 2/2, 8/2: totals 13 / 5.
  const auto r = keel::nmt::slice_ratios({3.0, 2.0, 8.0}, {1.0, 2.0, 2.0});
  EXPECT_DOUBLE_EQ(r.value, 13.0 / 5.0);
  EXPECT_DOUBLE_EQ(r.min, 1.0);
  EXPECT_DOUBLE_EQ(r.max, 4.0);
}

TEST(CliNmt, BenchComparesBeamSizesInInterleavedRounds) {
  auto b = run_keel("nmt bench --quiet --json --preset tiny --compute fp32 --batch 4 --sentences 4 "
                    "--target-length 4 --streams 1 --beam-size 1,2 --repeat 3");
  ASSERT_EQ(b.rc, 0) << b.err;
  const auto j = nlohmann::json::parse(b.out);
  ASSERT_EQ(j["runs"].size(), 2u);
  ASSERT_EQ(j["beam_costs"].size(), 1u);
  const auto& c = j["beam_costs"][0];
  EXPECT_EQ(c["rounds"], 3);
  EXPECT_EQ(c["beam_size"], 2);
  EXPECT_EQ(c["against_beam_size"], 1);
  EXPECT_LE(c["time_ratio_min"].get<double>(), c["time_ratio_median"].get<double>());
  EXPECT_LE(c["time_ratio_median"].get<double>(), c["time_ratio_max"].get<double>());
  EXPECT_GT(c["time_ratio_min"].get<double>(), 0.0);
  // The cost from paired slices lies within its pairs' spread.
  EXPECT_LE(c["slice_ratio_min"].get<double>(), c["time_ratio"].get<double>());
  EXPECT_LE(c["time_ratio"].get<double>(), c["slice_ratio_max"].get<double>());
  EXPECT_GT(c["slice_ratio_min"].get<double>(), 0.0);
}
