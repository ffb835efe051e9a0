#pragma once
// The simulators' side of coordinated control (keel/power/coordination.h): internal to sim.cc.

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "keel/power/coordination.h"
#include "keel/power/gpu.h"
#include "keel/power/job.h"

namespace keel::power {

// Coordinated control (coordination.h): one controller per job, fed each step the lowest and
// highest SoC and the largest charging and discharging power shares among the batteries its racks
// see (the facility's for all at facility level); and per job the GPU models of the relaxed and
// ramps-only profiles.
class Coordinator {
 public:
  Coordinator(const Scenario& sc, const std::vector<std::unique_ptr<JobRunner>>& runners)
      : runners_(runners),
        lo_(runners.size()),
        hi_(runners.size()),
        charge_(runners.size()),
        discharge_(runners.size()) {
    if (!sc.coordinating()) return;
    const CoordinationParams& c = sc.coordinated;
    SmoothingParams relaxed = sc.smoothing;
    relaxed.percent_tmp_floor = c.relaxed_floor_pct;
    relaxed.ramp_up_rate_w_per_s = c.relaxed_ramp_up_rate_w_per_s;
    relaxed.ramp_down_rate_w_per_s = c.relaxed_ramp_down_rate_w_per_s;
    relaxed.ramp_down_hysteresis_ms = c.relaxed_ramp_down_hysteresis_ms;
    SmoothingParams ramps = relaxed;  // the relaxed profile with the full one's ramp-up limit
    ramps.ramp_up_rate_w_per_s = sc.smoothing.ramp_up_rate_w_per_s;
    for (std::size_t j = 0; j < runners.size(); ++j) {
      models_.push_back(std::make_unique<GpuModel>(sc.gpu_of(j), relaxed, sc.sim.step_ms));
      models_.push_back(std::make_unique<GpuModel>(sc.gpu_of(j), ramps, sc.sim.step_ms));
      runners[j]->coordinate(*models_[2 * j], *models_[2 * j + 1]);
      profiles_.emplace_back(c, sc.storage);
      const double soc0 = sc.storage.soc_initial;
      runners[j]->set_profile(profiles_[j].update(soc0, soc0, 0.0, 0.0));
    }
  }
  bool active() const { return !profiles_.empty(); }
  // Without coordination these return at once (the simulators call them every step).
  void begin() {
    if (profiles_.empty()) return;
    std::fill(lo_.begin(), lo_.end(), 2.0);
    std::fill(hi_.begin(), hi_.end(), -1.0);
    std::fill(charge_.begin(), charge_.end(), 0.0);
    std::fill(discharge_.begin(), discharge_.end(), 0.0);
  }
  // A battery of `job` after this step: its SoC and the power it delivered (W; < 0 charging)
  // of its rating.
  void see(std::size_t job, double soc, double battery_w, double rating_w) {
    if (profiles_.empty()) return;
    lo_[job] = std::min(lo_[job], soc);
    hi_[job] = std::max(hi_[job], soc);
    auto& side = battery_w < 0 ? charge_ : discharge_;
    side[job] = std::max(side[job], std::abs(battery_w) / rating_w);
  }
  void see_all(double soc, double battery_w, double rating_w) {
    if (profiles_.empty()) return;
    for (std::size_t j = 0; j < lo_.size(); ++j) see(j, soc, battery_w, rating_w);
  }
  // After a step: each job's profile for the next one.
  void decide() {
    for (std::size_t j = 0; j < profiles_.size(); ++j)
      runners_[j]->set_profile(profiles_[j].update(lo_[j], hi_[j], charge_[j], discharge_[j]));
  }

 private:
  const std::vector<std::unique_ptr<JobRunner>>& runners_;
  std::vector<std::unique_ptr<GpuModel>> models_;  // per job: relaxed, ramps-only
  std::vector<CoordinatedProfile> profiles_;
  std::vector<double> lo_, hi_, charge_, discharge_;
};

}  // namespace keel::power
