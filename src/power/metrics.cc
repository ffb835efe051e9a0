#include "keel/power/metrics.h"

#include <algorithm>
#include <cmath>
#include <deque>

namespace keel::power {

Ramps max_ramps(const std::vector<double>& x, double step_s, double window_s) {
  Ramps r;
  auto lag = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(window_s / step_s)));
  if (x.size() <= lag) return r;
  const double w = static_cast<double>(lag) * step_s;
  double up = 0, down = 0;
  for (std::size_t k = 0; k + lag < x.size(); ++k) {
    double d = x[k + lag] - x[k];
    up = std::max(up, d);
    down = std::max(down, -d);
  }
  r.up_per_s = up / w;
  r.down_per_s = down / w;
  return r;
}

double max_rolling_swing(const std::vector<double>& x, double step_s, double window_s) {
  auto len = std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(window_s / step_s)) + 1);
  std::deque<std::size_t> hi, lo;  // indices of decreasing maxima / increasing minima
  double best = 0;
  for (std::size_t k = 0; k < x.size(); ++k) {
    while (!hi.empty() && x[hi.back()] <= x[k]) hi.pop_back();
    while (!lo.empty() && x[lo.back()] >= x[k]) lo.pop_back();
    hi.push_back(k);
    lo.push_back(k);
    if (hi.front() + len <= k) hi.pop_front();
    if (lo.front() + len <= k) lo.pop_front();
    best = std::max(best, x[hi.front()] - x[lo.front()]);
  }
  return best;
}

}  // namespace keel::power
