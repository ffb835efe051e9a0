#pragma once
// `keel power sweep`: a scenario evaluated over a grid of parameter values — every combination of
// the values listed per key in a sweep file — one result row per point. Points are independent,
// so ranks of an MPI run split them (apps/keel) and the rows come out the same.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "keel/core/config.h"
#include "keel/power/analysis.h"
#include "keel/power/scenario.h"
#include "keel/power/sim.h"
#include "keel/power/spec.h"

namespace keel::power {

struct SweepAxis {
  std::string key;                  // dotted scenario key, e.g. "mitigation.smoothing.percent_tmp_floor"
  std::vector<std::string> values;  // TOML literals
  core::Location where;             // the key in the sweep file
};

struct SweepGrid {
  std::vector<SweepAxis> axes;
  std::size_t points() const;
  // The value index on each axis of point i (the last axis varies fastest).
  std::vector<std::size_t> coordinates(std::size_t i) const;
};

// The [sweep] table of `file`: one array of values per scenario key. Throws core::InputError
// (file:line, key) for an empty table, a non-array value, or over 100 000 points.
SweepGrid load_sweep(const std::filesystem::path& file);

class Sweep {
 public:
  // Checks every value of every axis against the scenario parser first: a key the scenario does
  // not have, or a value it refuses, is one error naming the sweep file's line and key.
  Sweep(const std::filesystem::path& scenario_file, SweepGrid grid, Spec spec);

  const SweepGrid& grid() const { return grid_; }
  Scenario scenario(std::size_t point) const;
  // The CSV header and the row of one point (simulated with its unmitigated baseline, judged
  // against the spec). Rows depend only on the point: any split over ranks gives the same rows.
  std::string header() const;
  std::string row(std::size_t point) const;

 private:
  core::ConfigDoc base_;
  SweepGrid grid_;
  Spec spec_;
  // Unmitigated baselines already simulated: points that differ only in mitigation keys share
  // one (the last few kept).
  mutable std::vector<std::pair<Scenario, SimResult>> baselines_;
};

}  // namespace keel::power
