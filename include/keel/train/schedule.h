#pragma once
// Learning-rate policy for large-batch SGD (Goyal et al. 2017, used by the M-CNN paper): the base
// rate is scaled linearly with the global batch, ramped up linearly over the first epochs (large
// rates diverge from a random init), then decayed.

#include <cstdint>
#include <string>

namespace keel::train {

enum class LrDecay { none, cosine, step };

struct LrSchedule {
  double peak_lr = 0.01;        // rate after warmup (already scaled)
  double warmup_epochs = 0;     // linear ramp from peak_lr / warmup_start_div to peak_lr
  double warmup_start_div = 10; // the ramp starts at peak_lr / this
  double total_epochs = 1;
  LrDecay decay = LrDecay::cosine;
  double step_every_epochs = 30;  // LrDecay::step: x0.1 every this many epochs after warmup

  // Rate at fractional epoch `t` in [0, total_epochs]. Pure: the same t gives the same rate on
  // every rank and after a resume.
  double at(double t) const;
};

// base_lr * global_batch / reference_batch when `scaling` is "linear", base_lr when "none".
// Throws InputError for any other name.
double scaled_lr(double base_lr, int global_batch, int reference_batch, const std::string& scaling);

LrDecay parse_lr_decay(const std::string& name);

// Inverse square-root schedule of the Transformer (Vaswani et al. 2017; fairseq's
// inverse_sqrt): a linear ramp from 0 to peak_lr over warmup_steps, then peak_lr *
// sqrt(warmup_steps / step). Used by the nmt trainer.
struct InverseSqrtSchedule {
  double peak_lr = 5e-4;
  std::int64_t warmup_steps = 4000;  // 0: no ramp, peak_lr / sqrt(step) from step 1

  // Rate for optimizer step `step` (1-based: the first update uses at(1)). Pure, so a resumed
  // run continues the same curve.
  double at(std::int64_t step) const;
};

}  // namespace keel::train
