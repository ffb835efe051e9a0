#pragma once
// Static int8 calibration (the Intel paper's scheme): translate a calibration text in fp32,
// record every dense layer's input distribution, choose a clipping threshold per layer (KL
// divergence, percentile or min-max), and keep in fp32 the layers whose inputs are too long-tailed
// to quantize well (estimated signal-to-quantization-noise ratio below a bound). The result is
// written into the model as `<scope>.input_range` tensors, with the int8 layers' weights stored
// as s8 per output channel.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "keel/nmt/model.h"
#include "keel/nmt/transformer.h"

namespace keel::nmt {

enum class CalibMethod { kl, percentile, minmax };
CalibMethod parse_calib_method(std::string_view name);  // kl | percentile | minmax
std::string_view to_string(CalibMethod m);

struct CalibOptions {
  // The default: on the trained en-es model every method stayed within BLEU noise of fp32 on
  // the dev set, and the 99.999th percentile was the steadiest on dev and test (docs/nmt.md).
  CalibMethod method = CalibMethod::percentile;
  double percentile = 99.999;  // of |x|, for CalibMethod::percentile
  int bins = 2048;            // histogram of |x| over [0, max|x|]
  // Layers whose estimated SQNR at the chosen threshold is below this stay fp32.
  double min_sqnr_db = 25;
  // Scope prefixes kept in fp32 whatever the statistics (matched against each layer's first
  // scope); one that matches no layer is an InputError.
  std::vector<std::string> force_fp32;
  DecodeOptions decode;                  // how the calibration text is translated
  int batch_size = 16;
};

// A histogram of |x| with `bins` equal bins over [0, range].
struct AbsHistogram {
  double range = 0;
  std::vector<double> counts;
  double bin_width() const { return range / static_cast<double>(counts.size()); }
};

// TensorRT-style entropy calibration: the threshold (a bin's upper edge, at least `levels` bins
// in) minimizing KL(P‖Q), P the histogram clipped at the threshold (outliers folded into the
// last bin), Q that histogram quantized to `levels` levels and expanded back.
double kl_threshold(const AbsHistogram& h, int levels);
// The smallest bin upper edge below which `pct` % of the values lie.
double percentile_threshold(const AbsHistogram& h, double pct);
// Estimated signal-to-noise ratio (dB) of quantizing to `levels` levels clipped at `threshold`:
// uniform rounding noise Δ²/12 inside the range, the clipping error outside it.
double estimated_sqnr_db(const AbsHistogram& h, double threshold, int levels);

struct LayerCalibration {
  std::vector<std::string> scopes;  // model scopes of the layer (q/k/v fused: three)
  std::int64_t values = 0;          // inputs seen
  double min = 0, max_abs = 0;
  bool is_unsigned = false;         // no negative input seen (ReLU outputs)
  double threshold = 0;             // clip range [-t, t] or [0, t]
  double clipped_fraction = 0;      // share of inputs beyond the threshold
  double sqnr_db = 0;
  bool int8 = false;
  std::string reason;               // why the layer stays fp32 (empty when int8)
};

struct Calibration {
  CalibMethod method = CalibMethod::kl;
  std::size_t sentences = 0;
  std::vector<LayerCalibration> layers;
};

// Runs the calibration text (source ids, each ending with EOS) through the fp32 model twice
// (ranges, then histograms). Throws core::InputError for an empty calibration set.
Calibration calibrate(const Model& model, const std::vector<Ids>& sentences,
                      const CalibOptions& options);

// The model with the calibration applied: input ranges for the int8 layers, their weights as s8
// (ranges of fp32 layers removed, so re-quantizing a model starts clean).
Model apply_calibration(Model model, const Calibration& calibration);

}  // namespace keel::nmt
