#pragma once
// Time-domain metrics of a power series: ramps over a window and the rolling swing.

#include <vector>

namespace keel::power {

struct Ramps {
  double up_per_s = 0;    // max of (x[t+w] - x[t]) / w, >= 0
  double down_per_s = 0;  // max of (x[t] - x[t+w]) / w, >= 0
};

// Ramp rates over a window of window_s seconds (at least one step). Exact for a linear ramp.
Ramps max_ramps(const std::vector<double>& x, double step_s, double window_s);

// Largest (max - min) inside any window of window_s seconds; O(n) with monotonic queues.
double max_rolling_swing(const std::vector<double>& x, double step_s, double window_s);

}  // namespace keel::power
