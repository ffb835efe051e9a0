// docs/paper.md's claims on the shipped examples (examples/power/paper_*.toml): the paper's
// example spec is failed by GPU smoothing alone at every floor the GB200 allows, and met by
// smoothing plus rack storage; a 90 % software floor on the DGX-H100-like job costs energy and
// rack batteries hold a narrow state-of-charge band.
#include <gtest/gtest.h>

#include "../support/source_paths.h"
#include "keel/power/analysis.h"
#include "keel/power/scenario.h"
#include "keel/power/sim.h"
#include "keel/power/spec.h"

using namespace keel;

namespace {
using keel::testing::kPowerExamples;

power::RunReport judge(const power::Scenario& sc, const power::Spec& spec) {
  const auto run = power::simulate(sc);
  const auto base = power::simulate(power::without_mitigations(sc));
  return power::make_report("x", run, base, spec, sc.sim.step_ms);
}

bool passes(const power::RunReport& r) {
  for (const auto& c : r.clauses)
    if (!c.pass) return false;
  return !r.clauses.empty();
}

}  // namespace

TEST(Paper, SmoothingAloneFailsTheExampleSpecAtEveryAllowedFloorAndStorageCompletesIt) {
  const auto spec = power::load_spec(kPowerExamples + "paper_example_spec.toml");
  auto sc = power::load_scenario(kPowerExamples + "paper_gb200_100mw.toml");
  EXPECT_FALSE(passes(judge(sc, spec)));  // unmitigated
  sc.smoothing.enabled = true;
  for (double floor : {0.0, 65.0, 90.0})
    for (double ramp : {60.0, 6000.0}) {
      sc.smoothing.percent_tmp_floor = floor;
      sc.smoothing.ramp_up_rate_w_per_s = sc.smoothing.ramp_down_rate_w_per_s = ramp;
      EXPECT_FALSE(passes(judge(sc, spec))) << "floor " << floor << " %, ramps " << ramp << " W/s";
    }
  sc.smoothing.percent_tmp_floor = 90;
  sc.smoothing.ramp_up_rate_w_per_s = sc.smoothing.ramp_down_rate_w_per_s = 60;
  sc.storage.enabled = true;
  const auto both = judge(sc, spec);
  EXPECT_TRUE(passes(both));
  EXPECT_GT(both.costs.energy_overhead_pct, 5);  // the floor's energy is not free
}

TEST(Paper, TheDgxH100FloorCostsEnergyAndRackBatteriesStayInANarrowBand) {
  const auto spec = power::load_spec(kPowerExamples + "paper_example_spec.toml");
  auto sc = power::load_scenario(kPowerExamples + "paper_dgx_h100.toml");
  sc.software.enabled = true;
  const auto floor = judge(sc, spec);
  EXPECT_GT(floor.costs.energy_overhead_pct, 3);
  EXPECT_LT(floor.costs.energy_overhead_pct, 15);
  sc.software.enabled = false;
  sc.storage.enabled = true;
  const auto racks = judge(sc, spec);
  ASSERT_TRUE(racks.has_storage);
  EXPECT_LT(racks.soc_max - racks.soc_min, 0.08);  // the paper's Fig. 7: a ~4-point band
  EXPECT_GT(racks.soc_max - racks.soc_min, 0.005);  // and the batteries do work
}
