#include "keel/power/gpu.h"

#include <cmath>

namespace keel::power {

GpuModel::GpuModel(const GpuParams& gpu, const SmoothingParams& s, double dt_ms)
    : idle_w(gpu.idle_w),
      alpha(gpu.time_constant_ms > 0 ? 1.0 - std::exp(-dt_ms / gpu.time_constant_ms) : 1.0),
      smoothing(s.enabled && gpu_limits(gpu.model).smoothing),  // not on GPUs without it
      floor_w(s.percent_tmp_floor / 100.0 * gpu.tdp_w),
      up_w_per_step(s.ramp_up_rate_w_per_s * dt_ms / 1000.0),
      down_w_per_step(s.ramp_down_rate_w_per_s * dt_ms / 1000.0),
      hysteresis_ms(s.ramp_down_hysteresis_ms),
      step_ms(dt_ms),
      compute_w(gpu.compute_w),
      overshoot_w(gpu.onset_overshoot_w),
      overshoot_keep(std::exp(-dt_ms / gpu.onset_decay_ms)),
      gap_ms(gpu.onset_gap_ms),
      tdp_w(gpu.tdp_w),
      edp_w(gpu.edp_w),
      edp_peak_ms(gpu.edp_peak_ms),
      window_keep(gpu.tdp_window_ms > 0 ? std::exp(-dt_ms / gpu.tdp_window_ms) : 1.0) {}

}  // namespace keel::power
