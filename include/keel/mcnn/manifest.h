#pragma once
// Any plate layout, any channel count: a manifest CSV with one row per field of view, one column
// per channel file (named by the user: `--channels DAPI,Tubulin,Actin` or five Cell Painting
// channels), a label column (optional for prediction), a group column (the compound, for NSC and
// per-treatment profiles), and optional concentration, plate and well columns. Relative file
// names are rooted at the image root (the manifest's folder by default). BBBC021's two CSVs stay
// a built-in mapping onto the same Dataset (bbbc021.h).

#include <filesystem>
#include <string>
#include <vector>

#include "keel/mcnn/bbbc021.h"

namespace keel::mcnn {

struct ManifestSpec {
  std::vector<std::string> channels;  // column names, one per channel file, in input order
  std::string label_column = "label";
  std::string group_column = "compound";
  std::string concentration_column = "concentration";  // optional column
  std::string plate_column = "plate", well_column = "well";  // optional columns
  bool require_labels = true;  // train/eval need the label column; predict does not
};

// Where a run's images come from: a BBBC021 directory (`data`) or a manifest.
struct DataSource {
  std::filesystem::path data;      // BBBC021-layout directory (the two CSVs)
  std::filesystem::path manifest;  // or a manifest CSV
  ManifestSpec spec;
  std::filesystem::path images;    // image root; the CSVs' folder when empty
  // The path messages name: the manifest or the BBBC021 directory.
  const std::filesystem::path& origin() const { return manifest.empty() ? data : manifest; }
};

// "DAPI,Tubulin,Actin" -> names. InputError naming `option` for an empty or repeated name.
std::vector<std::string> parse_channel_list(const std::string& list, const std::string& option);

// Reads a manifest. InputError naming file:line and the column for a missing column, an empty
// channel cell (with skip_bad: the row is counted and listed instead), a bad number; files are
// checked as add_checked_sample does. Classes: the label column's distinct values, sorted.
Dataset load_manifest(const std::filesystem::path& file, const ManifestSpec& spec,
                      const LoadOptions& opt = {});

// load_bbbc021 or load_manifest, as `src` says (exactly one of data and manifest set; an
// InputError otherwise). `opt.image_root` is taken from src.images.
Dataset load_dataset(const DataSource& src, LoadOptions opt = {});

}  // namespace keel::mcnn
