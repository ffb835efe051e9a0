#include "keel/power/storage.h"

#include <algorithm>
#include <cmath>

namespace keel::power {

Battery::Battery(const StorageParams& p, double step_s, double units)
    : p_(p),
      dt_(step_s),
      cap_j_(p.energy_kwh * 3.6e6 * units),
      pmax_(p.power_kw * 1e3 * units),
      eta_(std::sqrt(p.round_trip_efficiency)),  // same loss charging and discharging
      a_(1.0 - std::exp(-step_s / p.filter_time_constant_s)),
      e_(p.soc_initial * cap_j_),
      e_lo_(p.soc_min * cap_j_),
      e_hi_(p.soc_max * cap_j_),
      e_ref_(p.soc_initial * cap_j_),
      soc_lo_(p.soc_initial),
      soc_hi_(p.soc_initial) {}

double Battery::step(double load) {
  if (first_) filt_ = load, first_ = false;
  ++steps_;
  filt_ += (load - filt_) * a_;
  const double grid_target = filt_ + (e_ref_ - e_) / p_.soc_restore_time_s;
  double b = load - grid_target;  // > 0 discharge, < 0 charge
  if (std::abs(b) > pmax_) {
    b = std::copysign(pmax_, b);
    ++power_limited_;
  }
  if (b > 0) {
    const double avail = std::max(0.0, e_ - e_lo_) * eta_ / dt_;
    if (b > avail) b = avail, ++energy_limited_;
    e_ -= b * dt_ / eta_;
    loss_j_ += b * dt_ * (1.0 / eta_ - 1.0);
  } else if (b < 0) {
    const double room = std::max(0.0, e_hi_ - e_) / (eta_ * dt_);
    if (-b > room) b = -room, ++energy_limited_;
    e_ += -b * dt_ * eta_;
    loss_j_ += -b * dt_ * (1.0 - eta_);
  }
  net_j_ += b * dt_;
  const double s = soc();
  soc_lo_ = std::min(soc_lo_, s);
  soc_hi_ = std::max(soc_hi_, s);
  return b;
}

void Battery::add_totals(StorageResult& r, double weight) const {
  const double deficit = e_ref_ - e_;  // stored energy missing at the end
  r.loss_j += weight * loss_j_;
  r.net_discharge_j += weight * net_j_;
  r.recharge_j += weight * (deficit > 0 ? deficit / eta_ : deficit * eta_);
  r.power_limited_fraction += weight * static_cast<double>(power_limited_);
  r.energy_limited_fraction += weight * static_cast<double>(energy_limited_);
  // Callers start the extremes at soc_initial, which every battery's range contains.
  r.soc_min_seen = std::min(r.soc_min_seen, soc_lo_);
  r.soc_max_seen = std::max(r.soc_max_seen, soc_hi_);
}

void finish_totals(StorageResult& r, double battery_steps) {
  if (battery_steps <= 0) return;
  r.power_limited_fraction /= battery_steps;
  r.energy_limited_fraction /= battery_steps;
}

StorageResult apply_storage(const std::vector<double>& load_w, double dt, const StorageParams& p,
                            double units) {
  StorageResult r;
  const std::size_t n = load_w.size();
  r.grid_w.resize(n);
  r.soc.resize(n);
  r.soc_min_seen = r.soc_max_seen = p.soc_initial;
  if (n == 0) return r;
  Battery battery(p, dt, units);
  for (std::size_t k = 0; k < n; ++k) {
    r.grid_w[k] = load_w[k] - battery.step(load_w[k]);
    r.soc[k] = battery.soc();
  }
  battery.add_totals(r, 1.0);
  finish_totals(r, static_cast<double>(n));
  return r;
}

}  // namespace keel::power
