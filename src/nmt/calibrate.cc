// Static int8 calibration. The KL search is written here by hand: oneDNN and LibTorch quantize
// with scales they are given and ship no calibrator; the algorithm follows TensorRT's entropy
// calibration (Migacz, "8-bit Inference with TensorRT", GTC 2017) as the Intel paper uses it.
#include "keel/nmt/calibrate.h"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "keel/core/error.h"
#include "keel/nmt/gemm.h"

namespace keel::nmt {

CalibMethod parse_calib_method(std::string_view name) {
  if (name == "kl") return CalibMethod::kl;
  if (name == "percentile") return CalibMethod::percentile;
  if (name == "minmax") return CalibMethod::minmax;
  throw core::InputError(fmt::format("unknown calibration method '{}'", name), {},
                         "use kl, percentile or minmax");
}

std::string_view to_string(CalibMethod m) {
  switch (m) {
    case CalibMethod::kl: return "kl";
    case CalibMethod::percentile: return "percentile";
    case CalibMethod::minmax: return "minmax";
  }
  return "?";
}

namespace {

// Normalizes `v` to a distribution, moving a little mass (kEps per bin) onto the empty bins so
// that the divergence stays finite (as MXNet's and TensorRT's calibrators smooth).
void smooth(std::vector<double>& v) {
  constexpr double kEps = 1e-4;
  double sum = 0;
  std::size_t zeros = 0;
  for (double x : v) sum += x, zeros += x == 0;
  if (sum == 0 || zeros == v.size()) return;
  const double take = kEps * static_cast<double>(zeros) / static_cast<double>(v.size() - zeros);
  for (double& x : v) x = x == 0 ? kEps : std::max(x / sum - take, kEps * 0.01);
}

double kl_divergence(std::vector<double>& p, std::vector<double>& q) {
  smooth(p);
  smooth(q);
  double kl = 0;
  for (std::size_t i = 0; i < p.size(); ++i) kl += p[i] * std::log(p[i] / q[i]);
  return kl;
}

}  // namespace

double kl_threshold(const AbsHistogram& h, int levels) {
  const int bins = static_cast<int>(h.counts.size());
  if (bins <= levels) return h.range;
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = bins;
  double outliers = 0;
  for (double c : h.counts) outliers += c;
  std::vector<double> p, q;
  // Walk i upward; the mass beyond bin i is what the threshold clips.
  double below = 0;
  for (int k = 0; k < levels; ++k) below += h.counts[k];
  for (int i = levels; i <= bins; ++i) {
    if (i > levels) below += h.counts[i - 1];
    const double beyond = outliers - below;
    p.assign(h.counts.begin(), h.counts.begin() + i);
    p[i - 1] += beyond;
    // Q: the unclipped slice merged into `levels` groups, each group's mass spread over the
    // group's non-empty bins.
    q.assign(static_cast<std::size_t>(i), 0.0);
    const double per = static_cast<double>(i) / levels;
    for (int j = 0; j < levels; ++j) {
      const int start = static_cast<int>(std::floor(j * per));
      const int stop = j == levels - 1 ? i : static_cast<int>(std::floor((j + 1) * per));
      double total = 0;
      int nonzero = 0;
      for (int k = start; k < stop; ++k) total += h.counts[k], nonzero += h.counts[k] != 0;
      if (nonzero == 0) continue;
      for (int k = start; k < stop; ++k)
        if (h.counts[k] != 0) q[k] = total / nonzero;
    }
    const double kl = kl_divergence(p, q);
    if (kl < best_kl) best_kl = kl, best_i = i;
  }
  return best_i * h.bin_width();
}

double percentile_threshold(const AbsHistogram& h, double pct) {
  double total = 0;
  for (double c : h.counts) total += c;
  const double want = total * pct / 100.0;
  double acc = 0;
  for (std::size_t i = 0; i < h.counts.size(); ++i) {
    acc += h.counts[i];
    if (acc >= want) return static_cast<double>(i + 1) * h.bin_width();
  }
  return h.range;
}

double estimated_sqnr_db(const AbsHistogram& h, double threshold, int levels) {
  const double step = threshold / levels, w = h.bin_width();
  double signal = 0, noise = 0;
  for (std::size_t i = 0; i < h.counts.size(); ++i) {
    const double c = (static_cast<double>(i) + 0.5) * w, n = h.counts[i];
    signal += n * c * c;
    noise += n * (c <= threshold ? step * step / 12 : (c - threshold) * (c - threshold));
  }
  if (noise <= 0) return std::numeric_limits<double>::infinity();
  return 10 * std::log10(signal / noise);
}

Calibration calibrate(const Model& model, const std::vector<Ids>& sentences,
                      const CalibOptions& opt) {
  if (sentences.empty())
    throw core::InputError("the calibration text is empty", {},
                           "give a few hundred representative source sentences (--calib)");
  Transformer fp32(model, Compute::fp32);
  std::vector<LayerCalibration> layers;
  std::vector<AbsHistogram> hist;
  std::vector<Linear*> linears;
  fp32.for_each_linear([&](const std::vector<std::string>& scopes, Linear& l) {
    LayerCalibration c;
    c.scopes = scopes;
    c.min = std::numeric_limits<double>::infinity();
    layers.push_back(c);
    linears.push_back(&l);
  });
  hist.resize(layers.size());
  // Checked before the passes, by the rule applied below: a mistyped prefix would otherwise
  // keep nothing in fp32, silently.
  for (const auto& prefix : opt.force_fp32)
    if (std::none_of(layers.begin(), layers.end(),
                     [&](const auto& c) { return c.scopes.front().starts_with(prefix); }))
      throw core::InputError("matches no layer of the model", {prefix, 0, 0, "--fp32"},
                             "give a scope prefix such as decoder.output or encoder.layers.0 "
                             "(--json lists the layers)");
  // One thread: the observers are not thread-safe, and OpenMP teams that spin at barriers lose
  // badly on a loaded machine (measured 4x slower with 2 threads beside another job).
  const int saved_threads = omp_get_max_threads();
  omp_set_num_threads(1);
  struct Restore {
    int n;
    ~Restore() { omp_set_num_threads(n); }
  } restore{saved_threads};
  auto run = [&] {
    for (std::size_t b = 0; b < sentences.size(); b += static_cast<std::size_t>(opt.batch_size)) {
      std::vector<Ids> batch(sentences.begin() + static_cast<std::ptrdiff_t>(b),
                             sentences.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                     sentences.size(), b + opt.batch_size)));
      fp32.decode(batch, opt.decode);
    }
  };
  // Pass 1: ranges.
  for (std::size_t i = 0; i < linears.size(); ++i)
    linears[i]->set_observer([&c = layers[i]](const float* x, std::int64_t m, std::int64_t k) {
      for (std::int64_t j = 0; j < m * k; ++j) {
        c.min = std::min(c.min, double{x[j]});
        c.max_abs = std::max(c.max_abs, std::fabs(double{x[j]}));
      }
      c.values += m * k;
    });
  run();
  // Pass 2: histograms of |x| over each layer's range (the same inputs again: decoding is
  // deterministic).
  for (std::size_t i = 0; i < linears.size(); ++i) {
    hist[i].range = layers[i].max_abs > 0 ? layers[i].max_abs : 1.0;
    hist[i].counts.assign(static_cast<std::size_t>(opt.bins), 0.0);
    linears[i]->set_observer([&h = hist[i], bins = opt.bins](const float* x, std::int64_t m,
                                                             std::int64_t k) {
      const double scale = bins / h.range;
      // Exact zeros (half of a ReLU output) quantize exactly at any threshold: left out, they
      // would dominate bin 0 and push the KL search toward clipping the tail.
      for (std::int64_t j = 0; j < m * k; ++j) {
        if (x[j] == 0.f) continue;
        auto b = static_cast<int>(std::fabs(double{x[j]}) * scale);
        h.counts[static_cast<std::size_t>(std::min(b, bins - 1))] += 1;
      }
    });
  }
  run();
  for (Linear* l : linears) l->set_observer({});

  for (std::size_t i = 0; i < layers.size(); ++i) {
    LayerCalibration& c = layers[i];
    const AbsHistogram& h = hist[i];
    c.is_unsigned = c.min >= 0;
    const int levels = c.is_unsigned ? 255 : 127;
    switch (opt.method) {
      case CalibMethod::kl: c.threshold = kl_threshold(h, levels + 1); break;
      case CalibMethod::percentile: c.threshold = percentile_threshold(h, opt.percentile); break;
      case CalibMethod::minmax: c.threshold = h.range; break;
    }
    c.threshold = std::min(std::max(c.threshold, h.bin_width()), h.range);
    double beyond = 0, total = 0;
    for (std::size_t b = 0; b < h.counts.size(); ++b) {
      total += h.counts[b];
      if ((static_cast<double>(b) + 0.5) * h.bin_width() > c.threshold) beyond += h.counts[b];
    }
    c.clipped_fraction = total > 0 ? beyond / total : 0;
    c.sqnr_db = estimated_sqnr_db(h, c.threshold, levels);
    c.int8 = true;
    for (const auto& prefix : opt.force_fp32)
      if (c.scopes.front().starts_with(prefix)) {
        c.int8 = false;
        c.reason = fmt::format("requested (--fp32 {})", prefix);
      }
    if (c.int8 && c.values == 0) {
      c.int8 = false;
      c.reason = "no input seen during calibration";
    } else if (c.int8 && c.sqnr_db < opt.min_sqnr_db) {
      c.int8 = false;
      c.reason = fmt::format(
          "long-tailed input: SQNR {:.1f} dB < {:g} dB at threshold {:.3g} (max |x| {:.3g})",
          c.sqnr_db, opt.min_sqnr_db, c.threshold, c.max_abs);
    }
  }
  Calibration out;
  out.method = opt.method;
  out.sentences = sentences.size();
  out.layers = std::move(layers);
  return out;
}

Model apply_calibration(Model model, const Calibration& cal) {
  for (const auto& c : cal.layers)
    for (const auto& scope : c.scopes) {
      const std::string range = scope + ".input_range";
      model.tensors.erase(range);
      if (!c.int8) continue;
      Tensor r;
      r.shape = {2};
      const auto t = static_cast<float>(c.threshold);
      r.f32 = {c.is_unsigned ? 0.f : -t, t};
      model.tensors[range] = std::move(r);
      auto it = model.tensors.find(scope + ".weight");
      if (it == model.tensors.end() || it->second.dtype != DType::f32) continue;  // tied, or s8
      Tensor& w = it->second;
      Tensor q;
      q.dtype = DType::s8;
      q.shape = w.shape;
      q.s8.resize(w.f32.size());
      q.scales.resize(static_cast<std::size_t>(w.rows()));
      quantize_rows_ref(w.f32.data(), w.rows(), w.cols(), q.s8.data(), q.scales.data());
      w = std::move(q);
    }
  return model;
}

}  // namespace keel::nmt
