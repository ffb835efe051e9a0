#include "keel/mcnn/manifest.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>
#include <set>

#include "csv.h"
#include "keel/core/error.h"

namespace keel::mcnn {

std::vector<std::string> parse_channel_list(const std::string& list, const std::string& option) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = list.find(',', start);
    std::string name = list.substr(start, comma == std::string::npos ? comma : comma - start);
    if (name.empty())
      throw core::InputError(fmt::format("empty channel name in '{}'", list), {"", 0, 0, option},
                             "name each channel file's column, e.g. DAPI,Tubulin,Actin");
    if (std::find(out.begin(), out.end(), name) != out.end())
      throw core::InputError(fmt::format("channel '{}' is named twice", name), {"", 0, 0, option});
    out.push_back(std::move(name));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

Dataset load_manifest(const std::filesystem::path& file, const ManifestSpec& spec,
                      const LoadOptions& opt) {
  const std::string name = file.string();
  if (spec.channels.empty())
    throw core::InputError("a manifest needs its channel columns named", {"", 0, 0, "--channels"},
                           "pass --channels with the columns that hold the image files, e.g. "
                           "--channels DAPI,Tubulin,Actin");
  auto recs = csv::parse(csv::read_text(file, "pass --manifest FILE.csv with one row per field of "
                                              "view"),
                         name);
  if (recs.empty()) throw core::InputError("empty manifest (no header row)", {name, 1, 0, {}});
  const csv::Columns col(recs[0], name);
  auto required = [&](const std::string& column, const char* option) {
    if (auto i = col.find(column)) return *i;
    throw core::InputError(fmt::format("missing column '{}'", column), {name, 1, 0, {}},
                           fmt::format("the header must name it, or pass {} with the column "
                                       "that holds it",
                                       option));
  };
  std::vector<std::size_t> chan;
  for (const auto& c : spec.channels) chan.push_back(required(c, "--channels"));
  const std::size_t group = required(spec.group_column, "--group-column");
  std::optional<std::size_t> label = col.find(spec.label_column);
  if (!label && spec.require_labels) required(spec.label_column, "--label-column");
  const auto conc = col.find(spec.concentration_column);
  const auto plate = col.find(spec.plate_column), well = col.find(spec.well_column);

  Dataset ds;
  ds.dir = file.parent_path();
  ds.source = file;
  ds.channels = spec.channels;
  ds.channel_columns = spec.channels;
  ds.has_wells = plate && well;
  if (label) {
    std::set<std::string> labels;
    for (std::size_t i = 1; i < recs.size(); ++i)
      if (*label < recs[i].fields.size() && !recs[i].fields[*label].empty())
        labels.insert(recs[i].fields[*label]);
    ds.classes.assign(labels.begin(), labels.end());
  }
  const auto root = opt.image_root.empty() ? ds.dir : opt.image_root;
  for (std::size_t i = 1; i < recs.size(); ++i) {
    const auto& r = recs[i];
    Sample s;
    s.row.line = r.line;
    s.row.compound = csv::get(r, group, name, spec.group_column);
    if (conc)
      s.row.concentration =
          csv::parse_number(csv::get(r, *conc, name, spec.concentration_column), name, r.line,
                            spec.concentration_column);
    if (ds.has_wells) {
      s.row.plate = csv::get(r, *plate, name, spec.plate_column);
      s.row.well = csv::get(r, *well, name, spec.well_column);
    }
    s.label = -1;
    if (label) s.moa = csv::get(r, *label, name, spec.label_column);
    if (!s.moa.empty())
      s.label = static_cast<int>(std::lower_bound(ds.classes.begin(), ds.classes.end(), s.moa) -
                                 ds.classes.begin());
    bool empty_cell = false;
    for (std::size_t c = 0; c < chan.size(); ++c) {
      const std::string& f = csv::get(r, chan[c], name, spec.channels[c]);
      if (f.empty()) {
        const core::InputError e(
            fmt::format("column '{}' is empty: every row needs one file per channel ({} "
                        "channels: {})",
                        spec.channels[c], chan.size(), fmt::join(spec.channels, ",")),
            {name, r.line, 0, {}}, "fill it in, or pass --skip-bad to skip such rows");
        if (!opt.skip_bad) throw e;
        ++ds.skipped;
        if (ds.skip_reasons.size() < 20) ds.skip_reasons.push_back(e.what());
        empty_cell = true;
        break;
      }
      const std::filesystem::path p(f);
      s.files.push_back(p.is_absolute() ? p : root / p);
    }
    if (empty_cell) continue;
    if (s.label < 0) {
      ++ds.unlabeled;
      if (!opt.keep_unlabeled) continue;
    }
    add_checked_sample(ds, std::move(s), opt);
  }
  return ds;
}

Dataset load_dataset(const DataSource& src, LoadOptions opt) {
  if (src.data.empty() == src.manifest.empty())
    throw core::InputError(src.data.empty() ? "no input data given" : "both --data and --manifest given",
                           {"", 0, 0, "--data"},
                           "pass --data DIR (BBBC021 layout) or --manifest FILE.csv --channels "
                           "A,B,C");
  opt.image_root = src.images;
  if (!src.manifest.empty()) return load_manifest(src.manifest, src.spec, opt);
  return load_bbbc021(src.data, opt);
}

}  // namespace keel::mcnn
