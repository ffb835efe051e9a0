#include "keel/power/storage.h"

#include <algorithm>
#include <cmath>

namespace keel::power {

StorageResult apply_storage(const std::vector<double>& load_w, double dt, const StorageParams& p,
                            double units) {
  StorageResult r;
  const std::size_t n = load_w.size();
  r.grid_w.resize(n);
  r.soc.resize(n);
  if (n == 0) return r;
  const double cap_j = p.energy_kwh * 3.6e6 * units;
  const double pmax = p.power_kw * 1e3 * units;
  const double eta = std::sqrt(p.round_trip_efficiency);  // same loss charging and discharging
  const double a = 1.0 - std::exp(-dt / p.filter_time_constant_s);
  double e = p.soc_initial * cap_j;
  const double e_lo = p.soc_min * cap_j, e_hi = p.soc_max * cap_j, e_ref = p.soc_initial * cap_j;
  double filt = load_w[0];
  std::size_t power_limited = 0, energy_limited = 0;
  r.soc_min_seen = r.soc_max_seen = p.soc_initial;
  for (std::size_t k = 0; k < n; ++k) {
    const double load = load_w[k];
    filt += (load - filt) * a;
    double grid_target = filt + (e_ref - e) / p.soc_restore_time_s;
    double b = load - grid_target;  // > 0 discharge, < 0 charge
    if (std::abs(b) > pmax) {
      b = std::copysign(pmax, b);
      ++power_limited;
    }
    if (b > 0) {
      double avail = std::max(0.0, e - e_lo) * eta / dt;
      if (b > avail) b = avail, ++energy_limited;
      e -= b * dt / eta;
      r.loss_j += b * dt * (1.0 / eta - 1.0);
    } else if (b < 0) {
      double room = std::max(0.0, e_hi - e) / (eta * dt);
      if (-b > room) b = -room, ++energy_limited;
      e += -b * dt * eta;
      r.loss_j += -b * dt * (1.0 - eta);
    }
    r.net_discharge_j += b * dt;
    r.grid_w[k] = load - b;
    double soc = e / cap_j;
    r.soc[k] = soc;
    r.soc_min_seen = std::min(r.soc_min_seen, soc);
    r.soc_max_seen = std::max(r.soc_max_seen, soc);
  }
  double deficit = e_ref - e;  // stored energy missing at the end
  r.recharge_j = deficit > 0 ? deficit / eta : deficit * eta;
  r.power_limited_fraction = static_cast<double>(power_limited) / static_cast<double>(n);
  r.energy_limited_fraction = static_cast<double>(energy_limited) / static_cast<double>(n);
  return r;
}

}  // namespace keel::power
