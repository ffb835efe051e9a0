#pragma once
// Energy storage between the load and the grid. The controller lets the grid see a low-pass of the
// load (time constant filter_time_constant_s) plus a slow term that pulls the state of charge back
// to its initial value; the battery covers the difference within its power, energy and SoC limits.
// When a limit binds, the grid sees the rest: saturation shows in the result.

#include <cstddef>
#include <vector>

#include "keel/power/scenario.h"

namespace keel::power {

struct StorageResult {
  std::vector<double> grid_w;  // what the grid sees, per step
  std::vector<double> soc;     // state of charge after each step, 0..1
  double soc_min_seen = 0, soc_max_seen = 0;
  double loss_j = 0;             // conversion losses
  double net_discharge_j = 0;    // energy delivered by the battery over the run (grid side)
  // Grid energy needed to bring the battery back to its initial charge (negative: surplus).
  double recharge_j = 0;
  double power_limited_fraction = 0;  // fraction of steps where |P| hit power_kw
  double energy_limited_fraction = 0; // fraction of steps where a SoC limit bound
};

// One battery and its controller, stepped in time (apply_storage runs one over a series; rack
// storage runs one per rack, or per group of racks that carry identical loads).
class Battery {
 public:
  // `units` multiplies energy_kwh and power_kw.
  Battery(const StorageParams& p, double step_s, double units);
  // Power delivered this step for `load_w` (W; > 0 discharging, < 0 charging): the grid sees
  // load_w minus it.
  double step(double load_w);
  double soc() const { return e_ / cap_j_; }
  double power_rating_w() const { return pmax_; }
  // Adds this battery's totals, counted `weight` times (identical batteries), to `r`: losses,
  // discharge, recharge, SoC extremes, and limited steps (as counts; see finish_totals).
  void add_totals(StorageResult& r, double weight) const;

 private:
  StorageParams p_;
  double dt_, cap_j_, pmax_, eta_, a_, e_, e_lo_, e_hi_, e_ref_, filt_ = 0;
  bool first_ = true;
  double loss_j_ = 0, net_j_ = 0, soc_lo_, soc_hi_;
  std::size_t power_limited_ = 0, energy_limited_ = 0, steps_ = 0;
};
// Turns the limited-step counts add_totals summed into fractions of `battery_steps` (batteries
// x steps).
void finish_totals(StorageResult& r, double battery_steps);

// `load_w`: the power the storage sits in front of. `units` multiplies energy_kwh and power_kw
// (the number of racks at rack level, 1 at facility level).
StorageResult apply_storage(const std::vector<double>& load_w, double step_s,
                            const StorageParams& p, double units);

// The same controller written independently (storage_reference.cc) for the dense reference
// simulator; one battery of exactly `p`'s size, stepped in time. Tests compare it with Battery.
class ReferenceBattery {
 public:
  ReferenceBattery(const StorageParams& p, double step_s);
  double step(double load_w);  // as Battery::step
  double soc() const { return soc_; }
  double power_rating_w() const { return max_w_; }
  // Totals so far (grid_w and soc empty).
  StorageResult result() const;

 private:
  StorageParams p_;
  double step_s_, capacity_j_, max_w_, one_way_, keep_, soc_, smoothed_ = 0;
  std::size_t steps_ = 0, power_limited_ = 0, energy_limited_ = 0;
  StorageResult out_;
};

// ReferenceBattery over a whole series.
StorageResult apply_storage_reference(const std::vector<double>& load_w, double step_s,
                                      const StorageParams& p);

}  // namespace keel::power
