#include "keel/mcnn/eval.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

#include "keel/core/error.h"
#include "keel/train/torch_train.h"

namespace keel::mcnn {

CheckpointInfo read_checkpoint_info(const std::filesystem::path& checkpoint) {
  const auto extra = nlohmann::json::parse(train::read_checkpoint_meta(checkpoint).extra_json);
  CheckpointInfo info;
  try {
    info.height = extra.at("height");
    info.width = extra.at("width");
    info.classes = extra.at("classes").get<std::vector<std::string>>();
    info.channels = extra.value("channels", std::vector<std::string>(kChannels.begin(), kChannels.end()));
    info.precision = extra.value("precision", std::string("fp32"));
    info.seed = extra.value("seed", std::uint64_t{0});
    info.val_fraction = extra.value("val_fraction", 0.0);
  } catch (const nlohmann::json::exception& e) {
    throw core::InputError(std::string("not an M-CNN checkpoint (metadata: ") + e.what() + ")",
                           {checkpoint.string(), 0, 0, {}},
                           "pass a checkpoint written by keel mcnn train");
  }
  return info;
}

std::string fit_to_checkpoint(Dataset& ds, const CheckpointInfo& info,
                              const std::filesystem::path& checkpoint) {
  if (ds.channels.size() != info.channels.size())
    throw core::InputError(
        fmt::format("the checkpoint takes {} channels ({}), the data has {} ({})",
                    info.channels.size(), fmt::join(info.channels, ","), ds.channels.size(),
                    fmt::join(ds.channels, ",")),
        {checkpoint.string(), 0, 0, {}},
        "give the data the channels the model was trained on, in its order (--channels)");
  for (auto& s : ds.samples) {
    if (s.label < 0) continue;
    auto it = std::find(info.classes.begin(), info.classes.end(), s.moa);
    if (it == info.classes.end())
      throw core::InputError(
          fmt::format("label '{}' is not one of the checkpoint's {} classes ({})", s.moa,
                      info.classes.size(), fmt::join(info.classes, ", ")),
          {ds.source.string(), s.row.line, 0, {}},
          "use the checkpoint trained on this class set, or predict without labels");
    s.label = static_cast<int>(it - info.classes.begin());
  }
  ds.classes = info.classes;
  if (ds.channels != info.channels)
    return fmt::format("channel names differ: the checkpoint was trained on {}, the data names "
                       "{} (taken in that order)",
                       fmt::join(info.channels, ","), fmt::join(ds.channels, ","));
  return {};
}

EvalReport evaluate(const Dataset& ds, const std::vector<Prediction>& preds) {
  EvalReport rep;
  const std::size_t k = ds.classes.size();
  rep.confusion.assign(k, std::vector<int>(k, 0));
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
    if (s.label < 0) continue;  // unlabelled fields have no place in accuracy or NSC
    ++rep.images;
    ++rep.confusion[static_cast<std::size_t>(s.label)][static_cast<std::size_t>(p.predicted)];
    correct += s.label == p.predicted;
    auto& t = treatments[{s.row.compound, s.row.concentration}];
    t.compound = s.row.compound;
    t.label = s.label;
    if (t.sum.empty()) t.sum.assign(p.features.size(), 0.0);
    for (std::size_t i = 0; i < p.features.size(); ++i) t.sum[i] += p.features[i];
    ++t.n;
  }
  rep.accuracy = rep.images ? static_cast<double>(correct) / static_cast<double>(rep.images) : 0;
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
