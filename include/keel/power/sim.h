#pragma once
// The datacenter power simulator: jobs of GPUs -> servers -> racks -> facility -> (storage) -> grid.
//
// simulate() is the fast path: GPUs that behave identically (same launch offset and speed) are
// one cohort, so a step costs O(cohorts), not O(GPUs); total cost O(GPUs + cohorts x steps) time,
// O(steps) memory. simulate_reference() steps every GPU and sums racks the plain way; tests check
// the two agree.

#include <cstdint>
#include <functional>
#include <vector>

#include "keel/power/job.h"
#include "keel/power/scenario.h"
#include "keel/power/storage.h"

namespace keel::power {

struct SimOptions {
  int trace_racks = 0;  // record the AC power of the first N racks
  bool trace_jobs = false;  // record each job's AC power (SimResult::job_w)
  // Called now and then with (steps done, total steps); for progress bars.
  std::function<void(std::int64_t, std::int64_t)> progress;
};

struct SimResult {
  double step_s = 0;
  std::vector<double> facility_w;  // before storage
  std::vector<double> grid_w;      // what the grid sees (== facility_w without storage)
  std::vector<std::vector<double>> rack_w;  // first trace_racks racks, AC side
  std::vector<std::vector<double>> job_w;   // per job (trace_jobs): its racks' AC power
  std::vector<JobStats> jobs;
  std::int64_t cohorts = 0;  // units stepped per time step (GPUs for the reference)
  std::int64_t rack_groups = 0;  // rack batteries run per step (distinct rack loads; all racks
                                 // for the reference)
  double software_energy_j = 0;   // secondary workload + start/stop ramps above demand
  double smoothing_energy_j = 0;  // power burned by smoothing above demand
  double burn_energy_j = 0;       // psu storage's power burn at planned stops, above idle
  // EDP peaks: the most the GPUs drew above their TDP at once (W), and the facility's peak had
  // every GPU been held at its TDP (before storage): peak(facility_w) minus it is what EDP peaks
  // add to the site's peak.
  double gpu_above_tdp_peak_w = 0;
  double tdp_capped_peak_w = 0;
  bool has_storage = false;
  bool coordinated = false;       // coordinated control ran (JobStats: time in each profile)
  StorageResult storage;          // filled when has_storage (grid_w/soc moved out: see soc)
  std::vector<double> soc;

  double duration_s() const { return step_s * static_cast<double>(grid_w.size()); }
  double grid_energy_j() const;
};

SimResult simulate(const Scenario& sc, const SimOptions& opt = {});
SimResult simulate_reference(const Scenario& sc, const SimOptions& opt = {});

}  // namespace keel::power
