// Parameter sweeps over a scenario (sweep.h).
#include "keel/power/sweep.h"

#include <fmt/format.h>

#include <algorithm>

#include "keel/core/error.h"
#include "keel/power/sim.h"

namespace keel::power {

std::size_t SweepGrid::points() const {
  std::size_t n = axes.empty() ? 0 : 1;
  for (const auto& a : axes) n *= a.values.size();
  return n;
}

std::vector<std::size_t> SweepGrid::coordinates(std::size_t i) const {
  std::vector<std::size_t> c(axes.size());
  for (std::size_t a = axes.size(); a-- > 0;) {
    c[a] = i % axes[a].values.size();
    i /= axes[a].values.size();
  }
  return c;
}

SweepGrid load_sweep(const std::filesystem::path& file) {
  const auto doc = core::ConfigDoc::load_file(file);
  SweepGrid g;
  const auto root = doc.root();
  const auto table = root.table("sweep");
  if (!table)
    root.fail("sweep", "no [sweep] table",
              "list the values per scenario key: [sweep] \"job[0].gpus\" = [8192, 16384]");
  std::size_t points = 1;
  for (const auto& key : table->keys()) {
    SweepAxis axis{key, table->scalar_literals(key), table->location_of(key)};
    points *= axis.values.size();
    table->check(points <= 100000, key, "the sweep grows past 100 000 points",
                 "sweep fewer values or split the sweep");
    g.axes.push_back(std::move(axis));
  }
  if (g.axes.empty())
    root.fail("sweep", "the [sweep] table is empty", "list at least one key with its values");
  doc.reject_unknown_keys();
  return g;
}

namespace {

core::ConfigDoc apply(const core::ConfigDoc& base, const SweepGrid& g,
                      const std::vector<std::size_t>& coords) {
  core::ConfigDoc doc = base;
  for (std::size_t a = 0; a < g.axes.size(); ++a)
    doc = doc.with_value(g.axes[a].key, g.axes[a].values[coords[a]]);
  return doc;
}

}  // namespace

Sweep::Sweep(const std::filesystem::path& scenario_file, SweepGrid grid, Spec spec)
    : base_(core::ConfigDoc::load_file(scenario_file)), grid_(std::move(grid)), spec_(std::move(spec)) {
  core::parse_config(base_, parse_scenario);  // the scenario itself is valid
  // Each value alone on the scenario: the errors then point at the sweep file's key.
  for (const auto& axis : grid_.axes)
    for (const auto& v : axis.values) {
      try {
        core::parse_config(base_.with_value(axis.key, v), parse_scenario);
      } catch (const core::Error& e) {
        throw core::InputError(fmt::format("sweep value {} for '{}': {}", v, axis.key,
                                           e.bare_message()),
                               axis.where,
                               e.hint().empty() ? "check the key's name and range in "
                                                  "examples/power/default.toml"
                                                : e.hint());
      }
    }
}

Scenario Sweep::scenario(std::size_t point) const {
  return core::parse_config(apply(base_, grid_, grid_.coordinates(point)), parse_scenario);
}

std::string Sweep::header() const {
  std::string h = "point";
  for (const auto& a : grid_.axes) h += "," + a.key;
  h += ",verdict,failed,peak_mw,min_mw,mean_mw,swing_mw,ramp_up_mw_per_s,ramp_down_mw_per_s,"
       "band_energy_fraction,energy_mwh,energy_overhead_pct,slowdown_pct,soc_min,soc_max";
  return h;
}

std::string Sweep::row(std::size_t point) const {
  const Scenario sc = scenario(point);
  const SimResult run = simulate(sc);
  const Scenario bare = without_mitigations(sc);
  const SimResult* base = &run;
  if (!(bare == sc)) {
    auto it = std::find_if(baselines_.begin(), baselines_.end(),
                           [&](const auto& b) { return b.first == bare; });
    if (it == baselines_.end()) {
      if (baselines_.size() >= 4) baselines_.erase(baselines_.begin());
      baselines_.emplace_back(bare, simulate(bare));
      it = baselines_.end() - 1;
    }
    base = &it->second;
  }
  const RunReport rep = make_report(mix_name(sc), run, *base, spec_, sc.sim.step_ms);
  std::string failed;
  for (const auto& c : rep.clauses)
    if (!c.pass) failed += (failed.empty() ? "" : ";") + c.name;
  const auto coords = grid_.coordinates(point);
  std::string r = std::to_string(point);
  for (std::size_t a = 0; a < grid_.axes.size(); ++a) {
    std::string v = grid_.axes[a].values[coords[a]];
    // A string's value, not its TOML spelling ('x', "x", or multi-line '''x''' / """x""").
    const bool triple = v.size() >= 6 && (v.starts_with("'''") || v.starts_with("\"\"\""));
    const std::size_t quotes = triple                                                     ? 3
                               : v.size() >= 2 && (v.front() == '\'' || v.front() == '"') ? 1
                                                                                          : 0;
    if (quotes > 0 && v.ends_with(v.substr(0, quotes))) v = v.substr(quotes, v.size() - 2 * quotes);
    if (v.find_first_of(",\"\r\n") != std::string::npos) {  // RFC 4180 quoting
      std::string q = "\"";  // CSV quoting
      for (char c : v) q += c == '"' ? std::string("\"\"") : std::string(1, c);
      v = q + "\"";
    }
    r += "," + v;
  }
  const Metrics& m = rep.metrics;
  r += fmt::format(",{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.4f},{:.4f},{},{}",
                   all_pass(rep.clauses) ? "PASS" : "FAIL", failed, m.peak_mw, m.min_mw,
                   m.mean_mw, m.swing_mw, m.ramp_up_mw_per_s, m.ramp_down_mw_per_s,
                   m.band_energy_fraction, m.energy_mwh, rep.costs.energy_overhead_pct,
                   rep.costs.slowdown_pct,
                   rep.has_storage ? fmt::format("{:.5f}", rep.soc_min) : "",
                   rep.has_storage ? fmt::format("{:.5f}", rep.soc_max) : "");
  return r;
}

}  // namespace keel::power
