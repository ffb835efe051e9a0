#include "keel/mcnn/bbbc021.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "keel/core/error.h"
#include "keel/mcnn/tiff.h"
#include "csv.h"

namespace keel::mcnn {

namespace {

constexpr const char* kBbbc021Hint =
    "a BBBC021 directory holds BBBC021_v1_image.csv and BBBC021_v1_moa.csv";

}  // namespace

std::vector<ImageRow> read_image_csv(const std::filesystem::path& file) {
  const std::string name = file.string();
  auto recs = csv::parse(csv::read_text(file, kBbbc021Hint), name);
  if (recs.empty()) throw core::InputError("empty CSV", {name, 1, 0, {}});
  csv::Columns col(recs[0], name);
  std::array<std::size_t, 3> fcol{}, pcol{};
  for (std::size_t c = 0; c < 3; ++c) {
    fcol[c] = col[std::string("Image_FileName_") + kChannels[c]];
    pcol[c] = col[std::string("Image_PathName_") + kChannels[c]];
  }
  const std::size_t tn = col["TableNumber"], in = col["ImageNumber"],
                    plate = col["Image_Metadata_Plate_DAPI"], well = col["Image_Metadata_Well_DAPI"],
                    rep = col["Replicate"], cmp = col["Image_Metadata_Compound"],
                    conc = col["Image_Metadata_Concentration"];
  std::vector<ImageRow> rows;
  rows.reserve(recs.size() - 1);
  for (std::size_t i = 1; i < recs.size(); ++i) {
    const auto& r = recs[i];
    ImageRow row;
    row.line = r.line;
    row.table_number = csv::parse_int(csv::get(r, tn, name, "TableNumber"), name, r.line, "TableNumber");
    row.image_number = csv::parse_int(csv::get(r, in, name, "ImageNumber"), name, r.line, "ImageNumber");
    for (std::size_t c = 0; c < 3; ++c) {
      row.file_name[c] = csv::get(r, fcol[c], name, "Image_FileName");
      row.path_name[c] = csv::get(r, pcol[c], name, "Image_PathName");
    }
    row.plate = csv::get(r, plate, name, "Image_Metadata_Plate_DAPI");
    row.well = csv::get(r, well, name, "Image_Metadata_Well_DAPI");
    row.replicate = csv::parse_int(csv::get(r, rep, name, "Replicate"), name, r.line, "Replicate");
    row.compound = csv::get(r, cmp, name, "Image_Metadata_Compound");
    row.concentration = csv::parse_number(csv::get(r, conc, name, "Image_Metadata_Concentration"), name,
                                     r.line, "Image_Metadata_Concentration");
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<MoaRow> read_moa_csv(const std::filesystem::path& file) {
  const std::string name = file.string();
  auto recs = csv::parse(csv::read_text(file, kBbbc021Hint), name);
  if (recs.empty()) throw core::InputError("empty CSV", {name, 1, 0, {}});
  csv::Columns col(recs[0], name);
  const std::size_t c = col["compound"], k = col["concentration"], m = col["moa"];
  std::vector<MoaRow> rows;
  for (std::size_t i = 1; i < recs.size(); ++i) {
    const auto& r = recs[i];
    rows.push_back({csv::get(r, c, name, "compound"),
                    csv::parse_number(csv::get(r, k, name, "concentration"), name, r.line, "concentration"),
                    csv::get(r, m, name, "moa")});
  }
  return rows;
}

std::string format_image_csv(const std::vector<ImageRow>& rows) {
  std::string s =
      "TableNumber,ImageNumber,\"Image_FileName_DAPI\",\"Image_PathName_DAPI\","
      "\"Image_FileName_Tubulin\",\"Image_PathName_Tubulin\",\"Image_FileName_Actin\","
      "\"Image_PathName_Actin\",\"Image_Metadata_Plate_DAPI\",\"Image_Metadata_Well_DAPI\","
      "Replicate,\"Image_Metadata_Compound\",Image_Metadata_Concentration\n";
  for (const auto& r : rows) {
    s += fmt::format("{},{}", r.table_number, r.image_number);
    for (std::size_t c = 0; c < 3; ++c) s += "," + csv::quoted(r.file_name[c]) + "," + csv::quoted(r.path_name[c]);
    s += fmt::format(",{},{},{},{},{:f}\n", csv::quoted(r.plate), csv::quoted(r.well), r.replicate,
                     csv::quoted(r.compound), r.concentration);
  }
  return s;
}

std::string format_moa_csv(const std::vector<MoaRow>& rows) {
  std::string s = "\"compound\",concentration,\"moa\"\n";
  for (const auto& r : rows)
    s += fmt::format("{},{:f},{}\n", csv::quoted(r.compound), r.concentration, csv::quoted(r.moa));
  return s;
}

std::optional<std::string> find_moa(const std::vector<MoaRow>& moa, const std::string& compound,
                                    double concentration) {
  for (const auto& m : moa) {
    if (m.compound != compound) continue;
    double scale = std::max(std::abs(m.concentration), std::abs(concentration));
    if (std::abs(m.concentration - concentration) <= 1e-6 * scale + 1e-12) return m.moa;
  }
  return std::nullopt;
}

Dataset load_bbbc021(const std::filesystem::path& dir, const LoadOptions& opt) {
  return join_bbbc021(read_image_csv(dir / kImageCsv), read_moa_csv(dir / kMoaCsv), dir, opt);
}

Dataset join_bbbc021(std::vector<ImageRow> images, const std::vector<MoaRow>& moa,
                     const std::filesystem::path& dir, const LoadOptions& opt) {
  Dataset ds;
  ds.dir = dir;
  std::set<std::string> labels;
  for (const auto& m : moa) labels.insert(m.moa);
  ds.classes.assign(labels.begin(), labels.end());
  // compound -> rows of the moa table, so the join is not quadratic in the image count.
  std::map<std::string, std::vector<MoaRow>> by_compound;
  for (const auto& m : moa) by_compound[m.compound].push_back(m);
  const auto root = opt.image_root.empty() ? dir : opt.image_root;
  ds.source = dir / kImageCsv;
  for (const char* c : kChannels) ds.channel_columns.push_back(std::string("Image_FileName_") + c);
  for (auto& row : images) {
    auto it = by_compound.find(row.compound);
    auto label = it == by_compound.end() ? std::nullopt
                                         : find_moa(it->second, row.compound, row.concentration);
    if (!label) {
      ++ds.unlabeled;
      if (!opt.keep_unlabeled) continue;
    }
    Sample s;
    if (label) {
      s.moa = *label;
      s.label = static_cast<int>(std::lower_bound(ds.classes.begin(), ds.classes.end(), *label) -
                                 ds.classes.begin());
    } else {
      s.label = -1;
    }
    for (std::size_t c = 0; c < 3; ++c) s.files.push_back(root / row.path_name[c] / row.file_name[c]);
    s.row = std::move(row);
    add_checked_sample(ds, std::move(s), opt);
  }
  return ds;
}

bool add_checked_sample(Dataset& ds, Sample s, const LoadOptions& opt) {
  const std::string src = ds.source.string();
  if (opt.check_files) {
    try {
      for (std::size_t c = 0; c < s.files.size(); ++c) {
        const auto& f = s.files[c];
        const std::string column =
            c < ds.channel_columns.size() ? ds.channel_columns[c] : ds.channels.at(c);
        if (!opt.skip_bad) {
          std::error_code ec;
          if (!std::filesystem::is_regular_file(f, ec))
            throw core::InputError(
                fmt::format("column '{}': missing image file '{}'", column, f.string()),
                {src, s.row.line, 0, {}},
                "check the image root, or pass --skip-bad to skip such rows");
          continue;
        }
        Image16 head = check_tiff16(f);
        if (ds.first_height == 0) {
          ds.first_height = head.height;
          ds.first_width = head.width;
        } else if (head.height != ds.first_height || head.width != ds.first_width) {
          throw core::InputError(fmt::format("column '{}': image '{}' is {}x{}, the first image is "
                                             "{}x{} (all images of a run must have one size)",
                                             column, f.string(), head.height, head.width,
                                             ds.first_height, ds.first_width));
        }
      }
    } catch (const core::InputError& e) {
      if (!opt.skip_bad) throw;
      ++ds.skipped;
      if (ds.skip_reasons.size() < 20)
        ds.skip_reasons.push_back(fmt::format("{}:{}: {}", src, s.row.line, e.what()));
      return false;
    }
  }
  ds.samples.push_back(std::move(s));
  return true;
}

Split split_train_val(const Dataset& ds, double val_fraction, std::uint64_t seed) {
  std::vector<std::vector<std::size_t>> per_class(ds.classes.size());
  for (std::size_t i = 0; i < ds.samples.size(); ++i)
    if (ds.samples[i].label >= 0) per_class[static_cast<std::size_t>(ds.samples[i].label)].push_back(i);
  Split sp;
  std::mt19937_64 rng(seed);
  for (auto& idx : per_class) {
    std::shuffle(idx.begin(), idx.end(), rng);
    auto n_val = static_cast<std::size_t>(std::lround(static_cast<double>(idx.size()) * val_fraction));
    if (val_fraction > 0 && idx.size() >= 2) n_val = std::clamp<std::size_t>(n_val, 1, idx.size() - 1);
    sp.val.insert(sp.val.end(), idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(n_val));
    sp.train.insert(sp.train.end(), idx.begin() + static_cast<std::ptrdiff_t>(n_val), idx.end());
  }
  std::sort(sp.train.begin(), sp.train.end());
  std::sort(sp.val.begin(), sp.val.end());
  return sp;
}

}  // namespace keel::mcnn
