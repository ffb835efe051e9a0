// BBBC021 data path: the real CSVs as published, the join on parsed concentrations, synth ->
// load round trip, and bad files.
#include <gtest/gtest.h>
#include <tiffio.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "../support/shared_data.h"
#include "keel/core/error.h"
#include "keel/mcnn/bbbc021.h"
#include "keel/mcnn/loader.h"
#include "keel/mcnn/synth.h"
#include "keel/mcnn/tiff.h"

namespace keel::mcnn {
namespace {

namespace fs = std::filesystem;
const fs::path kReal = keel::testing::shared_dir() / "data" / "bbbc021";

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("keel_mcnn_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

LoadOptions opts(bool check, bool skip) {
  LoadOptions o;
  o.check_files = check;
  o.skip_bad = skip;
  return o;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

TEST(Bbbc021Real, RowCountsAndJoinAsPublished) {
  KEEL_NEED_SHARED_FILE(kReal / kImageCsv);
  auto images = read_image_csv(kReal / kImageCsv);
  auto moa = read_moa_csv(kReal / kMoaCsv);
  EXPECT_EQ(images.size(), 13200u);
  EXPECT_EQ(moa.size(), 104u);
  EXPECT_EQ(images[0].compound, "5-fluorouracil");
  EXPECT_EQ(images[0].path_name[0], "Week4/Week4_27481");
  EXPECT_DOUBLE_EQ(images[0].concentration, 0.003);
  Dataset ds = load_bbbc021(kReal, opts(false, false));
  EXPECT_EQ(ds.samples.size(), 3848u);
  EXPECT_EQ(ds.unlabeled, 13200 - 3848);
  ASSERT_EQ(ds.classes.size(), 13u);
  std::map<std::string, int> per;
  for (const auto& s : ds.samples) ++per[s.moa];
  EXPECT_EQ(per["DMSO"], 1320);
  EXPECT_EQ(per["Microtubule stabilizers"], 1428);
  EXPECT_EQ(per["Kinase inhibitors"], 40);
  EXPECT_EQ(ds.samples[0].files[0],
            kReal / ds.samples[0].row.path_name[0] / ds.samples[0].row.file_name[0]);
}

TEST(Bbbc021Real, MissingFilesAreAClearErrorUnlessSkipped) {
  KEEL_NEED_SHARED_FILE(kReal / kImageCsv);
  try {
    load_bbbc021(kReal);  // the real CSVs without the 30 GB of images
    FAIL() << "expected InputError";
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("missing image file"), std::string::npos) << e.what();
    EXPECT_GT(e.where().line, 1);
  }
  Dataset ds = load_bbbc021(kReal, opts(true, true));
  EXPECT_EQ(ds.samples.size(), 0u);
  EXPECT_EQ(ds.skipped, 3848);
}

TEST(Bbbc021Join, ConcentrationsCompareAsNumbersNotStrings) {
  // A re-saved moa file: unquoted, short numbers, CR-only line endings (as in circulation).
  std::vector<MoaRow> moa;
  auto d = temp_dir("join");
  write(d / "moa.csv", "compound,concentration,moa\rtaxol,0.003,Microtubule stabilizers\rx,3e-4,A\r");
  moa = read_moa_csv(d / "moa.csv");
  ASSERT_EQ(moa.size(), 2u);
  EXPECT_EQ(find_moa(moa, "taxol", 0.003000), "Microtubule stabilizers");
  EXPECT_EQ(find_moa(moa, "x", 0.0003), "A");
  EXPECT_FALSE(find_moa(moa, "x", 0.003));
  EXPECT_FALSE(find_moa(moa, "taxol", 0.0030001));
  fs::remove_all(d);
}

TEST(Bbbc021Csv, BadNumberNamesFileLineAndColumn) {
  auto d = temp_dir("badcsv");
  write(d / "moa.csv", "\"compound\",concentration,\"moa\"\n\"a\",1.0,\"m\"\n\"b\",lots,\"m\"\n");
  try {
    read_moa_csv(d / "moa.csv");
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_EQ(e.where().line, 3);
    EXPECT_NE(std::string(e.what()).find("concentration"), std::string::npos);
  }
  fs::remove_all(d);
}

class SynthRoundTrip : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(temp_dir("synth"));
    SynthOptions o;
    o.out = *dir_;
    o.height = 128;
    o.width = 256;
    o.images_per_class = 3;
    o.seed = 7;
    summary_ = synthesize(o);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static fs::path* dir_;
  static SynthSummary summary_;
};
fs::path* SynthRoundTrip::dir_ = nullptr;
SynthSummary SynthRoundTrip::summary_;

TEST_F(SynthRoundTrip, LayoutLoadsBackWithLabelsFromTheBuiltInTable) {
  EXPECT_EQ(summary_.images, 39);
  EXPECT_EQ(summary_.classes, 13);
  EXPECT_EQ(summary_.compounds, 1 + 12 * 3);  // DMSO + 3 per treated class
  Dataset ds = load_bbbc021(*dir_);
  ASSERT_EQ(ds.samples.size(), 39u);
  EXPECT_EQ(ds.unlabeled, 0);
  std::map<int, int> per;
  std::map<int, std::set<std::string>> compounds;
  for (const auto& s : ds.samples) {
    ++per[s.label];
    compounds[s.label].insert(s.row.compound);
  }
  ASSERT_EQ(per.size(), 13u);
  for (auto [label, n] : per) EXPECT_EQ(n, 3) << label;
  // Every treated class spans several compounds (what NSC needs); DMSO is one.
  for (auto& [label, names] : compounds)
    EXPECT_EQ(names.size(), ds.classes[static_cast<std::size_t>(label)] == "DMSO" ? 1u : 3u);
  EXPECT_EQ(ds.classes.front(), "Actin disruptors");
  EXPECT_TRUE(std::binary_search(ds.classes.begin(), ds.classes.end(), "DMSO"));
  // Files sit under PathName in the published naming: WELL_sSITE_wN<UUID>.tif, w1/w2/w4.
  const auto& r = ds.samples[0].row;
  EXPECT_TRUE(r.path_name[0].starts_with("Week")) << r.path_name[0];
  EXPECT_TRUE(r.file_name[0].starts_with(r.well + "_s")) << r.file_name[0];
  EXPECT_NE(r.file_name[1].find("_w2"), std::string::npos);
  EXPECT_NE(r.file_name[2].find("_w4"), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(*dir_ / r.path_name[2] / r.file_name[2]));
  // Both CSVs carry the published header.
  auto head = [](const fs::path& f) {
    std::ifstream in(f);
    std::string line;
    std::getline(in, line);
    return line;
  };
  auto real_like = head(*dir_ / kImageCsv);
  for (const char* col : {"TableNumber", "ImageNumber", "Image_FileName_DAPI", "Image_PathName_DAPI",
                          "Image_FileName_Tubulin", "Image_FileName_Actin", "Image_Metadata_Plate_DAPI",
                          "Image_Metadata_Well_DAPI", "Replicate", "Image_Metadata_Compound",
                          "Image_Metadata_Concentration"})
    EXPECT_NE(real_like.find(col), std::string::npos) << col;
  EXPECT_EQ(head(*dir_ / kMoaCsv), "\"compound\",concentration,\"moa\"");
}

TEST(SynthBuiltInTable, ExactRowsPerClassAndUniqueFiles) {
  for (int n : {1, 5, 30}) {
    auto t = builtin_table(n);
    EXPECT_EQ(t.images.size(), static_cast<std::size_t>(13 * n));
    std::set<std::string> files;
    for (const auto& r : t.images)
      for (std::size_t c = 0; c < 3; ++c) files.insert(r.path_name[c] + "/" + r.file_name[c]);
    EXPECT_EQ(files.size(), 3 * t.images.size());
    // A (plate, well) holds one treatment.
    std::map<std::string, std::string> treat;
    for (const auto& r : t.images) {
      auto it = treat.emplace(r.plate + "/" + r.well, r.compound + std::to_string(r.concentration));
      EXPECT_EQ(it.first->second, r.compound + std::to_string(r.concentration));
    }
  }
  EXPECT_THROW(builtin_table(0), core::InputError);
}

TEST(SynthRealMetadata, RowsComeFromTheRealCsvs) {
  KEEL_NEED_SHARED_FILE(kReal / kImageCsv);
  auto d = temp_dir("synth_real");
  SynthOptions o;
  o.out = d;
  o.metadata = kReal;
  o.height = 128;
  o.width = 128;
  o.images_per_class = 2;
  o.seed = 7;
  auto sum = synthesize(o);
  EXPECT_EQ(sum.images, 26);
  EXPECT_EQ(sum.classes, 13);
  Dataset ds = load_bbbc021(d);
  ASSERT_EQ(ds.samples.size(), 26u);
  auto real = read_image_csv(kReal / kImageCsv);
  const auto& r = ds.samples[0].row;
  auto it = std::find_if(real.begin(), real.end(), [&](const ImageRow& x) {
    return x.table_number == r.table_number && x.image_number == r.image_number;
  });
  ASSERT_NE(it, real.end());
  EXPECT_EQ(it->file_name, r.file_name);
  EXPECT_EQ(it->well, r.well);
  fs::remove_all(d);
}

TEST_F(SynthRoundTrip, ImagesAre16BitLike12BitCameraData) {
  Dataset ds = load_bbbc021(*dir_);
  Image16 img = read_tiff16(ds.samples[0].files[0]);
  EXPECT_EQ(img.width, 256);
  EXPECT_EQ(img.height, 128);
  EXPECT_TRUE(std::all_of(img.pixels.begin(), img.pixels.end(), [](auto v) { return v % 16 == 0; }));
  EXPECT_GT(*std::max_element(img.pixels.begin(), img.pixels.end()), 4000);
  std::vector<float> x(3 * 128 * 256);
  load_sample(ds, ds.samples[0], 128, 256, x.data());
  double mean = 0, sq = 0;
  for (std::size_t i = 0; i < 128 * 256; ++i) {
    mean += x[i];
    sq += x[i] * x[i];
  }
  EXPECT_NEAR(mean / (128 * 256), 0.0, 1e-3);
  EXPECT_NEAR(sq / (128 * 256), 1.0, 1e-2);
  EXPECT_THROW(load_sample(ds, ds.samples[0], 128, 128, x.data()), core::InputError);
}

TEST_F(SynthRoundTrip, PrefetchLoaderDeliversBatchesInOrder) {
  Dataset ds = load_bbbc021(*dir_);
  std::vector<std::vector<std::size_t>> batches = {{0, 1, 2}, {5, 4}, {38}, {7, 8, 9}};
  PrefetchLoader loader(ds, batches, 128, 256, 2, 2);
  std::vector<float> one(3 * 128 * 256);
  for (const auto& want : batches) {
    auto b = loader.next();
    ASSERT_TRUE(b);
    EXPECT_EQ(b->indices, want);
    ASSERT_EQ(b->labels.size(), want.size());
    EXPECT_EQ(b->labels.back(), ds.samples[want.back()].label);
    load_sample(ds, ds.samples[want.back()], 128, 256, one.data());
    EXPECT_TRUE(std::equal(one.begin(), one.end(), b->data.end() - static_cast<std::ptrdiff_t>(one.size())));
  }
  EXPECT_FALSE(loader.next());
}

TEST_F(SynthRoundTrip, BadTiffsAreClearErrorsOrCountedSkips) {
  auto d = temp_dir("bad");
  fs::copy(*dir_, d, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  Dataset ds = load_bbbc021(d);
  // 1: truncated file; 2: an 8-bit TIFF; 3: not a TIFF at all.
  fs::resize_file(ds.samples[0].files[1], 1000);
  {
    TIFF* t = TIFFOpen(ds.samples[1].files[2].c_str(), "w");
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 256u);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, 128u);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
    std::vector<std::uint8_t> row(256, 7);
    for (std::uint32_t y = 0; y < 128; ++y) TIFFWriteScanline(t, row.data(), y, 0);
    TIFFClose(t);
  }
  write(ds.samples[2].files[0], "not a tiff");
  auto expect_error = [](const fs::path& f, const std::string& text) {
    try {
      read_tiff16(f);
      ADD_FAILURE() << "no error for " << f;
    } catch (const core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
      EXPECT_EQ(e.where().file, f.string());
    }
  };
  expect_error(ds.samples[0].files[1], "truncated");
  expect_error(ds.samples[1].files[2], "16-bit");
  expect_error(ds.samples[2].files[0], "not a readable TIFF");
  expect_error(d / "nope.tif", "not found");
  EXPECT_THROW(check_tiff16(ds.samples[0].files[1]), core::InputError);
  Dataset skipped = load_bbbc021(d, opts(true, true));
  EXPECT_EQ(skipped.skipped, 3);
  EXPECT_EQ(skipped.samples.size(), 36u);
  EXPECT_EQ(skipped.skip_reasons.size(), 3u);
  fs::remove_all(d);
}

TEST(SynthDraw, ClassesDifferAndSeedsReproduce) {
  std::vector<std::uint16_t> a(3 * 128 * 128), b(a.size());
  draw_synthetic(0, 128, 128, 11, a.data(), a.data() + 128 * 128, a.data() + 2 * 128 * 128);
  draw_synthetic(0, 128, 128, 11, b.data(), b.data() + 128 * 128, b.data() + 2 * 128 * 128);
  EXPECT_EQ(a, b);
  draw_synthetic(5, 128, 128, 11, b.data(), b.data() + 128 * 128, b.data() + 2 * 128 * 128);
  EXPECT_NE(a, b);
}

TEST(Bbbc021Split, StratifiedAndDeterministic) {
  Dataset ds;
  ds.classes = {"a", "b"};
  for (int i = 0; i < 20; ++i) {
    Sample s;
    s.label = i % 2;
    ds.samples.push_back(s);
  }
  auto s1 = split_train_val(ds, 0.25, 3), s2 = split_train_val(ds, 0.25, 3);
  EXPECT_EQ(s1.val, s2.val);
  EXPECT_EQ(s1.val.size(), 6u);  // round(10 * 0.25) = 3 per class
  EXPECT_EQ(s1.train.size(), 14u);
  int odd = 0;
  for (auto i : s1.val) odd += static_cast<int>(i % 2);
  EXPECT_EQ(odd, 3);
}

}  // namespace
}  // namespace keel::mcnn

namespace keel::mcnn {
namespace {
// A TIFF whose header claims 10^6 x 10^6 pixels (2 TB of samples) is refused from its header,
// before any pixel buffer exists. Written byte by byte (TIFF 6.0, little-endian, one IFD).
TEST(Tiff, AHeaderClaimingAHugeImageIsRefusedBeforeAllocating) {
  auto d = temp_dir("huge_tiff");
  std::string b = "II";
  auto u16 = [&](std::uint16_t v) { b += static_cast<char>(v & 0xFF); b += static_cast<char>(v >> 8); };
  auto u32 = [&](std::uint32_t v) { for (int i = 0; i < 4; ++i) b += static_cast<char>((v >> (8 * i)) & 0xFF); };
  u16(42);
  u32(8);  // first IFD right after the header
  const std::uint16_t kShort = 3, kLong = 4;
  struct Entry { std::uint16_t tag, type; std::uint32_t value; };
  const Entry entries[] = {{256, kLong, 1000000}, {257, kLong, 1000000}, {258, kShort, 16},
                           {259, kShort, 1},      {262, kShort, 1},       {273, kLong, 200},
                           {277, kShort, 1},      {278, kLong, 1000000},  {279, kLong, 16}};
  u16(static_cast<std::uint16_t>(std::size(entries)));
  for (const auto& e : entries) {
    u16(e.tag);
    u16(e.type);
    u32(1);
    if (e.type == kShort) { u16(static_cast<std::uint16_t>(e.value)); u16(0); } else { u32(e.value); }
  }
  u32(0);  // no next IFD
  b.resize(216, '\0');
  const auto f = d / "huge.tif";
  write(f, b);
  for (auto read : {+[](const fs::path& p) { (void)read_tiff16(p); },
                    +[](const fs::path& p) { (void)check_tiff16(p); }}) {
    try {
      read(f);
      ADD_FAILURE() << "accepted";
    } catch (const core::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("1000000 x 1000000"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("limit"), std::string::npos) << e.what();
    }
  }
  fs::remove_all(d);
}
}  // namespace
}  // namespace keel::mcnn
