#include "keel/mcnn/eval.h"

#include <cmath>
#include <limits>
#include <map>
#include <tuple>

namespace keel::mcnn {

EvalReport evaluate(const Dataset& ds, const std::vector<Prediction>& preds) {
  EvalReport rep;
  const std::size_t k = ds.classes.size();
  rep.confusion.assign(k, std::vector<int>(k, 0));
  rep.images = preds.size();
  int correct = 0;
  // Treatment profiles: mean feature vector per (compound, concentration).
  struct Profile {
    std::string compound;
    int label = 0;
    std::vector<double> sum;
    int n = 0;
  };
  std::map<std::pair<std::string, double>, Profile> treatments;
  for (const auto& p : preds) {
    const Sample& s = ds.samples[p.index];
    ++rep.confusion[static_cast<std::size_t>(s.label)][static_cast<std::size_t>(p.predicted)];
    correct += s.label == p.predicted;
    auto& t = treatments[{s.row.compound, s.row.concentration}];
    t.compound = s.row.compound;
    t.label = s.label;
    if (t.sum.empty()) t.sum.assign(p.features.size(), 0.0);
    for (std::size_t i = 0; i < p.features.size(); ++i) t.sum[i] += p.features[i];
    ++t.n;
  }
  rep.accuracy = preds.empty() ? 0 : static_cast<double>(correct) / static_cast<double>(preds.size());
  std::vector<Profile> prof;
  for (auto& [key, t] : treatments) {
    double norm = 0;
    for (auto& v : t.sum) norm += v * v;
    norm = std::sqrt(norm);
    for (auto& v : t.sum) v = norm > 0 ? v / norm : 0;  // unit length: dot = cosine similarity
    prof.push_back(std::move(t));
  }
  int nsc_ok = 0;
  for (const auto& q : prof) {
    if (q.compound == "DMSO") continue;
    double best = -std::numeric_limits<double>::infinity();
    int best_label = -1;
    for (const auto& c : prof) {
      if (c.compound == q.compound) continue;
      double dot = 0;
      for (std::size_t i = 0; i < q.sum.size(); ++i) dot += q.sum[i] * c.sum[i];
      if (dot > best) {
        best = dot;
        best_label = c.label;
      }
    }
    if (best_label < 0) continue;
    ++rep.nsc_treatments;
    nsc_ok += best_label == q.label;
  }
  rep.nsc_accuracy = rep.nsc_treatments ? static_cast<double>(nsc_ok) / rep.nsc_treatments : 0;
  return rep;
}

}  // namespace keel::mcnn
