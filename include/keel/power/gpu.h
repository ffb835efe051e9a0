#pragma once
// One GPU's electrical behaviour per time step: a first-order response of power to the workload's
// demand, then (when enabled) NVML-style power smoothing: a floor, ramp-rate limits and ramp-down
// hysteresis. When smoothing holds power below demand the GPU is throttled and computes slower.

#include <algorithm>
#include <cmath>

#include "keel/power/scenario.h"

namespace keel::power {

// Constants derived once from the scenario, shared by every GPU of a run.
struct GpuModel {
  GpuModel(const GpuParams& gpu, const SmoothingParams& smoothing, double step_ms);

  double idle_w;
  double alpha;          // first-order step factor 1 - exp(-dt / tau)
  bool smoothing;
  double floor_w;        // percent_tmp_floor of TDP
  double up_w_per_step;  // ramp limits in W per step
  double down_w_per_step;
  double hysteresis_ms;
  double step_ms;
  double compute_w;       // a target at or above it is a compute phase (onsets are detected)
  double overshoot_w;     // onset overshoot amplitude after a long gap; 0 = none
  double overshoot_keep;  // exp(-dt / onset_decay_ms): the part left after one step
  double gap_ms;          // onset_gap_ms
  double tdp_w, edp_w, edp_peak_ms;  // EDP cap of power above TDP (edp_w 0: none)
  double window_keep;  // exp(-dt / tdp_window_ms): the TDP averaging window as a running mean; 1: none
};

struct GpuState {
  double p_nat;      // power the workload would draw without smoothing (W)
  double p_out;      // power drawn (W)
  double p_base;     // p_nat without the onset transient (what smoothing acts on)
  double p_smooth;   // smoothing's output before the transient is added
  double hold_ms = 0; // time demand has been below p_out (ramp-down hysteresis)
  double gap_ms = 1e12;  // time since the last compute step (onset overshoot)
  double over_w = 0;     // current onset overshoot above the compute target
  double since_onset_ms = 0;  // time since the current compute phase began
  double avg_w;               // running mean of p_out over the TDP averaging window

  explicit GpuState(double p0 = 0) : p_nat(p0), p_out(p0), p_base(p0), p_smooth(p0), avg_w(p0) {}

  // Advances one step toward `target_w`. `smooth` says whether the smoothing profile is active,
  // `floor` whether its floor applies. Returns the compute throttle in [0, 1]: the fraction of
  // demanded power above idle that the GPU may draw (1 when unconstrained).
  double step(const GpuModel& m, double target_w, bool smooth, bool floor) {
    const double base_target = target_w;
    if (m.overshoot_w > 0) {
      if (target_w >= m.compute_w) {
        // Compute after a gap: the overshoot starts at its gap-dependent size, then decays.
        if (gap_ms > 0) over_w = m.overshoot_w * (1.0 - std::exp(-gap_ms / m.gap_ms)), since_onset_ms = 0;
        gap_ms = 0;
        target_w += over_w;
        over_w *= m.overshoot_keep;
        // Above TDP only up to the EDP, only in the EDP-peak window after the onset, and only
        // while the average over the TDP window is below TDP.
        if (m.edp_w > 0 && target_w > m.tdp_w)
          target_w = std::min(target_w, since_onset_ms < m.edp_peak_ms ? m.edp_w : m.tdp_w);
        if (m.window_keep < 1 && avg_w >= m.tdp_w) target_w = std::min(target_w, std::max(m.tdp_w, base_target));
        since_onset_ms += m.step_ms;
      } else {
        gap_ms += m.step_ms;
        over_w = 0;
      }
    }
    p_nat += (target_w - p_nat) * m.alpha;
    p_base = m.overshoot_w > 0 ? p_base + (base_target - p_base) * m.alpha : p_nat;
    if (!smooth || !m.smoothing) {
      p_out = p_smooth = p_nat;
      hold_ms = 0;
      average(m);
      return 1.0;
    }
    // Smoothing acts on the demand without the onset transient: an EDP peak is an electrical
    // transient faster than the firmware's control loop (Choukse et al., arXiv 2508.14318,
    // Sec. III: GPUs overshoot TDP at ~50 ms while holding it at 1 s), so it rides on top of the
    // smoothed power. Without an overshoot the transient is exactly 0.
    double desired = floor && p_base < m.floor_w ? m.floor_w : p_base;
    if (desired > p_smooth) {
      p_smooth = desired < p_smooth + m.up_w_per_step ? desired : p_smooth + m.up_w_per_step;
      hold_ms = 0;
    } else if (desired < p_smooth) {
      hold_ms += m.step_ms;
      if (hold_ms > m.hysteresis_ms)
        p_smooth = desired > p_smooth - m.down_w_per_step ? desired : p_smooth - m.down_w_per_step;
    } else {
      hold_ms = 0;
    }
    p_out = p_smooth + (p_nat - p_base);
    average(m);
    if (p_base > p_smooth && p_base > m.idle_w) {
      double t = (p_smooth - m.idle_w) / (p_base - m.idle_w);
      return t < 0 ? 0.0 : t;
    }
    return 1.0;
  }

 private:
  void average(const GpuModel& m) {
    if (m.window_keep < 1) avg_w = p_out + (avg_w - p_out) * m.window_keep;
  }
};

}  // namespace keel::power
