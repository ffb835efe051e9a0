#include "keel/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "keel/core/error.h"

namespace keel::train {

double LrSchedule::at(double t) const {
  if (warmup_epochs > 0 && t < warmup_epochs) {
    double start = peak_lr / warmup_start_div;
    return start + (peak_lr - start) * (t / warmup_epochs);
  }
  double span = std::max(total_epochs - warmup_epochs, 1e-12);
  double u = std::clamp((t - warmup_epochs) / span, 0.0, 1.0);
  switch (decay) {
    case LrDecay::none: return peak_lr;
    case LrDecay::cosine: return peak_lr * 0.5 * (1 + std::cos(std::numbers::pi * u));
    case LrDecay::step:
      return peak_lr * std::pow(0.1, std::floor((t - warmup_epochs) / step_every_epochs));
  }
  return peak_lr;
}

double scaled_lr(double base_lr, int global_batch, int reference_batch, const std::string& scaling) {
  if (scaling == "none") return base_lr;
  if (scaling == "linear") {
    if (reference_batch <= 0)
      throw core::InputError("reference batch must be > 0", {"", 0, 0, "--reference-batch"});
    return base_lr * global_batch / reference_batch;
  }
  throw core::InputError("unknown LR scaling '" + scaling + "'", {"", 0, 0, "--lr-scaling"},
                         "use 'linear' or 'none'");
}

LrDecay parse_lr_decay(const std::string& name) {
  if (name == "cosine") return LrDecay::cosine;
  if (name == "step") return LrDecay::step;
  if (name == "none") return LrDecay::none;
  throw core::InputError("unknown LR decay '" + name + "'", {"", 0, 0, "--lr-decay"},
                         "use cosine, step or none");
}

double InverseSqrtSchedule::at(std::int64_t step) const {
  const double s = static_cast<double>(std::max<std::int64_t>(step, 1));
  if (warmup_steps <= 0) return peak_lr / std::sqrt(s);
  const double w = static_cast<double>(warmup_steps);
  return s < w ? peak_lr * s / w : peak_lr * std::sqrt(w / s);
}

}  // namespace keel::train
