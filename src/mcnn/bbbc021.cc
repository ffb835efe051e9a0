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

namespace keel::mcnn {

namespace {

struct CsvRecord {
  std::vector<std::string> fields;
  int line = 0;
};

// RFC-4180-style records: quoted fields with "" escapes; LF, CRLF and CR all end a record.
std::vector<CsvRecord> parse_csv(const std::string& text, const std::string& name) {
  std::vector<CsvRecord> out;
  CsvRecord rec;
  std::string field;
  bool quoted = false, in_quotes = false, any = false;
  int line = 1;
  rec.line = 1;
  std::size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  auto end_field = [&] {
    rec.fields.push_back(field);
    field.clear();
    quoted = false;
  };
  auto end_record = [&] {
    end_field();
    if (!(rec.fields.size() == 1 && rec.fields[0].empty())) out.push_back(rec);
    rec = CsvRecord{};
    any = false;
  };
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (!any) rec.line = line;
    any = true;
    if (c == '"' && field.empty() && !quoted) {
      in_quotes = quoted = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      ++line;
    } else {
      field += c;
    }
  }
  if (in_quotes) throw core::InputError("unterminated quoted field", {name, line, 0, {}});
  if (any) end_record();
  return out;
}

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw core::InputError("cannot read file", {file.string(), 0, 0, {}},
                                  "a BBBC021 directory holds BBBC021_v1_image.csv and "
                                  "BBBC021_v1_moa.csv");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Columns {
 public:
  Columns(const CsvRecord& header, std::string file) : file_(std::move(file)) {
    for (std::size_t i = 0; i < header.fields.size(); ++i) index_[header.fields[i]] = i;
  }
  std::size_t operator[](const std::string& name) const {
    auto it = index_.find(name);
    if (it == index_.end())
      throw core::InputError("missing column '" + name + "'", {file_, 1, 0, {}});
    return it->second;
  }

 private:
  std::map<std::string, std::size_t> index_;
  std::string file_;
};

const std::string& get(const CsvRecord& r, std::size_t col, const std::string& file,
                       const std::string& name) {
  if (col >= r.fields.size())
    throw core::InputError(fmt::format("row has {} fields, column '{}' is missing",
                                       r.fields.size(), name),
                           {file, r.line, 0, {}});
  return r.fields[col];
}

double parse_number(const std::string& s, const std::string& file, int line,
                    const std::string& name) {
  const char* b = s.c_str();
  char* e = nullptr;
  double v = std::strtod(b, &e);
  if (s.empty() || e != b + s.size() || !std::isfinite(v))
    throw core::InputError(fmt::format("column '{}': '{}' is not a number", name, s),
                           {file, line, 0, {}});
  return v;
}

int parse_int(const std::string& s, const std::string& file, int line, const std::string& name) {
  double v = parse_number(s, file, line, name);
  if (v != std::floor(v) || v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    throw core::InputError(fmt::format("column '{}': '{}' is not an integer of a usual size", name, s),
                           {file, line, 0, {}});
  return static_cast<int>(v);
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

std::vector<ImageRow> read_image_csv(const std::filesystem::path& file) {
  const std::string name = file.string();
  auto recs = parse_csv(read_text(file), name);
  if (recs.empty()) throw core::InputError("empty CSV", {name, 1, 0, {}});
  Columns col(recs[0], name);
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
    row.table_number = parse_int(get(r, tn, name, "TableNumber"), name, r.line, "TableNumber");
    row.image_number = parse_int(get(r, in, name, "ImageNumber"), name, r.line, "ImageNumber");
    for (std::size_t c = 0; c < 3; ++c) {
      row.file_name[c] = get(r, fcol[c], name, "Image_FileName");
      row.path_name[c] = get(r, pcol[c], name, "Image_PathName");
    }
    row.plate = get(r, plate, name, "Image_Metadata_Plate_DAPI");
    row.well = get(r, well, name, "Image_Metadata_Well_DAPI");
    row.replicate = parse_int(get(r, rep, name, "Replicate"), name, r.line, "Replicate");
    row.compound = get(r, cmp, name, "Image_Metadata_Compound");
    row.concentration = parse_number(get(r, conc, name, "Image_Metadata_Concentration"), name,
                                     r.line, "Image_Metadata_Concentration");
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<MoaRow> read_moa_csv(const std::filesystem::path& file) {
  const std::string name = file.string();
  auto recs = parse_csv(read_text(file), name);
  if (recs.empty()) throw core::InputError("empty CSV", {name, 1, 0, {}});
  Columns col(recs[0], name);
  const std::size_t c = col["compound"], k = col["concentration"], m = col["moa"];
  std::vector<MoaRow> rows;
  for (std::size_t i = 1; i < recs.size(); ++i) {
    const auto& r = recs[i];
    rows.push_back({get(r, c, name, "compound"),
                    parse_number(get(r, k, name, "concentration"), name, r.line, "concentration"),
                    get(r, m, name, "moa")});
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
    for (std::size_t c = 0; c < 3; ++c) s += "," + quoted(r.file_name[c]) + "," + quoted(r.path_name[c]);
    s += fmt::format(",{},{},{},{},{:f}\n", quoted(r.plate), quoted(r.well), r.replicate,
                     quoted(r.compound), r.concentration);
  }
  return s;
}

std::string format_moa_csv(const std::vector<MoaRow>& rows) {
  std::string s = "\"compound\",concentration,\"moa\"\n";
  for (const auto& r : rows)
    s += fmt::format("{},{:f},{}\n", quoted(r.compound), r.concentration, quoted(r.moa));
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
  const std::string csv = (dir / kImageCsv).string();
  for (auto& row : images) {
    auto it = by_compound.find(row.compound);
    auto label = it == by_compound.end() ? std::nullopt
                                         : find_moa(it->second, row.compound, row.concentration);
    if (!label) {
      ++ds.unlabeled;
      continue;
    }
    Sample s;
    s.moa = *label;
    s.label = static_cast<int>(std::lower_bound(ds.classes.begin(), ds.classes.end(), *label) -
                               ds.classes.begin());
    for (std::size_t c = 0; c < 3; ++c) s.files[c] = root / row.path_name[c] / row.file_name[c];
    s.row = std::move(row);
    if (opt.check_files) {
      try {
        for (const auto& f : s.files) {
          if (!opt.skip_bad) {
            std::error_code ec;
            if (!std::filesystem::is_regular_file(f, ec))
              throw core::InputError(fmt::format("row points at a missing image file '{}'",
                                                 f.string()),
                                     {csv, s.row.line, 0, {}},
                                     "check the image root, or pass --skip-bad to skip such rows");
          } else {
            check_tiff16(f);
          }
        }
      } catch (const core::InputError& e) {
        if (!opt.skip_bad) throw;
        ++ds.skipped;
        if (ds.skip_reasons.size() < 20)
          ds.skip_reasons.push_back(fmt::format("{}:{}: {}", csv, s.row.line, e.what()));
        continue;
      }
    }
    ds.samples.push_back(std::move(s));
  }
  return ds;
}

Split split_train_val(const Dataset& ds, double val_fraction, std::uint64_t seed) {
  std::vector<std::vector<std::size_t>> per_class(ds.classes.size());
  for (std::size_t i = 0; i < ds.samples.size(); ++i)
    per_class[static_cast<std::size_t>(ds.samples[i].label)].push_back(i);
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
