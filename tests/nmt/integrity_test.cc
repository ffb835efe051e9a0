// Model directories carry a manifest (DIR/checksums) for the files other tools also read: a
// damaged SentencePiece model is refused, not loaded into <unk> soup. 100 single-byte flips at
// random offsets and 20 truncations of spm.model: all refused.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "../support/corruption.h"
#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/nmt/sentencepiece.h"

namespace {

namespace fs = std::filesystem;

std::string bytes_of(const fs::path& f) {
  std::ifstream in(f, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ModelDirectoryIntegrity, DamagedSentencePieceModelsAreRefused) {
  const fs::path src = fs::path(KEEL_SOURCE_DIR) / "models" / "en-es-int8";
  const fs::path dir = fs::temp_directory_path() / ("keel_integrity_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  fs::copy_file(src / "spm.model", dir / "spm.model", fs::copy_options::overwrite_existing);
  fs::copy_file(src / "model.keel", dir / "model.keel", fs::copy_options::overwrite_existing);
  keel::core::write_manifest(dir, {"model.keel", "spm.model"});
  EXPECT_NO_THROW(keel::nmt::resolve_model_paths(dir));
  const std::string good = bytes_of(dir / "spm.model");
  auto write = [&](const std::string& b) {
    std::ofstream(dir / "spm.model", std::ios::binary) << b;
  };
  const auto n = keel::testing::corrupt_each(
      good, 100, 20, 3, write, [&] { keel::nmt::resolve_model_paths(dir); },
      "corrupt (checksum mismatch)");
  EXPECT_EQ(n.flips_with_message, 100);
  EXPECT_EQ(n.cuts_refused, 20);
  // The shipped model directory carries its manifest too.
  EXPECT_TRUE(fs::is_regular_file(src / keel::core::kManifest));
  EXPECT_NO_THROW(keel::nmt::resolve_model_paths(src));
  fs::remove_all(dir);
}

}  // namespace
