#include "keel/mcnn/predict.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>

#include "csv.h"
#include "keel/core/atomic_file.h"

namespace keel::mcnn {

namespace {

// A CSV field, quoted only when it must be (RFC 4180).
std::string field(const std::string& s) {
  return s.find_first_of(",\"\r\n") == std::string::npos ? s : csv::quoted(s);
}

std::string prob_header(const std::vector<std::string>& classes) {
  std::string h;
  for (const auto& c : classes) h += "," + field("p_" + c);
  return h;
}

// Mean probabilities of a group of fields and their argmax.
struct Mean {
  std::vector<double> sum;
  int n = 0;
  void add(const std::vector<float>& p) {
    if (sum.empty()) sum.assign(p.size(), 0.0);
    for (std::size_t i = 0; i < p.size(); ++i) sum[i] += p[i];
    ++n;
  }
  std::string row(const std::vector<std::string>& classes) const {
    const std::size_t best = static_cast<std::size_t>(std::max_element(sum.begin(), sum.end()) -
                                                      sum.begin());
    std::string out = fmt::format("{},{}", n, field(classes.at(best)));
    for (double v : sum) out += fmt::format(",{:.6f}", v / n);
    return out;
  }
};

}  // namespace

TreatmentIndex index_treatments(const Dataset& ds) {
  std::map<std::pair<std::string, double>, std::size_t> keys;
  for (const auto& s : ds.samples) keys.emplace(std::make_pair(s.row.compound, s.row.concentration), 0);
  TreatmentIndex t;
  for (auto& [k, i] : keys) {
    i = t.list.size();
    t.list.push_back({k.first, k.second});
  }
  for (const auto& s : ds.samples) t.of_sample.push_back(keys.at({s.row.compound, s.row.concentration}));
  return t;
}

PredictPaths predict_paths(const std::filesystem::path& out, const std::filesystem::path& features,
                           bool has_wells) {
  std::filesystem::path stem = out;
  if (stem.extension() == ".csv") stem.replace_extension();
  PredictPaths p;
  p.fields = out;
  if (has_wells) p.wells = stem.string() + ".wells.csv";
  p.treatments = stem.string() + ".treatments.csv";
  p.features = features;
  return p;
}

PredictionRows write_predictions(const Dataset& ds, std::vector<FieldResult> fields,
                       const TreatmentIndex& treatments, const TreatmentFeatures& features,
                       const PredictPaths& paths) {
  std::sort(fields.begin(), fields.end(),
            [](const FieldResult& a, const FieldResult& b) { return a.index < b.index; });
  const auto& classes = ds.classes;
  std::vector<std::unique_ptr<core::AtomicFile>> files;
  auto open = [&](const std::filesystem::path& p) -> std::ostream& {
    files.push_back(std::make_unique<core::AtomicFile>(p));
    return files.back()->stream();
  };

  std::ostream& f = open(paths.fields);
  f << "line,image,plate,well,compound,concentration,label,predicted" << prob_header(classes) << "\n";
  std::map<std::pair<std::string, std::string>, Mean> wells;
  std::vector<Mean> per_treatment(treatments.list.size());
  for (const auto& r : fields) {
    const Sample& s = ds.samples.at(r.index);
    const std::size_t best = static_cast<std::size_t>(
        std::max_element(r.probs.begin(), r.probs.end()) - r.probs.begin());
    f << fmt::format("{},{},{},{},{},{:g},{},{}", s.row.line, field(s.files.at(0).string()),
                     field(s.row.plate), field(s.row.well), field(s.row.compound),
                     s.row.concentration, s.label >= 0 ? field(classes.at(static_cast<std::size_t>(s.label))) : "",
                     field(classes.at(best)));
    for (float v : r.probs) f << fmt::format(",{:.6f}", v);
    f << "\n";
    wells[{s.row.plate, s.row.well}].add(r.probs);
    per_treatment.at(treatments.of_sample.at(r.index)).add(r.probs);
  }
  if (!paths.wells.empty()) {
    std::ostream& w = open(paths.wells);
    w << "plate,well,fields,predicted" << prob_header(classes) << "\n";
    for (const auto& [key, m] : wells) w << field(key.first) << "," << field(key.second) << "," << m.row(classes) << "\n";
  }
  std::ostream& t = open(paths.treatments);
  t << "compound,concentration,fields,predicted" << prob_header(classes) << "\n";
  for (std::size_t i = 0; i < per_treatment.size(); ++i) {
    if (per_treatment[i].n == 0) continue;
    t << fmt::format("{},{:g},", field(treatments.list[i].compound), treatments.list[i].concentration)
      << per_treatment[i].row(classes) << "\n";
  }
  if (!paths.features.empty()) {
    std::ostream& p = open(paths.features);
    p << "compound,concentration,fields";
    for (int d = 0; d < features.dim; ++d) p << ",f" << d;
    p << "\n";
    const std::size_t dim = static_cast<std::size_t>(features.dim);
    for (std::size_t i = 0; i < treatments.list.size(); ++i) {
      const double n = features.count.at(i);
      if (n <= 0) continue;
      p << fmt::format("{},{:g},{:g}", field(treatments.list[i].compound),
                       treatments.list[i].concentration, n);
      for (std::size_t d = 0; d < dim; ++d) p << fmt::format(",{:.7g}", features.sum.at(i * dim + d) / n);
      p << "\n";
    }
  }
  for (auto& file : files) file->commit();
  PredictionRows rows;
  rows.fields = fields.size();
  rows.wells = paths.wells.empty() ? 0 : wells.size();
  for (const auto& m : per_treatment) rows.treatments += m.n > 0;
  return rows;
}

}  // namespace keel::mcnn
