#pragma once
// Coordinated control's decision for one job (scenario.h, CoordinationParams): hysteresis on the
// state of the batteries the job's racks see. Both simulators step it after each time step with
// the lowest and highest SoC among those batteries and the largest share of its power rating any
// of them charged and discharged; its answer is the job's smoothing profile in the next step.
//
// Which way a battery runs out decides what the GPUs do. One that cannot take more charge (SoC
// near soc_max, or charging at its power limit in a dip) gets the full profile: the floor burns
// what it would have stored. One that cannot give more (SoC near soc_min, or discharging at its
// limit at a compute onset) gets the full profile's ramp limits without its floor: a floor would
// raise the load it must cover, while the slow ramp-up lowers it (compute throttled).

#include "keel/power/scenario.h"

namespace keel::power {

enum class Profile { relaxed, ramps, full };

class CoordinatedProfile {
 public:
  CoordinatedProfile(const CoordinationParams& c, const StorageParams& s)
      : engage_lo_(s.soc_min + c.engage_margin),
        engage_hi_(s.soc_max - c.engage_margin),
        release_lo_(s.soc_min + c.release_margin),
        release_hi_(s.soc_max - c.release_margin),
        engage_power_(c.engage_power_fraction),
        release_power_(c.release_power_fraction) {}

  // `charge` / `discharge`: the largest charging / discharging power of a battery, as a share of
  // its rating. Engages when a battery is within engage_margin of a SoC limit or at
  // engage_power_fraction of its rating; releases once all of them are release_margin inside
  // both SoC limits and below release_power_fraction either way. A full profile stays full until
  // released; the ramps-only one turns full when a battery also runs out of room to charge.
  Profile update(double soc_lowest, double soc_highest, double charge, double discharge) {
    const bool full = soc_highest >= engage_hi_ || charge >= engage_power_;
    const bool ramps = soc_lowest <= engage_lo_ || discharge >= engage_power_;
    if (p_ == Profile::relaxed) {
      p_ = full ? Profile::full : ramps ? Profile::ramps : Profile::relaxed;
    } else if (soc_lowest >= release_lo_ && soc_highest <= release_hi_ && charge < release_power_ &&
               discharge < release_power_) {
      p_ = Profile::relaxed;
    } else if (full) {
      p_ = Profile::full;
    }
    return p_;
  }
  Profile profile() const { return p_; }

 private:
  double engage_lo_, engage_hi_, release_lo_, release_hi_, engage_power_, release_power_;
  Profile p_ = Profile::relaxed;
};

}  // namespace keel::power
