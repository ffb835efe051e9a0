#pragma once
// Calibrates keel's GPU model (gpu.h: idle and compute power, first-order time constant) against a
// measured power log of a GPU whose compute phases are known from a timeline (core/timeline.h).
// The sensor is modelled too, because it shapes what a log can show: a reading is the average of
// the true power over a short window, refreshed at the sensor's own cadence (~100 ms on an H100,
// whatever the polling rate), so repeated values are collapsed to the update that produced them.
// A grid search over time constant, sensor window and clock offset, with idle/compute power solved
// by least squares at each point, gives the best fit and the range of time constants the data
// cannot tell apart from it.

#include <optional>
#include <utility>
#include <vector>

#include "keel/power/trace_in.h"

namespace keel::power {

struct FitOptions {
  std::vector<double> taus_ms = {1, 2, 5, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000};
  std::vector<double> windows_ms = {1, 5, 10, 20, 50, 100, 200, 500, 1000};
  // trace time = timeline time + offset. Unset: found by cross-correlation over the whole log.
  std::optional<double> offset_s;
  // Part of the timeline to fit (timeline seconds); readings outside are ignored.
  std::optional<double> from_s, to_s;
  // Time constants whose best RMSE is within this fraction of the overall best are "consistent".
  double consistent_rel = 0.05;
  double onset_window_s = 0.15;  // readings this soon after a compute start count as its onset
  // Grid for the onset overshoot term (gpu.h), fitted after the first-order model.
  // Up to 500 ms: a controller catching up, not the slow drift of a capped level (docs).
  std::vector<double> overshoot_decays_ms = {10, 25, 50, 75, 100, 150, 200, 300, 500};
  std::vector<double> overshoot_gaps_ms = {1, 5, 10, 20, 50, 100, 300, 1000};
};

struct FitResult {
  double idle_w = 0, compute_w = 0;
  double time_constant_ms = 0, window_ms = 0, offset_s = 0;
  double rmse_w = 0, r2 = 0;
  double tau_lo_ms = 0, tau_hi_ms = 0;  // consistent range of time constants
  int readings = 0;                     // distinct sensor updates used
  double update_interval_ms = 0;        // median interval between updates
  // Median over compute phases of (highest reading in the onset window - compute_w): transients
  // the first-order model does not have (e.g. a power-capping controller catching up).
  double onset_overshoot_w = 0;
  int onsets = 0;
  // keel's onset overshoot term fitted on top (least squares with the levels re-solved): its
  // amplitude, decay and gap scale, and the RMSE / R^2 with it (the same readings).
  struct Overshoot {
    double amplitude_w = 0, decay_ms = 0, gap_ms = 0;
    double idle_w = 0, compute_w = 0, rmse_w = 0, r2 = 0;
  } overshoot;
  std::vector<std::pair<double, double>> rmse_by_tau;  // (tau ms, best RMSE W) per grid tau
};

// `readings` in trace seconds (as read_trace gives them), `compute_s` the compute intervals in
// timeline seconds. Throws core::InputError when too few readings overlap the timeline.
FitResult fit_gpu_response(const std::vector<PowerSample>& readings,
                           const std::vector<std::pair<double, double>>& compute_s,
                           const FitOptions& opt = {});

// The model's prediction of one reading: `window_s` average ending at timeline time `t_s` of a GPU
// (keel's GpuState, no smoothing) driven by `compute_s`. Used by the fit and by tests.
class ResponseModel {
 public:
  // With overshoot_decay_ms > 0 the GPU has keel's onset overshoot of amplitude 1 (in units of
  // the swing) with that decay and gap scale.
  ResponseModel(const std::vector<std::pair<double, double>>& compute_s, double tau_ms,
                double begin_s, double end_s, double step_s = 1e-3,
                double overshoot_decay_ms = 0, double overshoot_gap_ms = 1);
  // Fraction of the idle→compute swing (0..1), averaged over (t_s - window_s, t_s].
  double average(double t_s, double window_s) const;

 private:
  double begin_s_, step_s_;
  std::vector<double> cumulative_;  // running integral of the unit response, one per step
  double integral(double t_s) const;
};

}  // namespace keel::power
