#include "keel/power/replay.h"

#include <algorithm>
#include <set>

#include "keel/core/error.h"

namespace keel::power {

Replay make_replay(const std::vector<core::PhaseRecord>& records, const std::string& name) {
  Replay r;
  double origin = records.front().start_s, end = records.front().end_s;
  int max_rank = 0;
  std::set<std::int64_t> iters;
  for (const auto& p : records) {
    origin = std::min(origin, p.start_s);
    end = std::max(end, p.end_s);
    max_rank = std::max(max_rank, p.rank);
    iters.insert(p.iteration);
  }
  r.ranks = max_rank + 1;
  r.compute_s.resize(static_cast<std::size_t>(r.ranks));
  double compute_total = 0;
  for (const auto& p : records) {
    if (p.phase != core::TimelinePhase::compute) continue;
    r.compute_s[static_cast<std::size_t>(p.rank)].push_back({p.start_s - origin, p.end_s - origin});
    compute_total += p.end_s - p.start_s;
  }
  for (int k = 0; k < r.ranks; ++k) {
    auto& iv = r.compute_s[static_cast<std::size_t>(k)];
    if (iv.empty())
      throw core::InputError("rank " + std::to_string(k) + " has no compute phase",
                             core::Location{name, 0, 0, {}}, "ranks must be numbered 0..R-1");
    std::sort(iv.begin(), iv.end());
  }
  r.period_s = end - origin;
  if (r.period_s <= 0) throw core::InputError("timeline spans no time", core::Location{name, 0, 0, {}});
  r.iterations = static_cast<std::int64_t>(iters.size());
  r.mean_iteration_s = r.period_s / static_cast<double>(r.iterations);
  r.mean_compute_s = compute_total / r.ranks / static_cast<double>(r.iterations);
  return r;
}

}  // namespace keel::power
