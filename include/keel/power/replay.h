#pragma once
// A measured compute/communication timeline (core/timeline.h, as `keel mcnn train` records it)
// prepared for replay as a job's workload: per rank, its compute intervals from a common origin.
// When the job has more GPUs than the timeline has ranks, GPU g replays rank g mod ranks.

#include <cstdint>
#include <utility>
#include <vector>

#include "keel/core/timeline.h"

namespace keel::power {

struct Replay {
  int ranks = 0;
  double period_s = 0;  // earliest start to latest end
  std::vector<std::vector<std::pair<double, double>>> compute_s;  // per rank, sorted, from origin
  std::int64_t iterations = 0;       // distinct iteration ids
  double mean_iteration_s = 0;       // period / iterations
  double mean_compute_s = 0;         // per rank and iteration
};

// Throws core::InputError when ranks are missing (ids must be 0..R-1) or no compute is recorded.
Replay make_replay(const std::vector<core::PhaseRecord>& records, const std::string& name);

}  // namespace keel::power
