// Manifests: any channel count, columns by name, labels optional, and each bad input as one
// error naming file:line and the column.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "keel/core/error.h"
#include "keel/mcnn/loader.h"
#include "keel/mcnn/manifest.h"
#include "keel/mcnn/tiff.h"

namespace keel::mcnn {
namespace {

namespace fs = std::filesystem;

class Manifest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("keel_manifest_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "img");
    // Four fields x five channels, 128x128; channel c of field f holds the value 16 * (f + c).
    for (int f = 0; f < 4; ++f)
      for (int c = 0; c < 5; ++c) tiff(fmt(f, c), 128, 128, static_cast<std::uint16_t>(16 * (f * 5 + c + 1)));
  }
  void TearDown() override { fs::remove_all(dir_); }
  static std::string fmt(int f, int c) { return "img/f" + std::to_string(f) + "_c" + std::to_string(c) + ".tif"; }
  void tiff(const std::string& rel, int h, int w, std::uint16_t v) {
    Image16 im{w, h, std::vector<std::uint16_t>(static_cast<std::size_t>(h * w), v)};
    // A gradient so the per-channel normalisation has a spread to divide by.
    for (std::size_t i = 0; i < im.pixels.size(); ++i) im.pixels[i] = static_cast<std::uint16_t>(v + 16 * (i % 7));
    write_tiff16(dir_ / rel, im);
  }
  fs::path write(const std::string& text) {
    fs::path p = dir_ / "m.csv";
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  std::string row(int f, const std::string& label, const std::string& compound = "c") {
    std::string r = "P1,B0" + std::to_string(f) + "," + compound + ",0.5," + label;
    for (int c = 0; c < 5; ++c) r += "," + fmt(f, c);
    return r + "\n";
  }
  static ManifestSpec spec5() {
    ManifestSpec s;
    s.channels = {"DAPI", "Tubulin", "Actin", "ER", "Mito"};
    return s;
  }
  static std::string header() { return "plate,well,compound,concentration,label,DAPI,Tubulin,Actin,ER,Mito\n"; }
  // The error `fn` throws, or "" when it does not.
  template <class F>
  static std::string error_of(F fn) {
    try {
      fn();
    } catch (const core::InputError& e) {
      return e.what();
    }
    return {};
  }
  fs::path dir_;
};

TEST_F(Manifest, FiveChannelsInColumnOrderWithSortedClasses) {
  auto m = write(header() + row(0, "B") + row(1, "A") + row(2, "") + row(3, "B", "d"));
  Dataset ds = load_manifest(m, spec5());
  EXPECT_EQ(ds.channels.size(), 5u);
  EXPECT_EQ(ds.classes, (std::vector<std::string>{"A", "B"}));
  ASSERT_EQ(ds.samples.size(), 3u);  // the unlabelled row is counted, not kept
  EXPECT_EQ(ds.unlabeled, 1);
  EXPECT_EQ(ds.samples[0].label, 1);
  EXPECT_EQ(ds.samples[1].label, 0);
  EXPECT_EQ(ds.samples[2].row.compound, "d");
  EXPECT_EQ(ds.samples[2].row.line, 5);
  EXPECT_DOUBLE_EQ(ds.samples[0].row.concentration, 0.5);
  EXPECT_EQ(ds.samples[0].files[3], dir_ / fmt(0, 3));  // relative to the manifest's folder
  // Decoded in the manifest's channel order: channel c's plane has field 0's value for c.
  std::vector<float> x(5 * 128 * 128);
  load_sample(ds, ds.samples[0], 128, 128, x.data());
  EXPECT_LT(x[0], x[1]);  // the gradient's order survives normalisation
  LoadOptions keep;
  keep.keep_unlabeled = true;
  Dataset all = load_manifest(m, spec5(), keep);
  ASSERT_EQ(all.samples.size(), 4u);
  EXPECT_EQ(all.samples[2].label, -1);
  // The channel order is the user's: another order names other files.
  ManifestSpec rev = spec5();
  std::reverse(rev.channels.begin(), rev.channels.end());
  EXPECT_EQ(load_manifest(m, rev).samples[0].files[0], dir_ / fmt(0, 4));
}

TEST_F(Manifest, LabelsOptionalForPredictionAndColumnsByName) {
  // Other column names and order, no label, concentration, plate or well columns.
  std::string text = "Mito,cpd,DAPI\n";
  for (int f = 0; f < 2; ++f) text += fmt(f, 4) + ",x," + fmt(f, 0) + "\n";
  auto m = write(text);
  ManifestSpec s;
  s.channels = {"DAPI", "Mito"};
  s.group_column = "cpd";
  EXPECT_NE(error_of([&] { load_manifest(m, s); }).find("m.csv:1: missing column 'label'"),
            std::string::npos);
  s.require_labels = false;
  LoadOptions keep;
  keep.keep_unlabeled = true;
  Dataset ds = load_manifest(m, s, keep);
  ASSERT_EQ(ds.samples.size(), 2u);
  EXPECT_FALSE(ds.has_wells);
  EXPECT_TRUE(ds.classes.empty());
  EXPECT_EQ(ds.samples[1].files[1], dir_ / fmt(1, 4));
  // An image root moves relative paths; absolute ones stay.
  EXPECT_EQ(load_manifest(m, s, LoadOptions{false, false, "/elsewhere", true}).samples[0].files[0],
            fs::path("/elsewhere") / fmt(0, 0));
}

TEST_F(Manifest, BadInputNamesFileLineAndColumn) {
  const std::string m = write(header() + row(0, "A") + row(1, "B")).string();
  ManifestSpec s = spec5();
  s.channels.back() = "Golgi";
  EXPECT_NE(error_of([&] { load_manifest(m, s); }).find(m + ":1: missing column 'Golgi'"),
            std::string::npos);
  s = spec5();
  s.group_column = "treatment";
  EXPECT_NE(error_of([&] { load_manifest(m, s); }).find("missing column 'treatment'"),
            std::string::npos);
  // An empty channel cell: the row lacks a channel.
  std::string r = row(1, "B");
  r.replace(r.find(fmt(1, 2)), fmt(1, 2).size(), "");
  write(header() + row(0, "A") + r);
  EXPECT_NE(error_of([&] { load_manifest(m, spec5()); }).find(m + ":3: column 'Actin' is empty"),
            std::string::npos);
  LoadOptions skip;
  skip.skip_bad = true;
  Dataset ds = load_manifest(m, spec5(), skip);
  EXPECT_EQ(ds.samples.size(), 1u);
  EXPECT_EQ(ds.skipped, 1);
  // A missing file, a bad number.
  write(header() + row(0, "A") + "P1,B09,c,0.5,A,nope.tif,a,b,c,d\n");
  EXPECT_NE(error_of([&] { load_manifest(m, spec5()); })
                .find(m + ":3: column 'DAPI': missing image file"),
            std::string::npos);
  write(header() + "P1,B01,c,half,A,a,b,c,d,e\n");
  EXPECT_NE(error_of([&] { load_manifest(m, spec5()); }).find(m + ":2: column 'concentration'"),
            std::string::npos);
  // Images of another size: at decoding (file:line and column), and skipped by --skip-bad.
  tiff("img/big.tif", 256, 128, 160);
  std::string big = row(1, "B");
  big.replace(big.find(fmt(1, 3)), fmt(1, 3).size(), "img/big.tif");
  write(header() + row(0, "A") + big);
  Dataset two = load_manifest(m, spec5());
  std::vector<float> x(5 * 128 * 128);
  EXPECT_NE(error_of([&] { load_sample(two, two.samples[1], 128, 128, x.data()); })
                .find(m + ":3: column 'ER': image '" + (dir_ / "img/big.tif").string() + "' is 256x128"),
            std::string::npos);
  Dataset kept = load_manifest(m, spec5(), skip);
  EXPECT_EQ(kept.samples.size(), 1u);
  ASSERT_EQ(kept.skip_reasons.size(), 1u);
  EXPECT_NE(kept.skip_reasons[0].find("is 256x128, the first image is 128x128"), std::string::npos);
}

TEST(ManifestChannels, ListParsedAndBadListsRefused) {
  EXPECT_EQ(parse_channel_list("DAPI,Tubulin,Actin", "--channels"),
            (std::vector<std::string>{"DAPI", "Tubulin", "Actin"}));
  EXPECT_EQ(parse_channel_list("one", "--channels").size(), 1u);
  EXPECT_THROW(parse_channel_list("a,,b", "--channels"), core::InputError);
  EXPECT_THROW(parse_channel_list("a,b,a", "--channels"), core::InputError);
  EXPECT_THROW(parse_channel_list("", "--channels"), core::InputError);
  DataSource none;
  EXPECT_THROW(load_dataset(none), core::InputError);
}

}  // namespace
}  // namespace keel::mcnn
