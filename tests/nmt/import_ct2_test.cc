// `keel nmt import --from ctranslate2` on model directories in CTranslate2's exact layouts,
// written by tests/nmt/import/ct2_fixture.py (Debian's python3-torch): binary versions 6, 5, 3,
// 2 and 1 (OpenNMT-tf's variable names, no spec name, int16 without a stored scale); int8, int16,
// float16 and float32 weights; pre- and post-norm; shared and separate
// vocabularies (.json and .txt); stored and generated position tables. keel's greedy and beam-4
// outputs equal the fixture's reference forward token for token, fp32 logits within 1e-4; bad
// inputs are one line, exit 2, nothing written.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../support/run_keel.h"
#include "../support/temp_dir.h"
#include "import_util.h"

using keel::testing::kImportLogitTol;
using keel::testing::read_all;
using keel::testing::run_shell;
namespace fs = std::filesystem;

namespace {

// fp32 logits of keel against the reference forward over the same dequantized weights.

const std::vector<std::string> kCt2Variants = {
    "v6-prenorm-int8", "v5-postnorm-int16", "v3-prenorm-f32", "v2-prenorm-f32", "v1-prenorm-int16"};

class Ct2Import : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new keel::testing::TempDir("keel_ct2");
    keel::testing::write_fixtures("ct2_fixture.py", dir_->path, kCt2Variants);
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path fixture(const std::string& v) { return dir_->path / v; }
  static keel::testing::RunResult import(const fs::path& model, const fs::path& spm, const fs::path& out,
                                         const std::string& extra = {}) {
    return run_shell(std::string(KEEL_BINARY) + " nmt import --from ctranslate2 " + model.string() +
                     " --source-spm " + (spm / "source.spm").string() + " --target-spm " +
                     (spm / "target.spm").string() + " --out " + out.string() + extra);
  }
  static keel::testing::TempDir* dir_;
};
keel::testing::TempDir* Ct2Import::dir_ = nullptr;

}  // namespace

TEST_F(Ct2Import, EveryBinaryVersionAndWeightTypeEqualsTheReference) {
  bool searched = false;
  for (const auto& v : kCt2Variants) {
    const fs::path out = fixture(v) / "keel";
    auto r = import(fixture(v) / "model", fixture(v) / "spm", out);
    ASSERT_EQ(r.rc, 0) << v << ": " << r.err;
    searched |= keel::testing::expect_reference_outputs(out / "model.keel", fixture(v), v);
    EXPECT_EQ(
        keel::testing::expect_reference_logits(out / "model.keel", fixture(v), kImportLogitTol, v),
        6u);
  }
  EXPECT_TRUE(searched) << "beam 4 and greedy agree everywhere: the beam search went untested";
  // The imported directory translates raw text (its SentencePiece models came along) in int8.
  auto t = run_shell("(printf 'the cell divides\\nsmall plates\\n' | " + std::string(KEEL_BINARY) +
                     " nmt translate --quiet --compute int8-dynamic --model " +
                     (fixture(kCt2Variants[0]) / "keel").string() + ")");
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_EQ(keel::testing::lines_of(t.out).size(), 2u);
}

TEST_F(Ct2Import, BadInputsAreOneLineAndWriteNothing) {
  const fs::path base = fixture("v6-prenorm-int8");
  auto copy = [&](const std::string& name) {
    const fs::path to = dir_->path / ("broken_" + name);
    fs::remove_all(to);
    fs::copy(base / "model", to);
    return to;
  };
  auto patch = [](const fs::path& file, std::size_t at, const std::string& bytes) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(at));
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  };
  struct Case {
    std::string name, in_error;
    std::function<void(const fs::path&)> damage;
  };
  const std::vector<Case> cases = {
      {"no_model", "model.bin", [](const fs::path& d) { fs::remove(d / "model.bin"); }},
      {"version_9", "binary version 9", [&](const fs::path& d) { patch(d / "model.bin", 0, std::string("\x09\0\0\0", 4)); }},
      // Version 1 has no spec name: this file's name is then read as the variable count.
      {"version_1", "not a CTranslate2 model file", [&](const fs::path& d) { patch(d / "model.bin", 0, std::string("\x01\0\0\0", 4)); }},
      {"truncated", "file ends inside",
       [](const fs::path& d) { fs::resize_file(d / "model.bin", fs::file_size(d / "model.bin") / 2); }},
      {"spec", "not an encoder-decoder Transformer",
       [&](const fs::path& d) { patch(d / "model.bin", 6, "WhisperSpecXXXX"); }},  // same length as TransformerSpec
      {"no_vocab", "vocabulary", [](const fs::path& d) { fs::remove(d / "shared_vocabulary.json"); }},
      {"short_vocab", "vocabularies of",
       [](const fs::path& d) {
         auto v = nlohmann::json::parse(read_all(d / "shared_vocabulary.json"));
         v.erase(v.size() - 1);
         std::ofstream(d / "shared_vocabulary.json") << v.dump();
       }},
      {"no_start", "decoder_start_token",
       [](const fs::path& d) {
         auto c = nlohmann::json::parse(read_all(d / "config.json"));
         c["decoder_start_token"] = nullptr;
         std::ofstream(d / "config.json") << c.dump();
       }},
      {"no_config", "config.json", [](const fs::path& d) { fs::remove(d / "config.json"); }},
  };
  for (const auto& c : cases) {
    const fs::path broken = copy(c.name), out = broken.string() + "_out";
    c.damage(broken);
    auto r = import(broken, base / "spm", out);
    EXPECT_EQ(r.rc, 2) << c.name << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.in_error), std::string::npos) << c.name << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.name;
  }
  // SentencePiece models of other text: their pieces are not in the vocabulary.
  const fs::path other = dir_->path / "other_spm";
  fs::create_directories(other);
  fs::copy_file(base / "other.spm", other / "source.spm", fs::copy_options::overwrite_existing);
  fs::copy_file(base / "spm" / "target.spm", other / "target.spm", fs::copy_options::overwrite_existing);
  auto r = import(base / "model", other, dir_->path / "other_out");
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("SentencePiece"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir_->path / "other_out"));
  // No SentencePiece model given or found.
  r = run_shell(std::string(KEEL_BINARY) + " nmt import --from ctranslate2 " + (base / "model").string() +
                " --out " + (dir_->path / "nospm_out").string());
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("--spm"), std::string::npos) << r.err;
}
