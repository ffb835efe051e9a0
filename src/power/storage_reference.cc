// The reference battery: the controller documented in storage.h and docs/power.md written a
// second time, plainly, for the dense reference simulator. It keeps the state of charge as a
// fraction of capacity (the fast Battery keeps joules) and the filter as an explicit
// exponential average, so a slip in either shows up as a fast-vs-reference difference.
#include <algorithm>
#include <cmath>

#include "keel/power/storage.h"

namespace keel::power {

ReferenceBattery::ReferenceBattery(const StorageParams& p, double step_s)
    : p_(p),
      step_s_(step_s),
      capacity_j_(p.energy_kwh * 1000.0 * 3600.0),
      max_w_(p.power_kw * 1000.0),
      one_way_(std::sqrt(p.round_trip_efficiency)),
      keep_(std::exp(-step_s / p.filter_time_constant_s)),  // filter memory per step
      soc_(p.soc_initial) {
  out_.soc_min_seen = out_.soc_max_seen = p.soc_initial;
}

double ReferenceBattery::step(double load) {
  if (steps_ == 0) smoothed_ = load;
  ++steps_;
  smoothed_ = load - keep_ * (load - smoothed_);  // = smoothed + (1 - keep)(load - smoothed)
  const double restore_w = (p_.soc_initial - soc_) * capacity_j_ / p_.soc_restore_time_s;
  double battery_w = load - (smoothed_ + restore_w);  // what the grid should not see
  if (battery_w > max_w_ || battery_w < -max_w_) {
    battery_w = battery_w > 0 ? max_w_ : -max_w_;
    ++power_limited_;
  }
  if (battery_w > 0) {
    // Discharging: the cells give up battery_w / one_way to deliver battery_w.
    const double can_w = std::max(0.0, soc_ - p_.soc_min) * capacity_j_ * one_way_ / step_s_;
    if (battery_w > can_w) {
      battery_w = can_w;
      ++energy_limited_;
    }
    soc_ -= battery_w * step_s_ / one_way_ / capacity_j_;
    out_.loss_j += battery_w * step_s_ * (1.0 / one_way_ - 1.0);
  } else if (battery_w < 0) {
    // Charging: of -battery_w taken from the grid, one_way of it reaches the cells.
    const double can_w = std::max(0.0, p_.soc_max - soc_) * capacity_j_ / (one_way_ * step_s_);
    if (-battery_w > can_w) {
      battery_w = -can_w;
      ++energy_limited_;
    }
    soc_ += -battery_w * step_s_ * one_way_ / capacity_j_;
    out_.loss_j += -battery_w * step_s_ * (1.0 - one_way_);
  }
  out_.net_discharge_j += battery_w * step_s_;
  out_.soc_min_seen = std::min(out_.soc_min_seen, soc_);
  out_.soc_max_seen = std::max(out_.soc_max_seen, soc_);
  return battery_w;
}

StorageResult ReferenceBattery::result() const {
  StorageResult r = out_;
  const double missing_j = (p_.soc_initial - soc_) * capacity_j_;
  r.recharge_j = missing_j > 0 ? missing_j / one_way_ : missing_j * one_way_;
  if (steps_ > 0) {
    r.power_limited_fraction = static_cast<double>(power_limited_) / static_cast<double>(steps_);
    r.energy_limited_fraction = static_cast<double>(energy_limited_) / static_cast<double>(steps_);
  }
  return r;
}

StorageResult apply_storage_reference(const std::vector<double>& load_w, double step_s,
                                      const StorageParams& p) {
  ReferenceBattery battery(p, step_s);
  std::vector<double> grid(load_w.size()), soc(load_w.size());
  for (std::size_t k = 0; k < load_w.size(); ++k) {
    grid[k] = load_w[k] - battery.step(load_w[k]);
    soc[k] = battery.soc();
  }
  StorageResult out = battery.result();
  out.grid_w = std::move(grid);
  out.soc = std::move(soc);
  return out;
}

}  // namespace keel::power
