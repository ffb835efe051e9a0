// The reference battery: the controller documented in storage.h and docs/power.md written a
// second time, plainly, for the dense reference simulator. It keeps the state of charge as a
// fraction of capacity (the fast Battery keeps joules) and the filter as an explicit
// exponential average, so a slip in either shows up as a fast-vs-reference difference.
#include <algorithm>
#include <cmath>

#include "keel/power/storage.h"

namespace keel::power {

StorageResult apply_storage_reference(const std::vector<double>& load_w, double step_s,
                                      const StorageParams& p) {
  StorageResult out;
  out.grid_w.assign(load_w.size(), 0.0);
  out.soc.assign(load_w.size(), 0.0);
  out.soc_min_seen = out.soc_max_seen = p.soc_initial;
  if (load_w.empty()) return out;

  const double capacity_j = p.energy_kwh * 1000.0 * 3600.0;
  const double max_w = p.power_kw * 1000.0;
  const double one_way = std::sqrt(p.round_trip_efficiency);
  const double keep = std::exp(-step_s / p.filter_time_constant_s);  // filter memory per step
  double soc = p.soc_initial;
  double smoothed = load_w[0];
  std::size_t power_limited = 0, energy_limited = 0;

  for (std::size_t k = 0; k < load_w.size(); ++k) {
    const double load = load_w[k];
    smoothed = load - keep * (load - smoothed);  // = smoothed + (1 - keep)(load - smoothed)
    const double restore_w = (p.soc_initial - soc) * capacity_j / p.soc_restore_time_s;
    double battery_w = load - (smoothed + restore_w);  // what the grid should not see
    if (battery_w > max_w || battery_w < -max_w) {
      battery_w = battery_w > 0 ? max_w : -max_w;
      ++power_limited;
    }
    if (battery_w > 0) {
      // Discharging: the cells give up battery_w / one_way to deliver battery_w.
      const double can_w = std::max(0.0, soc - p.soc_min) * capacity_j * one_way / step_s;
      if (battery_w > can_w) {
        battery_w = can_w;
        ++energy_limited;
      }
      soc -= battery_w * step_s / one_way / capacity_j;
      out.loss_j += battery_w * step_s * (1.0 / one_way - 1.0);
    } else if (battery_w < 0) {
      // Charging: of -battery_w taken from the grid, one_way of it reaches the cells.
      const double can_w = std::max(0.0, p.soc_max - soc) * capacity_j / (one_way * step_s);
      if (-battery_w > can_w) {
        battery_w = -can_w;
        ++energy_limited;
      }
      soc += -battery_w * step_s * one_way / capacity_j;
      out.loss_j += -battery_w * step_s * (1.0 - one_way);
    }
    out.net_discharge_j += battery_w * step_s;
    out.grid_w[k] = load - battery_w;
    out.soc[k] = soc;
    out.soc_min_seen = std::min(out.soc_min_seen, soc);
    out.soc_max_seen = std::max(out.soc_max_seen, soc);
  }
  const double missing_j = (p.soc_initial - soc) * capacity_j;
  out.recharge_j = missing_j > 0 ? missing_j / one_way : missing_j * one_way;
  const auto steps = static_cast<double>(load_w.size());
  out.power_limited_fraction = static_cast<double>(power_limited) / steps;
  out.energy_limited_fraction = static_cast<double>(energy_limited) / steps;
  return out;
}

}  // namespace keel::power
