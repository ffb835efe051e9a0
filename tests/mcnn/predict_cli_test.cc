// A five-channel manifest end to end through the keel binary: train, eval, predict (per field,
// well and treatment, features, unlabelled, 2 MPI ranks), and each bad input as one line, exit 2.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "../support/run_keel.h"

namespace keel::testing {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Probabilities are written with 6 decimals: a mean recomputed from them is within 1e-6 per
// value of the one keel computed from the unrounded values; a sum of 13 within 13 * 5e-7.
constexpr double kPrintTolerance = 2e-6;
constexpr double kSumTolerance = 1e-5;
// 1 vs 2 ranks: the same images through the same weights; only batch composition differs, which
// changes oneDNN's blocking at most in the last float bits.
constexpr double kPredictRankTolerance = 1e-5;
// bf16 against fp32 on a barely trained model (probabilities near 1/13): 2^-8 relative on the
// activations moves a probability by well under 0.02.
constexpr double kBf16Tolerance = 0.02;

const std::string kChannels = "DAPI,Tubulin,Actin,ER,Mito";

// A CSV without quoted commas (what keel writes for this data) as rows of fields.
std::vector<std::vector<std::string>> read_csv(const fs::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_all(p));
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::string cell;
    bool q = false;
    for (char c : line) {
      if (c == '"') q = !q;
      else if (c == ',' && !q) {
        f.push_back(cell);
        cell.clear();
      } else {
        cell += c;
      }
    }
    f.push_back(cell);
    rows.push_back(f);
  }
  return rows;
}

class McnnPredict : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(fs::temp_directory_path() / ("keel_mcnn_predict_" + std::to_string(::getpid())));
    fs::remove_all(*dir_);
    auto s = run_keel("mcnn synth --quiet --height 128 --width 128 --images-per-class 3 --seed 7 "
                      "--channels " + kChannels + " --out " + dir_->string());
    ASSERT_EQ(s.rc, 0) << s.err;
    auto t = run_keel("mcnn train --quiet --manifest " + manifest() + " --channels " + kChannels +
                      " --epochs 2 --batch 4 --reference-batch 4 --threads 1 --checkpoint " +
                      ckpt());
    ASSERT_EQ(t.rc, 0) << t.err;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string manifest() { return (*dir_ / "manifest.csv").string(); }
  static std::string ckpt() { return (*dir_ / "m.ckpt").string(); }
  static std::string predict(const std::string& extra) {
    return "mcnn predict --quiet --threads 1 --checkpoint " + ckpt() + " " + extra;
  }
  static fs::path* dir_;
};
fs::path* McnnPredict::dir_ = nullptr;

TEST_F(McnnPredict, FieldsWellsTreatmentsAndFeaturesAgreeWithEachOtherAndEval) {
  const fs::path d = *dir_;
  auto r = run_keel(predict("--json --manifest " + manifest() + " --channels " + kChannels +
                            " --out " + (d / "pred.csv").string() + " --features " +
                            (d / "feat.csv").string()));
  ASSERT_EQ(r.rc, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["fields"], 39);
  auto fields = read_csv(d / "pred.csv");
  ASSERT_EQ(fields.size(), 40u);
  const auto& head = fields[0];
  ASSERT_EQ(head.size(), 8u + 13u);
  EXPECT_EQ(head[8], "p_Actin disruptors");
  // Per field: probabilities sum to 1 and the predicted class is their argmax. Means per well and
  // per treatment, recomputed here from the fields.
  std::map<std::string, std::pair<int, std::vector<double>>> wells, treatments;
  int correct = 0;
  for (std::size_t i = 1; i < fields.size(); ++i) {
    const auto& f = fields[i];
    double sum = 0;
    std::size_t best = 0;
    std::vector<double> p;
    for (std::size_t c = 0; c < 13; ++c) {
      p.push_back(std::stod(f[8 + c]));
      sum += p.back();
      if (p[c] > p[best]) best = c;
    }
    EXPECT_NEAR(sum, 1.0, kSumTolerance);
    EXPECT_EQ(f[7], head[8 + best].substr(2));
    correct += f[6] == f[7];
    for (auto* m : {&wells, &treatments}) {
      const std::string key = m == &wells ? f[2] + "," + f[3] : f[4] + "," + f[5];
      auto& [n, acc] = (*m)[key];
      if (acc.empty()) acc.assign(13, 0.0);
      for (std::size_t c = 0; c < 13; ++c) acc[c] += p[c];
      ++n;
    }
  }
  for (const char* which : {"pred.wells.csv", "pred.treatments.csv"}) {
    auto rows = read_csv(d / which);
    const auto& want = std::string(which) == "pred.wells.csv" ? wells : treatments;
    ASSERT_EQ(rows.size(), want.size() + 1) << which;
    for (std::size_t i = 1; i < rows.size(); ++i) {
      const auto it = want.find(rows[i][0] + "," + rows[i][1]);
      ASSERT_NE(it, want.end()) << which << " row " << i;
      EXPECT_EQ(std::stoi(rows[i][2]), it->second.first);
      for (std::size_t c = 0; c < 13; ++c)
        EXPECT_NEAR(std::stod(rows[i][4 + c]), it->second.second[c] / it->second.first,
                    kPrintTolerance) << which;
    }
  }
  auto feat = read_csv(d / "feat.csv");
  ASSERT_EQ(feat.size(), treatments.size() + 1);
  EXPECT_EQ(feat[0].size(), 3u + 512u);
  // The same checkpoint's eval over all images sees the same accuracy.
  auto ev = run_keel("mcnn eval --json --threads 1 --split all --manifest " + manifest() +
                     " --channels " + kChannels + " --checkpoint " + ckpt());
  ASSERT_EQ(ev.rc, 0) << ev.err;
  EXPECT_EQ(json::parse(ev.out)["images"], 39);
  EXPECT_NEAR(json::parse(ev.out)["accuracy"].get<double>(), correct / 39.0, 1e-12);
  EXPECT_NEAR(j["accuracy"].get<double>(), correct / 39.0, 1e-12);

  // Unlabelled: the label column dropped; the same probabilities, no labels, no accuracy.
  auto rows = read_csv(manifest());
  std::string text;
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c)
      if (c != 4) text += row[c] + (c + 1 < row.size() ? "," : "\n");
  }
  std::ofstream(d / "unlabelled.csv") << text;
  auto u = run_keel(predict("--json --manifest " + (d / "unlabelled.csv").string() +
                            " --channels " + kChannels + " --out " + (d / "u.csv").string()));
  ASSERT_EQ(u.rc, 0) << u.err;
  EXPECT_FALSE(json::parse(u.out).contains("accuracy"));
  auto ufields = read_csv(d / "u.csv");
  ASSERT_EQ(ufields.size(), fields.size());
  for (std::size_t i = 1; i < fields.size(); ++i) {
    EXPECT_EQ(ufields[i][6], "");
    EXPECT_EQ(ufields[i][8], fields[i][8]);
  }

  // bf16 (the checkpoint was trained in fp32): the same fields, probabilities within bf16's
  // rounding of the activations.
  auto bf = run_keel(predict("--precision bf16 --manifest " + manifest() + " --channels " +
                             kChannels + " --out " + (d / "bf16.csv").string()));
  ASSERT_EQ(bf.rc, 0) << bf.err;
  auto bfields = read_csv(d / "bf16.csv");
  ASSERT_EQ(bfields.size(), fields.size());
  for (std::size_t i = 1; i < fields.size(); ++i)
    for (std::size_t c = 8; c < fields[i].size(); ++c)
      EXPECT_NEAR(std::stod(bfields[i][c]), std::stod(fields[i][c]), kBf16Tolerance);

  // Two MPI ranks (each a shard; rank 0 writes): the same fields.
  const std::string env = "MALLOC_MMAP_THRESHOLD_=1099511627776 MALLOC_TRIM_THRESHOLD_=1099511627776 "
                          "ASAN_OPTIONS=detect_leaks=0";
  auto two = run_shell("env " + env + " " KEEL_MPIEXEC
                       " --allow-run-as-root --oversubscribe --bind-to none -np 2"
                       " -x MALLOC_MMAP_THRESHOLD_ -x MALLOC_TRIM_THRESHOLD_ -x ASAN_OPTIONS " +
                       std::string(KEEL_BINARY) + " " +
                       predict("--manifest " + manifest() + " --channels " + kChannels +
                               " --out " + (d / "mpi.csv").string() + " --features " +
                               (d / "mpi_feat.csv").string()));
  ASSERT_EQ(two.rc, 0) << two.err;
  auto m = read_csv(d / "mpi.csv");
  ASSERT_EQ(m.size(), fields.size());
  for (std::size_t i = 1; i < fields.size(); ++i) {
    EXPECT_EQ(m[i][0], fields[i][0]);  // in manifest order, whatever rank predicted it
    for (std::size_t c = 8; c < fields[i].size(); ++c)
      EXPECT_NEAR(std::stod(m[i][c]), std::stod(fields[i][c]), kPredictRankTolerance);
  }
  auto mf = read_csv(d / "mpi_feat.csv");
  ASSERT_EQ(mf.size(), feat.size());
  for (std::size_t c = 3; c < 20; ++c)
    EXPECT_NEAR(std::stod(mf[1][c]), std::stod(feat[1][c]), kPredictRankTolerance * 10);
}

TEST_F(McnnPredict, BadInputIsOneLineExitTwoAndWritesNothing) {
  const fs::path d = *dir_;
  const std::string out = (d / "bad.csv").string();
  auto expect_bad = [&](const std::string& args, const std::string& text) {
    auto r = run_keel(args);
    EXPECT_EQ(r.rc, 2) << args << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find(text), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out));
  };
  // Another channel count than the checkpoint's.
  expect_bad(predict("--manifest " + manifest() + " --channels DAPI,Tubulin,Actin --out " + out),
             "the checkpoint takes 5 channels (DAPI,Tubulin,Actin,ER,Mito), the data has 3");
  // A column the manifest lacks.
  expect_bad(predict("--manifest " + manifest() + " --channels DAPI,Tubulin,Actin,ER,Golgi --out " + out),
             manifest() + ":1: missing column 'Golgi'");
  // A class the checkpoint does not know.
  auto rows = read_csv(manifest());
  std::string text;
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t c = 0; c < rows[r].size(); ++c)
      text += (r == 2 && c == 4 ? std::string("Senescence") : rows[r][c]) + (c + 1 < rows[r].size() ? "," : "\n");
  std::ofstream(d / "newclass.csv") << text;
  expect_bad(predict("--manifest " + (d / "newclass.csv").string() + " --channels " + kChannels +
                     " --out " + out),
             "newclass.csv:3: label 'Senescence' is not one of the checkpoint's 13 classes");
  // --channels without a manifest; neither input.
  expect_bad(predict("--data " + d.string() + " --channels DAPI --out " + out), "--channels");
  expect_bad(predict("--out " + out), "no input data given");
  // Images of another size than the checkpoint's: 256x128 files.
  auto synth = run_keel("mcnn synth --quiet --height 256 --width 128 --images-per-class 1 "
                        "--channels " + kChannels + " --out " + (d / "big").string());
  ASSERT_EQ(synth.rc, 0) << synth.err;
  expect_bad(predict("--manifest " + (d / "big" / "manifest.csv").string() + " --channels " +
                     kChannels + " --out " + out),
             "images are 256x128, the checkpoint was trained on 128x128");
  // Training refuses a manifest without its label column.
  auto t = run_keel("mcnn train --quiet --manifest " + manifest() + " --channels " + kChannels +
                    " --label-column moa --epochs 1");
  EXPECT_EQ(t.rc, 2);
  EXPECT_NE(t.err.find(":1: missing column 'moa'"), std::string::npos) << t.err;
}

}  // namespace
}  // namespace keel::testing
