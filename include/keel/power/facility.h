#pragma once
// IT power to facility power, shared by the simulators and `analyze --facility`: the servers'
// non-GPU power, PSU losses, cooling that follows heat with a first-order lag, fixed overhead.

#include <cstdint>

#include "keel/power/scenario.h"

namespace keel::power {

// Non-GPU power of the servers holding `gpus` GPUs (whole servers).
double servers_base_w(const FacilityParams& f, std::int64_t gpus);

class FacilityPower {
 public:
  // `base_w`: the servers' non-GPU power (servers_base_w), added to every step's GPU power.
  FacilityPower(const FacilityParams& f, double step_s, double base_w);
  struct Power {
    double ac_w = 0;        // IT power at the AC side of the PSUs
    double facility_w = 0;  // + cooling + fixed overhead
  };
  // One step; the first call starts the cooling in thermal steady state.
  Power step(double gpu_w);

 private:
  FacilityParams f_;
  double base_w_ = 0, a_cool_ = 1, cooling_ = 0;
  bool first_ = true;
};

}  // namespace keel::power
