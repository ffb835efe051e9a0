#include "keel/power/facility.h"

#include <cmath>

namespace keel::power {

double servers_base_w(const FacilityParams& f, std::int64_t gpus) {
  const auto servers = (gpus + f.gpus_per_server - 1) / f.gpus_per_server;
  return static_cast<double>(servers) * f.server_base_w;
}

FacilityPower::FacilityPower(const FacilityParams& f, double step_s, double base_w)
    : f_(f),
      base_w_(base_w),
      a_cool_(f.cooling_time_constant_s > 0 ? 1.0 - std::exp(-step_s / f.cooling_time_constant_s)
                                            : 1.0) {}

FacilityPower::Power FacilityPower::step(double gpu_w) {
  const double ac = (gpu_w + base_w_) / f_.psu_efficiency;
  const double heat = ac * f_.cooling_overhead_fraction;
  if (first_) cooling_ = heat;
  first_ = false;
  cooling_ += (heat - cooling_) * a_cool_;
  return {ac, ac + cooling_ + f_.fixed_overhead_mw * 1e6};
}

}  // namespace keel::power
