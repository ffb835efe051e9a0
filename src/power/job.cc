#include "keel/power/job.h"

#include <cmath>
#include <limits>
#include <map>

#include "keel/power/replay.h"

namespace keel::power {

namespace {
constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max() / 4;

std::int64_t to_steps(double ms, double step_ms) {
  return static_cast<std::int64_t>(std::llround(ms / step_ms));
}

// Independent streams per job and purpose, so a job's draws do not depend on other jobs.
std::uint64_t stream_seed(std::uint64_t seed, std::size_t job, std::uint64_t purpose) {
  std::seed_seq seq{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(job), static_cast<std::uint32_t>(purpose)};
  std::uint32_t out[2];
  seq.generate(out, out + 2);
  return (std::uint64_t{out[0]} << 32) | out[1];
}
}  // namespace

JobLayout build_layout(const JobParams& job, double step_ms, std::uint64_t seed,
                       std::size_t job_index, bool per_gpu) {
  if (job.replay) {
    JobLayout out;
    const std::int64_t ranks = job.replay->ranks;
    for (std::int64_t r = 0; r < std::min(ranks, job.gpus); ++r)
      out.cohorts.push_back({0, 1.0, job.gpus / ranks + (r < job.gpus % ranks ? 1 : 0), static_cast<int>(r)});
    if (per_gpu)
      for (std::int64_t g = 0; g < job.gpus; ++g) out.gpu_cohort.push_back(static_cast<std::int32_t>(g % ranks));
    return out;
  }
  std::mt19937_64 rng(stream_seed(seed, job_index, 1));
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const double slow = 1.0 + job.straggler_slowdown_pct / 100.0;
  std::map<std::pair<std::int64_t, int>, std::int64_t> counts;
  std::vector<std::pair<std::int64_t, int>> keys;
  if (per_gpu) keys.reserve(static_cast<std::size_t>(job.gpus));
  for (std::int64_t g = 0; g < job.gpus; ++g) {
    std::int64_t off = job.offset_std_ms > 0
                           ? to_steps(std::abs(normal(rng)) * job.offset_std_ms, step_ms)
                           : 0;
    int straggler = job.straggler_fraction > 0 && uniform(rng) < job.straggler_fraction ? 1 : 0;
    ++counts[{off, straggler}];
    if (per_gpu) keys.emplace_back(off, straggler);
  }
  JobLayout out;
  std::map<std::pair<std::int64_t, int>, std::int32_t> index;
  for (auto& [key, n] : counts) {
    index[key] = static_cast<std::int32_t>(out.cohorts.size());
    out.cohorts.push_back({key.first, key.second ? slow : 1.0, n});
  }
  if (per_gpu) {
    out.gpu_cohort.reserve(keys.size());
    for (auto& key : keys) out.gpu_cohort.push_back(index[key]);
  }
  return out;
}

JobRunner::JobRunner(const Scenario& sc, std::size_t job_index, const GpuModel& model,
                     std::vector<Cohort> units)
    : m_(model),
      gpu_(sc.gpu_of(job_index)),
      units_(std::move(units)),
      state_(units_.size(), GpuState(sc.gpu_of(job_index).idle_w)),
      work_left_ms_(units_.size(), 0.0),
      low_since_(units_.size(), 0),
      rng_(stream_seed(sc.sim.seed, job_index, 2)) {
  const JobParams& j = sc.jobs.at(job_index);
  replay_ = j.replay.get();
  replay_repeat_ = j.timeline_repeat;
  cursor_.assign(units_.size(), 0);
  for (const auto& u : units_) total_gpus_ += static_cast<double>(u.gpus);
  const double dt = sc.sim.step_ms;
  const SoftwareParams& sw = sc.software;
  const bool software = sw.enabled;
  k_start_ = to_steps(j.start_s * 1000.0, dt);
  ramp_up_steps_ = software ? to_steps(sw.start_ramp_s * 1000.0, dt) : 0;
  ramp_down_steps_ = software ? to_steps(sw.stop_ramp_s * 1000.0, dt) : 0;
  const StorageParams& st = sc.storage;
  if (st.enabled && st.level == StorageLevel::psu) {
    cap_steps_ = to_steps(st.start_ramp_s * 1000.0, dt);
    // One ramp down at a stop: the longer of the software ramp and the power burn, its energy
    // the owner's.
    const std::int64_t burn = to_steps(st.stop_burn_s * 1000.0, dt);
    if (burn > ramp_down_steps_) {
      ramp_down_steps_ = burn;
      stop_is_burn_ = true;
    }
  }
  k_ramp_begin_ = std::max<std::int64_t>(0, k_start_ - ramp_up_steps_);
  k_stop_ = j.stop_s ? to_steps(*j.stop_s * 1000.0, dt) : kNever;
  k_fail_ = j.fail_s ? to_steps(*j.fail_s * 1000.0, dt) : kNever;
  sw_floor_w_ = software ? sw.floor_fraction_of_tdp * gpu_.tdp_w : 0.0;
  // The filler stretches the communication phase only where it runs: a floor above the
  // communication power, reached before the phase ends (else no slowdown is charged).
  const bool filler_runs = sw_floor_w_ > gpu_.comm_w && sw.startup_delay_ms < j.comm_ms;
  double comm_ms = j.comm_ms * (filler_runs ? 1.0 + sw.comm_slowdown_pct / 100.0 : 1.0);
  comm_steps_ = to_steps(comm_ms, dt);
  ckpt_steps_ = to_steps(j.checkpoint_ms, dt);
  ckpt_every_ = j.checkpoint_every_iters;
  delay_steps_ = to_steps(sw.startup_delay_ms, dt);
  compute_ms_ = j.compute_ms;
  jitter_ = j.jitter_pct / 100.0;
  ramp_level_w_ = j.mean_iteration_power_w(gpu_);
  step_s_ = dt / 1000.0;
  stats_.name = j.name;
}

void JobRunner::begin_iteration(std::int64_t k) {
  phase_ = Phase::compute;
  iter_start_ = k;
  double c = compute_ms_ * std::max(0.05, 1.0 + jitter_ * normal_(rng_));
  for (std::size_t u = 0; u < units_.size(); ++u) work_left_ms_[u] = c * units_[u].speed;
  remaining_ = static_cast<std::int64_t>(units_.size());
}

void JobRunner::begin_job(std::int64_t k) {
  std::fill(low_since_.begin(), low_since_.end(), k);
  if (!replay_) return begin_iteration(k);
  phase_ = Phase::replay;
  iter_start_ = k;
  std::fill(cursor_.begin(), cursor_.end(), 0);
  replay_last_t_ = 0;
}

// Whether unit u's rank computes at t_s seconds into the timeline; cursors only move forward
// (time is monotone between wraps), so a step costs O(1) amortized.
bool JobRunner::replay_computing(std::size_t u, double t_s) {
  const auto& iv = replay_->compute_s[static_cast<std::size_t>(units_[u].rank)];
  std::size_t& c = cursor_[u];
  while (c < iv.size() && iv[c].second <= t_s) ++c;
  return c < iv.size() && iv[c].first <= t_s;
}

void JobRunner::transition(std::int64_t k) {
  bool running = phase_ == Phase::compute || phase_ == Phase::comm || phase_ == Phase::checkpoint ||
                 phase_ == Phase::replay || phase_ == Phase::start_ramp;
  if (phase_ == Phase::replay && !replay_repeat_ &&
      static_cast<double>(k - iter_start_) * step_s_ >= replay_->period_s && k < k_stop_)
    k_stop_ = k;  // a timeline played once ends the job like a planned stop
  if (running && k >= k_fail_) {
    phase_ = Phase::off;
    failed_ = true;
    return;
  }
  if ((running || phase_ == Phase::before) && k >= k_stop_) {
    stop_begin_ = k;
    stop_from_w_ = phase_ == Phase::before ? gpu_.idle_w : ramp_level_w_;
    phase_ = ramp_down_steps_ > 0 ? Phase::stop_ramp : Phase::off;
    return;
  }
  switch (phase_) {
    case Phase::before:
      if (k >= k_start_) begin_job(k);
      else if (k >= k_ramp_begin_) phase_ = Phase::start_ramp;
      break;
    case Phase::start_ramp:
      if (k >= k_start_) begin_job(k);
      break;
    case Phase::comm:
      if (k >= phase_end_) {
        ++stats_.iterations;
        stats_.iteration_steps += k - iter_start_;
        if (ckpt_every_ > 0 && stats_.iterations % ckpt_every_ == 0 && ckpt_steps_ > 0) {
          phase_ = Phase::checkpoint;
          phase_end_ = k + ckpt_steps_;
        } else {
          begin_iteration(k);
        }
      }
      break;
    case Phase::checkpoint:
      if (k >= phase_end_) begin_iteration(k);
      break;
    case Phase::stop_ramp:
      if (k >= stop_begin_ + ramp_down_steps_) phase_ = Phase::off;
      break;
    case Phase::compute:
    case Phase::replay:
    case Phase::off:
      break;
  }
}

double JobRunner::step(std::int64_t k) {
  transition(k);
  // The smoothing profile is switched on when the job starts (the software start ramp runs
  // before it) and stays on after a planned stop, so the hardware ramps power down; a failure
  // takes the GPUs down at once. The floor only holds while the job iterates.
  const bool smooth = !failed_ && phase_ != Phase::before && phase_ != Phase::start_ramp;
  const GpuModel& profile = !relaxed_ || profile_ == Profile::full ? m_
                            : profile_ == Profile::ramps         ? *ramps_
                                                                 : *relaxed_;
  if (relaxed_ && smooth) {
    stats_.full_profile_steps += profile_ == Profile::full;
    stats_.ramps_profile_steps += profile_ == Profile::ramps;
  }
  double common = gpu_.idle_w;  // target of every unit outside the iteration phases
  if (phase_ == Phase::start_ramp) {
    double f = static_cast<double>(k - k_ramp_begin_ + 1) / static_cast<double>(ramp_up_steps_);
    common = gpu_.idle_w + (ramp_level_w_ - gpu_.idle_w) * std::min(1.0, f);
  } else if (phase_ == Phase::stop_ramp) {
    double f = static_cast<double>(k - stop_begin_ + 1) / static_cast<double>(ramp_down_steps_);
    common = stop_from_w_ + (gpu_.idle_w - stop_from_w_) * std::min(1.0, f);
  }
  const bool iterating = phase_ == Phase::compute || phase_ == Phase::comm ||
                         phase_ == Phase::checkpoint || phase_ == Phase::replay;
  double t_replay = 0;
  if (phase_ == Phase::replay) {
    t_replay = static_cast<double>(k - iter_start_) * step_s_;
    if (replay_repeat_) t_replay = std::fmod(t_replay, replay_->period_s);
    if (t_replay < replay_last_t_) std::fill(cursor_.begin(), cursor_.end(), 0);  // wrapped
    replay_last_t_ = t_replay;
  }
  const bool floor = smooth && iterating;
  // The software start/stop ramps draw above idle where the job would otherwise idle: that
  // energy is the software mitigation's.
  double sw_extra = phase_ == Phase::start_ramp || phase_ == Phase::stop_ramp
                        ? total_gpus_ * std::max(0.0, common - gpu_.idle_w)
                        : 0.0;
  if (phase_ == Phase::stop_ramp && stop_is_burn_) {
    burn_j_ += sw_extra * step_s_;
    sw_extra = 0;
  }
  // The psu power-cap ramp: from the job's start the cap rises from idle to TDP; a unit computing
  // under it progresses at cap / compute power.
  double cap = std::numeric_limits<double>::infinity();
  if (cap_steps_ > 0 && k >= k_start_ && k < k_start_ + cap_steps_)
    cap = gpu_.idle_w + (gpu_.tdp_w - gpu_.idle_w) * static_cast<double>(k - k_start_ + 1) /
                            static_cast<double>(cap_steps_);
  const double low_w = phase_ == Phase::checkpoint ? gpu_.checkpoint_w : gpu_.comm_w;
  double total = 0, smooth_extra = 0, throttled = 0, above = 0;
  for (std::size_t u = 0; u < units_.size(); ++u) {
    const double w = static_cast<double>(units_[u].gpus);
    bool computing = phase_ == Phase::replay
                         ? replay_computing(u, t_replay)
                         : phase_ == Phase::compute && k >= iter_start_ + units_[u].offset_steps &&
                               work_left_ms_[u] > 0;
    double target = common;
    if (iterating) {
      target = computing ? gpu_.compute_w : low_w;
      // The secondary workload fills low phases once its start-up delay has passed.
      if (!computing && sw_floor_w_ > target && k - low_since_[u] >= delay_steps_) {
        sw_extra += w * (sw_floor_w_ - target);
        target = sw_floor_w_;
      }
    }
    double capped = 1.0;
    if (target > cap) {
      if (computing) capped = cap / target;
      target = cap;
    }
    GpuState& s = state_[u];
    double throttle = s.step(profile, target, smooth, floor) * capped;
    total += w * s.p_out;
    if (s.p_out > gpu_.tdp_w) above += w * (s.p_out - gpu_.tdp_w);
    if (s.p_out > s.p_nat) smooth_extra += w * (s.p_out - s.p_nat);
    if (computing && phase_ == Phase::replay) {
      // Measured phases cannot stretch: throttling is counted as lost compute time instead.
      throttled += w * m_.step_ms * (1.0 - throttle);
    } else if (computing) {
      work_left_ms_[u] -= m_.step_ms * throttle;
      throttled += w * m_.step_ms * (1.0 - throttle);
      if (work_left_ms_[u] <= 1e-9) {
        work_left_ms_[u] = 0;
        low_since_[u] = k + 1;
        --remaining_;
      }
    }
  }
  if (phase_ == Phase::compute && remaining_ == 0) {
    phase_ = Phase::comm;
    phase_end_ = k + 1 + comm_steps_;
  }
  above_tdp_w_ = above;
  software_j_ += sw_extra * step_s_;
  smoothing_j_ += smooth_extra * step_s_;
  if (total_gpus_ > 0) stats_.throttled_compute_ms += throttled / total_gpus_;
  if (phase_ == Phase::replay) {
    // Replayed iterations: elapsed time plus the compute time throttling would have added.
    double elapsed_s = static_cast<double>(k + 1 - iter_start_) * step_s_;
    stats_.iterations = static_cast<std::int64_t>(elapsed_s / replay_->mean_iteration_s);
    stats_.iteration_steps =
        static_cast<std::int64_t>(std::llround(elapsed_s / step_s_ + stats_.throttled_compute_ms / m_.step_ms));
  }
  return total;
}

}  // namespace keel::power
