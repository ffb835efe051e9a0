// `keel nmt import --from marian-hf` on directories in the exact Hugging Face MarianMT layout,
// written by tests/nmt/import/marian_fixture.py (Debian's python3-torch): keel's greedy and beam-4
// outputs equal the fixture's own reference MarianMT forward token for token, fp32 logits within
// 1e-4; the imported directory quantizes, translates raw text and benches; bad inputs are one
// line, exit 2, nothing written.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "../support/run_keel.h"
#include "../support/temp_dir.h"
#include "import_util.h"
#include "keel/nmt/model.h"
#include "keel/nmt/transformer.h"

using keel::testing::kImportLogitTol;
using keel::testing::read_all;
using keel::testing::run_shell;
namespace fs = std::filesystem;

namespace {

// fp32 logits of keel against the reference forward (PyTorch, same fp32 weights).

const std::string kKeel = KEEL_BINARY;

class MarianImport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new keel::testing::TempDir("keel_marian");
    keel::testing::write_fixtures("marian_fixture.py", dir_->path, {"shared-swish", "separate-gelu"});
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path fixture(const std::string& variant) { return dir_->path / variant; }
  // A fresh copy of a fixture's model directory to break.
  static fs::path copy_of(const std::string& variant, const std::string& name) {
    const fs::path to = dir_->path / name;
    fs::remove_all(to);
    fs::copy(fixture(variant) / "model", to);
    return to;
  }
  static keel::testing::RunResult import(const fs::path& from, const fs::path& out) {
    return run_shell(kKeel + " nmt import --from marian-hf " + from.string() + " --out " + out.string());
  }
  static keel::testing::TempDir* dir_;
};
keel::testing::TempDir* MarianImport::dir_ = nullptr;

}  // namespace

TEST_F(MarianImport, GreedyBeamAndLogitsEqualTheReference) {
  bool searched = false;
  for (const std::string variant : {"shared-swish", "separate-gelu"}) {
    const fs::path out = fixture(variant) / "keel";
    auto r = import(fixture(variant) / "model", out);
    ASSERT_EQ(r.rc, 0) << r.err;
    searched |= keel::testing::expect_reference_outputs(out / "model.keel", fixture(variant), variant);
    EXPECT_EQ(keel::testing::expect_reference_logits(out / "model.keel", fixture(variant),
                                                     kImportLogitTol, variant),
              6u);
  }
  EXPECT_TRUE(searched) << "beam 4 and greedy agree everywhere: the beam search went untested";
}

TEST_F(MarianImport, TheDirectoryQuantizesTranslatesTextAndBenches) {
  const fs::path out = fixture("shared-swish") / "keel_use", q = fixture("shared-swish") / "keel_int8";
  ASSERT_EQ(import(fixture("shared-swish") / "model", out).rc, 0);
  auto calib = fixture("shared-swish") / "calib.txt";
  std::ofstream(calib) << "the cell divides\nlarge compounds move into the nucleus\nthe first phase of mitosis\n";
  auto qr = run_shell(kKeel + " nmt quantize --quiet --model " + out.string() + " --calib " +
                      calib.string() + " --out " + q.string());
  ASSERT_EQ(qr.rc, 0) << qr.err;
  EXPECT_TRUE(fs::exists(q / "decoding.json"));  // the model's defaults travel with it
  EXPECT_TRUE(fs::exists(q / "source.spm") && fs::exists(q / "target.spm"));
  for (const fs::path& m : {out, q}) {
    auto t = run_shell("(printf 'the cell divides\\nlarge compounds move\\n' | " + kKeel +
                       " nmt translate --quiet --model " + m.string() + ")");
    ASSERT_EQ(t.rc, 0) << t.err;
    const auto got = keel::testing::lines_of(t.out);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_FALSE(got[0].empty());
  }
  auto b = run_shell(kKeel + " nmt bench --quiet --json --model " + out.string() +
                     " --compute fp32,int8-dynamic --sentences 8 --batch 4 --target-length 5");
  ASSERT_EQ(b.rc, 0) << b.err;
  EXPECT_EQ(nlohmann::json::parse(b.out)["runs"].size(), 2u);
}

TEST_F(MarianImport, BadInputsAreOneLineAndWriteNothing) {
  struct Case {
    std::string name, what_in_error;
    std::function<void(const fs::path&)> damage;
  };
  auto edit_config = [](const fs::path& dir, const std::function<void(nlohmann::json&)>& f) {
    auto c = nlohmann::json::parse(read_all(dir / "config.json"));
    f(c);
    std::ofstream(dir / "config.json") << c.dump();
  };
  const std::vector<Case> cases = {
      {"no_config", "config.json", [](const fs::path& d) { fs::remove(d / "config.json"); }},
      {"bart", "model_type", [&](const fs::path& d) { edit_config(d, [](auto& c) { c["model_type"] = "bart"; }); }},
      {"gelu_new", "activation_function",
       [&](const fs::path& d) { edit_config(d, [](auto& c) { c["activation_function"] = "gelu_new"; }); }},
      {"pre_norm", "normalize_before",
       [&](const fs::path& d) { edit_config(d, [](auto& c) { c["normalize_before"] = true; }); }},
      {"wide", "shape", [&](const fs::path& d) { edit_config(d, [](auto& c) { c["encoder_ffn_dim"] = 256; c["decoder_ffn_dim"] = 256; }); }},
      {"no_d_model", "d_model", [&](const fs::path& d) { edit_config(d, [](auto& c) { c.erase("d_model"); }); }},
      {"other_spm", "SentencePiece",
       [&](const fs::path& d) {
         fs::copy_file(d.parent_path() / "shared-swish" / "other.spm", d / "source.spm",
                       fs::copy_options::overwrite_existing);
       }},
      // Named where the user has it, not as the importer's temporary copy.
      {"junk_spm", "broken_junk_spm/target.spm: not a SentencePiece model",
       [](const fs::path& d) { std::ofstream(d / "target.spm") << "junk"; }},
      {"gen_beams", "num_beams",
       [](const fs::path& d) { std::ofstream(d / "generation_config.json") << R"({"num_beams": -3})"; }},
      {"gen_length", "max_length",
       [](const fs::path& d) { std::ofstream(d / "generation_config.json") << R"({"max_length": 0})"; }},
      {"truncated", "model.safetensors",
       [](const fs::path& d) { fs::resize_file(d / "model.safetensors", fs::file_size(d / "model.safetensors") - 100); }},
      {"bad_header", "header",
       [](const fs::path& d) {
         std::fstream f(d / "model.safetensors", std::ios::in | std::ios::out | std::ios::binary);
         f.seekp(8);
         f.write("[", 1);  // the JSON header is no longer an object
       }},
      {"pickle_only", "pytorch_model.bin",
       [](const fs::path& d) {
         fs::rename(d / "model.safetensors", d / "pytorch_model.bin");
       }},
      {"vocab_size", "vocab.json",
       [&](const fs::path& d) { edit_config(d, [](auto& c) { c["vocab_size"] = c["vocab_size"].template get<int>() + 1; }); }},
  };
  for (const auto& c : cases) {
    const fs::path broken = copy_of("shared-swish", "broken_" + c.name), out = broken.string() + "_out";
    c.damage(broken);
    auto r = import(broken, out);
    EXPECT_EQ(r.rc, 2) << c.name << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.what_in_error), std::string::npos) << c.name << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.name;
    for (const auto& e : fs::directory_iterator(broken.parent_path()))
      EXPECT_EQ(e.path().filename().string().find(".partial."), std::string::npos) << e.path();
  }
  // pytorch_model.bin damaged: cut short, or its pickle holding an opcode outside the data subset.
  for (const std::string how : {"truncated", "opcode"}) {
    const fs::path broken = copy_of("separate-gelu", "broken_bin_" + how), out = broken.string() + "_out";
    const fs::path bin = broken / "pytorch_model.bin";
    if (how == "truncated") {
      fs::resize_file(bin, fs::file_size(bin) / 2);
    } else {  // rewrite the archive with a pickle that asks to run code (INST opcode 'i')
      const auto r = run_shell("/usr/bin/python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1],'w'); "
                               "z.writestr('archive/data.pkl', b'\\x80\\x02(ios\\nsystem\\n.'); z.close()\" " +
                               bin.string());
      ASSERT_EQ(r.rc, 0) << r.err;
    }
    auto r = import(broken, out);
    EXPECT_EQ(r.rc, 2) << how << ": " << r.err;
    EXPECT_NE(r.err.find("pytorch_model.bin"), std::string::npos) << how << ": " << r.err;
    if (how == "opcode") {
      EXPECT_NE(r.err.find("unsupported pickle opcode 0x69"), std::string::npos) << r.err;
    }
    EXPECT_FALSE(fs::exists(out)) << how;
  }
  // An existing output directory is never overwritten.
  const fs::path taken = fixture("shared-swish") / "taken";
  fs::create_directories(taken);
  auto r = import(fixture("shared-swish") / "model", taken);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
}
