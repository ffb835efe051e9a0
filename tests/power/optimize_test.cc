#include "keel/power/optimize.h"

#include <gtest/gtest.h>

#include "keel/core/error.h"

using namespace keel::power;

namespace {
const std::string kExamples = std::string(KEEL_SOURCE_DIR) + "/examples/power/";

OptimizeResult run(int threads, std::uint64_t seed, int budget, double duration_s = 0) {
  OptimizeOptions o;
  o.budget = budget;
  o.threads = threads;
  o.seed = seed;
  Scenario sc = load_scenario(kExamples + "default.toml");
  if (duration_s > 0) sc.sim.duration_s = duration_s;
  return optimize(sc, load_spec(kExamples + "illustrative_spec.toml"), o);
}

// One search on the shipped example, shared by the tests that inspect it.
const OptimizeResult& shipped() {
  static const OptimizeResult r = run(2, 1, 24);
  return r;
}
}  // namespace

TEST(Optimize, FindsACompliantMixOnTheShippedExample) {
  const auto& r = shipped();
  ASSERT_EQ(r.explored.size(), 24u);
  ASSERT_GE(r.best, 0);
  const Candidate& best = r.explored[static_cast<std::size_t>(r.best)];
  EXPECT_TRUE(best.pass);
  EXPECT_TRUE(all_pass(best.report.clauses));
  // The shipped settings: each mitigation alone fails the spec; the cheapest compliant is a mix.
  int own_singles = 0;
  for (const auto& c : r.explored) {
    if (c.from_scenario && c.mix.find('+') == std::string::npos) {
      ++own_singles;
      EXPECT_FALSE(c.pass) << c.mix;
    }
    if (c.pass) {
      EXPECT_GE(c.cost, best.cost);
    }
  }
  EXPECT_EQ(own_singles, 3);
  EXPECT_NE(best.mix.find('+'), std::string::npos) << best.mix;
}

TEST(Optimize, ParetoFrontIsCompliantAndNonDominated) {
  const auto& r = shipped();
  ASSERT_FALSE(r.pareto.empty());
  for (int i : r.pareto) {
    const Candidate& c = r.explored[static_cast<std::size_t>(i)];
    EXPECT_TRUE(c.pass);
    for (const auto& d : r.explored) {
      if (!d.pass) continue;
      bool dominates = d.report.costs.energy_overhead_pct < c.report.costs.energy_overhead_pct &&
                       d.report.costs.slowdown_pct < c.report.costs.slowdown_pct &&
                       d.storage_mwh < c.storage_mwh;
      EXPECT_FALSE(dominates);
    }
  }
}

TEST(Optimize, DeterministicPerSeedWhateverTheThreads) {
  // A shorter window keeps this quick; the search is what is under test.
  auto a = run(1, 5, 10, 100), b = run(2, 5, 10, 100);
  ASSERT_EQ(a.explored.size(), b.explored.size());
  for (std::size_t i = 0; i < a.explored.size(); ++i) EXPECT_DOUBLE_EQ(a.explored[i].cost, b.explored[i].cost);
  EXPECT_EQ(a.best, b.best);
  auto c = run(1, 6, 10, 100);
  bool differs = false;
  for (std::size_t i = 0; i < a.explored.size(); ++i) differs |= a.explored[i].cost != c.explored[i].cost;
  EXPECT_TRUE(differs);
}

TEST(Optimize, SpecWithoutLimitsIsRejected) {
  EXPECT_THROW(optimize(load_scenario(kExamples + "default.toml"), Spec{}, OptimizeOptions{}),
               keel::core::InputError);
}
