// `keel nmt import --from opennmt-py` on OpenNMT-py 3.x checkpoints written by torch.save itself
// (tests/nmt/import/onmt_fixture.py, Debian's python3-torch): keel's greedy and beam-4 outputs
// equal the fixture's reference OpenNMT-py forward token for token, fp32 logits within 1e-4;
// the variants keel does not run are refused by option or tensor name, in one line, exit 2.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "../support/run_keel.h"
#include "../support/temp_dir.h"
#include "import_util.h"

using keel::testing::kImportLogitTol;
using keel::testing::run_shell;
namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kOnmtVariants = {"relu-interleaved-shared", "gelu-concat-separate"};

class OnmtImport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new keel::testing::TempDir("keel_onmt");
    keel::testing::write_fixtures("onmt_fixture.py", dir_->path, kOnmtVariants);
  }
  static void TearDownTestSuite() { delete dir_; }
  static fs::path fixture(const std::string& v) { return dir_->path / v; }
  static keel::testing::RunResult import(const fs::path& ckpt, const fs::path& spm, const fs::path& out) {
    return run_shell(std::string(KEEL_BINARY) + " nmt import --from opennmt-py " + ckpt.string() +
                     " --source-spm " + (spm / "source.spm").string() + " --target-spm " +
                     (spm / "target.spm").string() + " --out " + out.string());
  }
  static keel::testing::TempDir* dir_;
};
keel::testing::TempDir* OnmtImport::dir_ = nullptr;

}  // namespace

TEST_F(OnmtImport, GreedyBeamAndLogitsEqualTheReference) {
  bool searched = false;
  for (const auto& v : kOnmtVariants) {
    const fs::path out = fixture(v) / "keel";
    auto r = import(fixture(v) / "model.pt", fixture(v) / "spm", out);
    ASSERT_EQ(r.rc, 0) << v << ": " << r.err;
    searched |= keel::testing::expect_reference_outputs(out / "model.keel", fixture(v), v);
    EXPECT_EQ(
        keel::testing::expect_reference_logits(out / "model.keel", fixture(v), kImportLogitTol, v),
        6u);
  }
  EXPECT_TRUE(searched) << "beam 4 and greedy agree everywhere: the beam search went untested";
}

TEST_F(OnmtImport, OtherVariantsAndBrokenCheckpointsAreOneLine) {
  const fs::path base = fixture(kOnmtVariants[0]);
  // Each case edits a copy of the checkpoint in Python (torch.load, one change, torch.save).
  struct Case {
    std::string name, python, in_error;
  };
  const std::vector<Case> cases = {
      {"relative", "c['opt'].max_relative_positions = 20", "max_relative_positions"},
      {"rotary", "c['opt'].max_relative_positions = -1", "max_relative_positions"},
      {"rms", "c['opt'].layer_norm = 'rms'", "layer_norm"},
      {"gated", "c['opt'].pos_ffn_activation_fn = 'silu'", "pos_ffn_activation_fn"},
      {"num_kv", "c['opt'].num_kv = 2", "num_kv"},
      {"copy", "c['opt'].copy_attn = True", "copy_attn"},
      {"lm", "c['opt'].decoder_type = 'transformer_lm'", "decoder_type"},
      {"w3", "c['model']['encoder.transformer.0.feed_forward.w_3.weight'] = torch.zeros(128, 64)", "w_3"},
      {"st_format", "del c['model']", "safetensors"},
      {"short_vocab", "c['vocab']['src'] = c['vocab']['src'][:-1]", "vocabularies of"},
      {"no_blank", "c['vocab']['tgt'][1] = 'x<blank>'; c['vocab']['src'][1] = 'x<blank>'", "<blank>"},
      {"wide", "c['model']['encoder.transformer.0.feed_forward.w_2.weight'] = torch.zeros(64, 100)", "shape"},
  };
  // One Python run writes them all (importing torch costs most of the time).
  const fs::path script = dir_->path / "break.py";
  {
    std::ofstream py(script);
    py << "import copy, sys, torch\nbase = torch.load(sys.argv[1])\n";
    for (const auto& c : cases)
      py << "c = copy.deepcopy(base)\n" << c.python << "\ntorch.save(c, sys.argv[2] + '/broken_" << c.name << ".pt')\n";
  }
  const auto w = run_shell("/usr/bin/python3 " + script.string() + " " + (base / "model.pt").string() + " " +
                           dir_->path.string());
  ASSERT_EQ(w.rc, 0) << w.err;
  for (const auto& c : cases) {
    const fs::path ckpt = dir_->path / ("broken_" + c.name + ".pt"), out = dir_->path / ("broken_" + c.name);
    auto r = import(ckpt, base / "spm", out);
    EXPECT_EQ(r.rc, 2) << c.name << ": " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.in_error), std::string::npos) << c.name << ": " << r.err;
    EXPECT_FALSE(fs::exists(out)) << c.name;
  }
  // Not a checkpoint at all, and one cut short.
  const fs::path text = dir_->path / "notes.pt", cut = dir_->path / "cut.pt";
  std::ofstream(text) << "not a checkpoint\n";
  fs::copy_file(base / "model.pt", cut, fs::copy_options::overwrite_existing);
  fs::resize_file(cut, fs::file_size(cut) / 3);
  for (const auto& f : {text, cut}) {
    auto r = import(f, base / "spm", dir_->path / "never");
    EXPECT_EQ(r.rc, 2) << f << ": " << r.err;
    EXPECT_NE(r.err.find(f.filename().string()), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(dir_->path / "never"));
  // A directory where the checkpoint belongs: said so, not "missing".
  auto d = import(base, base / "spm", dir_->path / "never");
  EXPECT_EQ(d.rc, 2) << d.err;
  EXPECT_NE(d.err.find("is a directory"), std::string::npos) << d.err;
}
