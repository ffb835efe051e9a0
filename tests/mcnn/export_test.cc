// `keel mcnn export`: Debian's PyTorch (/usr/bin/python3, torch.jit.load) runs the exported
// module on the same input as keel's network and gets the same logits; its normalize() is
// keel's loader normalisation.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>

#include "../support/run_keel.h"
#include "../../src/mcnn/net.h"
#include "keel/mcnn/export.h"
#include "keel/mcnn/loader.h"
#include "keel/train/torch_train.h"

namespace {

namespace fs = std::filesystem;

// fp32 both sides, the same ATen kernels in another order of operations (channels_last inside
// keel, NCHW in the module): measured ~1e-6 on logits of magnitude ~1.
constexpr double kLogitTolerance = 1e-4;
// normalize() computes in float64 like keel's loader, then one float32 multiply-add.
constexpr double kNormTolerance = 1e-5;

void write_floats(const fs::path& p, const torch::Tensor& t) {
  auto c = t.contiguous();
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(c.data_ptr<float>()),
             static_cast<std::streamsize>(c.numel() * sizeof(float)));
}

torch::Tensor read_floats(const fs::path& p, std::vector<std::int64_t> shape) {
  const std::string bytes = keel::testing::read_all(p);
  auto t = torch::empty(shape);
  EXPECT_EQ(bytes.size(), static_cast<std::size_t>(t.numel()) * sizeof(float)) << p;
  std::memcpy(t.data_ptr<float>(), bytes.data(), std::min<std::size_t>(bytes.size(), t.numel() * sizeof(float)));
  return t;
}

TEST(McnnExport, PyTorchLoadsTheModuleAndComputesKeelsLogits) {
  const fs::path dir = fs::temp_directory_path() / ("keel_export_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  // Five channels, a non-square image, trained-looking (non-zero) biases.
  const keel::mcnn::ModelShape shape{128, 256, 4, 5};
  torch::manual_seed(11);
  keel::mcnn::McnnNet net(shape);
  {
    torch::NoGradGuard g;
    for (auto& p : net->parameters())
      if (p.dim() == 1) p.uniform_(-0.1, 0.1);
  }
  auto opt = keel::train::make_sgd(*net, {});
  const nlohmann::json extra = {{"height", 128}, {"width", 256},
                                {"classes", {"a", "b", "c", "d"}},
                                {"channels", {"DNA", "ER", "RNA", "AGP", "Mito"}},
                                {"precision", "fp32"}};
  keel::train::save_checkpoint(dir / "m.ckpt", *net, *opt, {1, 1, 1, extra.dump()});
  auto r = keel::testing::run_keel("mcnn export --checkpoint " + (dir / "m.ckpt").string() +
                                   " --out " + (dir / "m.pt").string());
  ASSERT_EQ(r.rc, 0) << r.err;

  const torch::Tensor x = torch::randn({2, 5, 128, 256});
  // Camera-like raw values: 12-bit x16 (below 65536), different brightness per channel.
  const torch::Tensor raw = (torch::rand({2, 5, 128, 256}) * 3000 + torch::arange(5).view({1, 5, 1, 1}) * 200)
                                .floor() * 16;
  write_floats(dir / "x.bin", x);
  write_floats(dir / "raw.bin", raw);
  auto py = keel::testing::run_shell("/usr/bin/python3 " KEEL_SOURCE_DIR
                                     "/tests/mcnn/torchscript_check.py " +
                                     (dir / "m.pt").string() + " " + (dir / "x.bin").string() +
                                     " " + (dir / "raw.bin").string() + " 2 5 128 256 " +
                                     dir.string());
  ASSERT_EQ(py.rc, 0) << "Debian's python3-torch runs the export (install-deps.sh installs it): "
                      << py.err;
  torch::Tensor want;
  {
    torch::NoGradGuard g;
    want = net->forward(x);
  }
  const auto got = read_floats(dir / "logits.bin", {2, 4});
  EXPECT_LE((got - want).abs().max().item<double>(), kLogitTolerance)
      << "keel " << want << "\nPyTorch " << got;
  EXPECT_GT(want.abs().max().item<double>(), 1e-3);  // not a comparison of zeros

  // normalize() against the loader's per-channel normalisation.
  const auto norm = read_floats(dir / "norm.bin", {2, 5, 128, 256});
  std::vector<std::uint16_t> plane(128 * 256);
  std::vector<float> mine(plane.size());
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 5; ++c) {
      auto src = raw[n][c].contiguous();
      for (std::size_t i = 0; i < plane.size(); ++i)
        plane[i] = static_cast<std::uint16_t>(src.data_ptr<float>()[i]);
      keel::mcnn::normalise_channel(plane.data(), plane.size(), mine.data());
      auto ref = torch::from_blob(mine.data(), {128, 256});
      EXPECT_LE((norm[n][c] - ref).abs().max().item<double>(), kNormTolerance) << n << "," << c;
    }
  const auto meta = nlohmann::json::parse(keel::testing::read_all(dir / "meta.json"));
  EXPECT_EQ(meta["channels"], extra["channels"]);
  EXPECT_EQ(meta["classes"], extra["classes"]);
  EXPECT_NE(meta["normalisation"].get<std::string>().find("max(std, 16)"), std::string::npos);

  // Not an M-CNN checkpoint: one line, exit 2, nothing written.
  keel::train::save_checkpoint(dir / "other.ckpt", *net, *opt, {1, 1, 1, "{}"});
  auto bad = keel::testing::run_keel("mcnn export --checkpoint " + (dir / "other.ckpt").string() +
                                     " --out " + (dir / "o.pt").string());
  EXPECT_EQ(bad.rc, 2) << bad.err;
  EXPECT_EQ(keel::testing::count_lines(bad.err), 1) << bad.err;
  EXPECT_FALSE(fs::exists(dir / "o.pt"));
  fs::remove_all(dir);
}

}  // namespace
