// The model file: round trips, determinism, and rejection of truncated or corrupt files.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "keel/core/error.h"
#include "keel/nmt/model.h"

using namespace keel::nmt;
namespace fs = std::filesystem;

namespace {

Model tiny(std::uint64_t seed = 7) {
  return random_model(preset_config(Preset::tiny), seed);
}

// Rewrites the trailing CRC so a test can corrupt the body and still reach the parser.
void fix_crc(std::string& bytes) {
  auto crc = static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size() - 4)));
  std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
}

std::string error_of(const std::string& bytes) {
  try {
    parse_model(bytes, "m.bin");
  } catch (const keel::core::InputError& e) {
    return e.what();
  }
  return "";
}

constexpr std::size_t kBodyStart = 20;  // magic 8 + version 4 + body size 8

}  // namespace

TEST(ModelFile, RoundTripKeepsConfigVocabAndTensorsBitExact) {
  Model m = tiny();
  m.config.pre_norm = false;  // a non-default flag must survive too
  m.tensors.erase("encoder.final_norm.weight");
  std::string bytes = serialize_model(m);
  Model back = parse_model(bytes, "mem");
  EXPECT_EQ(back.config.d_model, 32u);
  EXPECT_FALSE(back.config.pre_norm);
  EXPECT_TRUE(back.config.shared_embeddings);
  EXPECT_EQ(back.src_vocab.tokens(), m.src_vocab.tokens());
  EXPECT_EQ(back.tgt_vocab.id("w7", 3), 7u);
  ASSERT_EQ(back.tensors.size(), m.tensors.size());
  for (const auto& [name, t] : m.tensors) {
    const Tensor& u = back.tensors.at(name);
    EXPECT_EQ(u.shape, t.shape) << name;
    EXPECT_EQ(0, std::memcmp(u.f32.data(), t.f32.data(), t.f32.size() * 4)) << name;
  }
  EXPECT_EQ(serialize_model(back), bytes);
}

TEST(ModelFile, Int8TensorsKeepTheirPerRowScales) {
  Model m = tiny();
  Tensor q;
  q.dtype = DType::s8;
  q.shape = {3, 2};
  q.s8 = {-127, 0, 5, 127, -1, 1};
  q.scales = {0.5f, 2.f, 8.f};
  m.tensors["extra.weight"] = q;
  Model back = parse_model(serialize_model(m), "mem");
  const Tensor& u = back.tensors.at("extra.weight");
  EXPECT_EQ(u.dtype, DType::s8);
  EXPECT_EQ(u.s8, q.s8);
  EXPECT_EQ(u.scales, q.scales);
}

TEST(ModelFile, SameSeedSameBytesOtherSeedOtherBytes) {
  EXPECT_EQ(serialize_model(tiny(3)), serialize_model(tiny(3)));
  EXPECT_NE(serialize_model(tiny(3)), serialize_model(tiny(4)));
}

TEST(ModelFile, SavedAtomicallyAndLoadedFromDisk) {
  auto path = fs::temp_directory_path() / (std::to_string(::getpid()) + "_tiny.keelnmt");
  save_model(tiny(), path);
  Model back = load_model(path);
  EXPECT_EQ(back.config.encoder_layers, 2u);
  for (const auto& e : fs::directory_iterator(path.parent_path()))  // no temporary left
    EXPECT_EQ(e.path().filename().string().find(path.filename().string() + ".tmp."), std::string::npos);
  fs::remove(path);
  EXPECT_THROW(save_model(tiny(), "/nonexistent_dir/x.keelnmt"), keel::core::InputError);
  EXPECT_THROW(load_model("/nonexistent_dir/x.keelnmt"), keel::core::InputError);
}

TEST(ModelFile, DeferredLoadReadsTensorsOnlyWhenFetched) {
  auto path = fs::temp_directory_path() / (std::to_string(::getpid()) + "_deferred.keelnmt");
  const Model whole = tiny();
  save_model(whole, path);
  Model m = load_model(path, LoadMode::deferred);
  EXPECT_EQ(m.tensors.size(), whole.tensors.size());
  for (const auto& [name, t] : m.tensors) {  // shapes known, no data held
    EXPECT_TRUE(t.deferred) << name;
    EXPECT_TRUE(t.f32.empty() && t.s8.empty()) << name;
    EXPECT_EQ(t.shape, whole.tensors.at(name).shape) << name;
  }
  const std::string name = "encoder.layers.0.ffn.fc1.weight";
  const auto shape = whole.tensors.at(name).shape;
  EXPECT_THROW(m.get(name, shape), keel::core::Error);  // not fetched yet
  EXPECT_THROW(serialize_model(m), keel::core::Error);  // would write empty tensors
  m.fetch("encoder.layers.0.");
  EXPECT_EQ(m.get(name, shape).f32, whole.tensors.at(name).f32);
  EXPECT_TRUE(m.tensors.at("encoder.layers.1.ffn.fc1.weight").deferred);
  m.fetch("");
  EXPECT_EQ(serialize_model(m), serialize_model(whole));

  // A file cut short after the deferred load is reported, not read past.
  Model again = load_model(path, LoadMode::deferred);
  fs::resize_file(path, 100);
  try {
    again.fetch("encoder.");
    ADD_FAILURE() << "a truncated file was read";
  } catch (const keel::core::InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("corrupt model file at byte"), std::string::npos) << what;
    EXPECT_EQ(what.find("at byte 0:"), std::string::npos) << "names the tensor's offset: " << what;
  }
  fs::remove(path);
  EXPECT_THROW(again.fetch("decoder."), keel::core::InputError);
}

TEST(ModelFile, EveryTruncationIsRejectedWithAClearError) {
  std::string bytes = serialize_model(tiny());
  for (std::size_t n = 0; n < bytes.size(); n += (n < 200 ? 1 : 997)) {
    std::string err = error_of(bytes.substr(0, n));
    EXPECT_FALSE(err.empty()) << "prefix of " << n << " bytes was accepted";
  }
  EXPECT_NE(error_of(bytes.substr(0, bytes.size() / 2)).find("truncated"), std::string::npos);
}

TEST(ModelFile, HundredRandomFlipsAreAllRefused) {
  const std::string bytes = serialize_model(tiny());
  std::mt19937_64 rng(21);
  for (int i = 0; i < 100; ++i) {
    std::string bad = bytes;
    const std::size_t at = rng() % bad.size();
    bad[at] = static_cast<char>(bad[at] ^ static_cast<char>(1 + rng() % 255));
    EXPECT_FALSE(error_of(bad).empty()) << "flip at byte " << at << " was accepted";
  }
}

TEST(ModelFile, FlippedBitsFailTheChecksum) {
  std::string bytes = serialize_model(tiny());
  for (std::size_t at : {kBodyStart, bytes.size() / 3, bytes.size() / 2, bytes.size() - 5}) {
    std::string bad = bytes;
    bad[at] = static_cast<char>(bad[at] ^ 0x10);
    EXPECT_NE(error_of(bad).find("checksum mismatch"), std::string::npos) << "byte " << at;
  }
}

TEST(ModelFile, WrongMagicOrVersionIsNamed) {
  std::string bytes = serialize_model(tiny());
  std::string bad = bytes;
  bad[0] = 'X';
  EXPECT_NE(error_of(bad).find("bad magic"), std::string::npos);
  bad = bytes;
  bad[8] = 9;
  EXPECT_NE(error_of(bad).find("version 9 is not supported"), std::string::npos);
  EXPECT_NE(error_of("hello").find("not a keel model file"), std::string::npos);
}

TEST(ModelFile, CorruptBodyWithValidChecksumIsRejectedNotCrashed) {
  std::string bytes = serialize_model(tiny());
  // Config: 7 u32 sizes, flags, eps, 4 ids; then the vocabulary count.
  std::string bad = bytes;
  std::uint32_t huge = 0xffffffffu;
  std::memcpy(bad.data() + kBodyStart + 13 * 4 + 4, &huge, 4);  // first vocabulary's size
  fix_crc(bad);
  EXPECT_NE(error_of(bad).find("corrupt model file at byte"), std::string::npos) << error_of(bad);

  bad = bytes;
  std::uint32_t heads = 5;  // 32 % 5 != 0
  std::memcpy(bad.data() + kBodyStart + 3 * 4, &heads, 4);
  fix_crc(bad);
  EXPECT_NE(error_of(bad).find("multiple of heads"), std::string::npos) << error_of(bad);

  bad = bytes;
  std::uint32_t flags = 0x80f;  // bit 11 means nothing
  std::memcpy(bad.data() + kBodyStart + 7 * 4, &flags, 4);
  fix_crc(bad);
  EXPECT_NE(error_of(bad).find("unknown config flags"), std::string::npos) << error_of(bad);

}

TEST(ModelFile, ActivationAndPositionLayoutRoundTrip) {
  Model m = tiny();
  m.config.activation = Activation::gelu_tanh;
  m.config.positions = PositionLayout::tensorflow;
  m.config.source_eos = false;
  m.config.source_bos = true;
  const auto path = std::filesystem::temp_directory_path() / ("keel_act_" + std::to_string(::getpid()) + ".keel");
  save_model(m, path);
  const Model back = load_model(path);
  EXPECT_EQ(back.config.activation, Activation::gelu_tanh);
  EXPECT_EQ(back.config.positions, PositionLayout::tensorflow);
  EXPECT_FALSE(back.config.source_eos);
  EXPECT_TRUE(back.config.source_bos);
  std::filesystem::remove(path);
}

TEST(ModelFile, LookupNamesMissingTensorsAndWrongShapes) {
  Model m = tiny();
  EXPECT_NO_THROW(m.get("encoder.layers.0.ffn.fc1.weight", {64, 32}));
  try {
    m.get("encoder.layers.0.ffn.fc1.weight", {32, 64});
    FAIL();
  } catch (const keel::core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("shape [64, 32], expected [32, 64]"), std::string::npos);
  }
  EXPECT_THROW(m.get("encoder.layers.9.ffn.fc1.weight", {64, 32}), keel::core::InputError);
}

TEST(ModelFile, BasePresetHasTransformerBaseShape) {
  ModelConfig c = preset_config(Preset::base);
  EXPECT_EQ(c.encoder_layers, 6u);
  EXPECT_EQ(c.d_model, 512u);
  EXPECT_EQ(c.ffn, 2048u);
  EXPECT_EQ(c.src_vocab, 32000u);
  EXPECT_TRUE(c.pre_norm && c.shared_embeddings && c.tied_output);
  std::int64_t params = 0;
  for (const auto& [name, shape] : expected_tensors(c)) {
    std::int64_t n = 1;
    for (auto d : shape) n *= d;
    params += n;
  }
  // 16.4 M embedding + 6 x 3.15 M encoder + 6 x 4.20 M decoder + norms ~= 60.5 M.
  EXPECT_NEAR(static_cast<double>(params), 60.5e6, 0.2e6);
}

TEST(ModelFile, AHeaderClaimingHugeTensorsIsRefusedBeforeAllocating) {
  const Model m = tiny();
  std::string bytes = serialize_model(m);
  // The first tensor (map order): u32 name length, name, u8 dtype, u8 rank, then u64 dims.
  const std::string& name = m.tensors.begin()->first;
  const auto at = bytes.find(name);
  ASSERT_NE(at, std::string::npos);
  const std::uint64_t huge = std::uint64_t{1} << 40;  // 2^40 elements: 4 TiB of floats
  std::memcpy(bytes.data() + at + name.size() + 2, &huge, 8);
  fix_crc(bytes);
  const std::string what = error_of(bytes);
  EXPECT_NE(what.find("shape too large"), std::string::npos) << what;
  EXPECT_NE(what.find(name), std::string::npos) << what;
}
