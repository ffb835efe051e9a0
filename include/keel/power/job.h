#pragma once
// A synchronous training job stepped in time. Each iteration every GPU computes (starting after its
// launch offset, for the iteration's compute time scaled by its speed, slowed when power smoothing
// throttles it), then waits; when the slowest GPU is done, all communicate for comm_ms; every K
// iterations a checkpoint pause follows. Start, planned stop (optionally ramped) and sudden
// failure are events on the job's timeline. The job advances "units": groups of identical GPUs
// with a weight (the fast simulator's cohorts) or single GPUs (the dense reference).

#include <cstdint>
#include <random>
#include <vector>

#include "keel/power/coordination.h"
#include "keel/power/gpu.h"
#include "keel/power/scenario.h"

namespace keel::power {

// GPUs of one job that behave identically: same launch offset and same speed.
struct Cohort {
  std::int64_t offset_steps = 0;
  double speed = 1.0;  // compute-time multiplier (> 1 for stragglers)
  std::int64_t gpus = 0;
  int rank = 0;        // replayed timeline rank (replay jobs only)
};

struct JobLayout {
  std::vector<Cohort> cohorts;          // sorted by (offset, speed)
  std::vector<std::int32_t> gpu_cohort; // cohort of every GPU (filled only when asked)
};

// Draws each GPU's launch offset |N(0, offset_std_ms)| (rounded to steps) and straggler status,
// deterministically from (seed, job_index), and groups equal GPUs. O(gpus) time. For a replayed
// timeline the cohorts are its ranks (GPU g replays rank g mod ranks).
JobLayout build_layout(const JobParams& job, double step_ms, std::uint64_t seed,
                       std::size_t job_index, bool per_gpu);

struct JobStats {
  std::string name;
  std::int64_t iterations = 0;       // completed iterations
  std::int64_t iteration_steps = 0;  // summed duration of completed iterations
  double throttled_compute_ms = 0;   // compute time lost to smoothing throttling, per GPU-mean
  // Coordinated control: steps with the full profile, and with its ramps only (coordination.h).
  std::int64_t full_profile_steps = 0, ramps_profile_steps = 0;
  double mean_iteration_s(double step_ms) const {
    return iterations ? static_cast<double>(iteration_steps) * step_ms / 1000.0 /
                            static_cast<double>(iterations)
                      : 0.0;
  }
};

class JobRunner {
 public:
  JobRunner(const Scenario& sc, std::size_t job_index, const GpuModel& model,
            std::vector<Cohort> units);

  // Advances to step k (called for k = 0, 1, 2, ... in order). Returns the summed GPU power of
  // the job (W) and adds this step's energy of each mitigation to the accumulators.
  double step(std::int64_t k);

  // Coordinated control (coordination.h): the GPU models of the relaxed and the ramps-only
  // profiles (kept by reference); set_profile chooses among them and the full profile before
  // each step.
  void coordinate(const GpuModel& relaxed, const GpuModel& ramps) {
    relaxed_ = &relaxed;
    ramps_ = &ramps;
  }
  void set_profile(Profile p) { profile_ = p; }

  double unit_power(std::size_t u) const { return state_[u].p_out; }
  // The job's GPU power above TDP in the last step (W): its EDP peaks.
  double above_tdp_w() const { return above_tdp_w_; }
  std::size_t units() const { return units_.size(); }
  const JobStats& stats() const { return stats_; }
  double software_energy_j() const { return software_j_; }
  double smoothing_energy_j() const { return smoothing_j_; }
  // psu storage's power burn at a planned stop: the energy drawn above idle (J).
  double burn_energy_j() const { return burn_j_; }

 private:
  enum class Phase { before, start_ramp, compute, comm, checkpoint, replay, stop_ramp, off };
  void begin_iteration(std::int64_t k);
  void begin_job(std::int64_t k);
  void transition(std::int64_t k);
  bool replay_computing(std::size_t u, double t_s);

  const GpuModel& m_;
  const GpuParams gpu_;
  std::vector<Cohort> units_;
  std::vector<GpuState> state_;
  std::vector<double> work_left_ms_;
  std::vector<std::int64_t> low_since_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
  const Replay* replay_ = nullptr;
  bool replay_repeat_ = true;
  std::vector<std::size_t> cursor_;  // per unit: next compute interval of its rank
  double replay_last_t_ = 0;

  Phase phase_ = Phase::before;
  bool failed_ = false;
  std::int64_t k_ramp_begin_, k_start_, k_stop_, k_fail_;
  std::int64_t ramp_up_steps_, ramp_down_steps_, comm_steps_, ckpt_steps_, delay_steps_;
  std::int64_t iter_start_ = 0, phase_end_ = 0, stop_begin_ = 0, remaining_ = 0;
  double compute_ms_, jitter_, ramp_level_w_, sw_floor_w_, stop_from_w_ = 0;
  std::int64_t ckpt_every_;
  double step_s_;
  double total_gpus_ = 0;  // sum of unit weights, for per-GPU means
  double above_tdp_w_ = 0;
  JobStats stats_;
  double software_j_ = 0, smoothing_j_ = 0, burn_j_ = 0;
  // psu storage (scenario.h): the power-cap ramp's length from the job's start, and whether the
  // stop ramp is its power burn rather than the software mitigation's ramp.
  std::int64_t cap_steps_ = 0;
  bool stop_is_burn_ = false;
  Profile profile_ = Profile::full;
  const GpuModel *relaxed_ = nullptr, *ramps_ = nullptr;
};

}  // namespace keel::power
