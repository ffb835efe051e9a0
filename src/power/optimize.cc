#include "keel/power/optimize.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <thread>

#include "keel/core/error.h"
#include "keel/power/sim.h"

namespace keel::power {

namespace {

// Search ranges. Ramp rates below 20 W/s per GPU throttle compute for tens of seconds: excluded.
struct Ranges {
  double floor_frac_lo = 0.2, floor_frac_hi = 0.9;    // software floor, fraction of TDP
  double ramp_s_lo = 0, ramp_s_hi = 120;              // software start/stop ramps
  double pct_floor_lo = 20, pct_floor_hi = 95;        // smoothing floor, % of TDP
  double rate_lo = 20, rate_hi = 3000;                // smoothing ramp rates, W/s (log scale)
  double kw_lo, kw_hi, s_lo = 5, s_hi = 900;          // storage power; energy = power x seconds
};

double lerp(double lo, double hi, double u) { return lo + (hi - lo) * u; }
double log_lerp(double lo, double hi, double u) { return lo * std::pow(hi / lo, u); }
double unlerp_log(double lo, double hi, double v) {
  return std::clamp(std::log(v / lo) / std::log(hi / lo), 0.0, 1.0);
}

// Parameters as a point in [0,1]^8 so sampling and refinement treat every knob alike.
constexpr int kDims = 8;
using Point = std::array<double, kDims>;

void apply(const Point& p, const Ranges& r, int mask, Scenario& sc) {
  sc.software.enabled = mask & 1;
  sc.smoothing.enabled = mask & 2;
  sc.storage.enabled = mask & 4;
  if (mask & 1) {
    sc.software.floor_fraction_of_tdp = lerp(r.floor_frac_lo, r.floor_frac_hi, p[0]);
    sc.software.start_ramp_s = sc.software.stop_ramp_s = lerp(r.ramp_s_lo, r.ramp_s_hi, p[1]);
  }
  if (mask & 2) {
    sc.smoothing.percent_tmp_floor = lerp(r.pct_floor_lo, r.pct_floor_hi, p[2]);
    sc.smoothing.ramp_up_rate_w_per_s = log_lerp(r.rate_lo, r.rate_hi, p[3]);
    sc.smoothing.ramp_down_rate_w_per_s = log_lerp(r.rate_lo, r.rate_hi, p[4]);
  }
  if (mask & 4) {
    double units = sc.storage.level == StorageLevel::rack ? static_cast<double>(sc.total_racks()) : 1.0;
    double kw = log_lerp(r.kw_lo, r.kw_hi, p[5]);
    double seconds = log_lerp(r.s_lo, r.s_hi, p[6]);
    sc.storage.power_kw = kw / units;
    sc.storage.energy_kwh = kw * seconds / 3600.0 / units;
    sc.storage.filter_time_constant_s = lerp(5, 60, p[7]);
  }
}

// The scenario's own settings as a point, clamped into the ranges.
Point point_of(const Scenario& sc, const Ranges& r) {
  Point p{};
  auto un = [](double lo, double hi, double v) { return std::clamp((v - lo) / (hi - lo), 0.0, 1.0); };
  p[0] = un(r.floor_frac_lo, r.floor_frac_hi, sc.software.floor_fraction_of_tdp);
  p[1] = un(r.ramp_s_lo, r.ramp_s_hi, std::max(sc.software.start_ramp_s, sc.software.stop_ramp_s));
  p[2] = un(r.pct_floor_lo, r.pct_floor_hi, sc.smoothing.percent_tmp_floor);
  p[3] = sc.smoothing.ramp_up_rate_w_per_s > 0 ? unlerp_log(r.rate_lo, r.rate_hi, sc.smoothing.ramp_up_rate_w_per_s) : 0.5;
  p[4] = sc.smoothing.ramp_down_rate_w_per_s > 0 ? unlerp_log(r.rate_lo, r.rate_hi, sc.smoothing.ramp_down_rate_w_per_s) : 0.5;
  double units = sc.storage.level == StorageLevel::rack ? static_cast<double>(sc.total_racks()) : 1.0;
  double kw = sc.storage.power_kw * units;
  p[5] = kw > 0 ? unlerp_log(r.kw_lo, r.kw_hi, kw) : 0.5;
  p[6] = kw > 0 ? unlerp_log(r.s_lo, r.s_hi, sc.storage.energy_kwh * units * 3600.0 / kw) : 0.5;
  p[7] = un(5, 60, sc.storage.filter_time_constant_s);
  return p;
}

std::string mix_name(int mask) {
  std::string s;
  const char* names[3] = {"software", "smoothing", "storage"};
  for (int b = 0; b < 3; ++b)
    if (mask >> b & 1) s += (s.empty() ? "" : "+") + std::string(names[b]);
  return s.empty() ? "none" : s;
}

struct Task {
  Point p;
  int mask;
  bool own;  // the scenario's own settings, unmodified
};

}  // namespace

std::string describe_mitigations(const Scenario& sc) {
  std::vector<std::string> parts;
  if (sc.software.enabled)
    parts.push_back(fmt::format("software floor {:.0f} % TDP, ramps {:.0f} s",
                                100 * sc.software.floor_fraction_of_tdp, sc.software.start_ramp_s));
  if (sc.smoothing.enabled)
    parts.push_back(fmt::format("smoothing floor {:.0f} %, up {:.0f} W/s, down {:.0f} W/s",
                                sc.smoothing.percent_tmp_floor, sc.smoothing.ramp_up_rate_w_per_s,
                                sc.smoothing.ramp_down_rate_w_per_s));
  if (sc.storage.enabled) {
    double units = sc.storage.level == StorageLevel::rack ? static_cast<double>(sc.total_racks()) : 1.0;
    parts.push_back(fmt::format("storage {:.1f} MW / {:.2f} MWh, filter {:.0f} s",
                                sc.storage.power_kw * units / 1e3,
                                sc.storage.energy_kwh * units / 1e3,
                                sc.storage.filter_time_constant_s));
  }
  std::string out;
  for (const auto& s : parts) out += (out.empty() ? "" : "; ") + s;
  return out.empty() ? "none" : out;
}

OptimizeResult optimize(const Scenario& sc, const Spec& spec, const OptimizeOptions& opt) {
  if (!spec.has_limits())
    throw core::InputError("the spec sets no limits: nothing to optimize for",
                           core::Location{spec.name, 0, 0, {}}, "pass --spec with at least one limit");
  const SimResult base = simulate(without_mitigations(sc));
  const RunReport base_rep = make_report("none", base, base, spec, sc.sim.step_ms);
  Ranges rg;
  // Storage sized from the unmitigated swing: 2 % .. 150 % of it.
  double swing_kw = std::max(1.0, base_rep.metrics.swing_mw * 1e3);
  rg.kw_lo = 0.02 * swing_kw;
  rg.kw_hi = 1.5 * swing_kw;

  OptimizeResult res;
  const CostWeights& w = opt.weights;
  auto evaluate_task = [&](const Task& t) {
    Candidate c;
    c.scenario = sc;  // keeps settings the search does not vary (delays, SoC limits, ...)
    if (t.own) {
      c.scenario.software.enabled = t.mask & 1;
      c.scenario.smoothing.enabled = t.mask & 2;
      c.scenario.storage.enabled = t.mask & 4;
    } else {
      apply(t.p, rg, t.mask, c.scenario);
    }
    c.mix = mix_name(t.mask);
    c.from_scenario = t.own;
    c.report = make_report(c.mix, simulate(c.scenario), base, spec, sc.sim.step_ms);
    if (c.scenario.storage.enabled) {
      double units = c.scenario.storage.level == StorageLevel::rack ? static_cast<double>(sc.total_racks()) : 1.0;
      c.storage_mwh = c.scenario.storage.energy_kwh * units / 1e3;
      c.storage_mw = c.scenario.storage.power_kw * units / 1e3;
    }
    c.cost = w.energy_pct * std::max(0.0, c.report.costs.energy_overhead_pct) +
             w.slowdown_pct * std::max(0.0, c.report.costs.slowdown_pct) +
             w.storage_mwh * c.storage_mwh + w.storage_mw * c.storage_mw;
    for (const auto& cl : c.report.clauses)
      if (!cl.pass) c.violation += cl.limit > 0 ? cl.value / cl.limit - 1.0 : cl.value;
    c.pass = all_pass(c.report.clauses);
    return c;
  };
  auto run_batch = [&](const std::vector<Task>& tasks) {
    std::vector<Candidate> out(tasks.size());
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (std::size_t i; (i = next++) < tasks.size();) out[i] = evaluate_task(tasks[i]);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < std::max(1, opt.threads); ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    for (auto& c : out) res.explored.push_back(std::move(c));
    if (opt.progress) opt.progress(static_cast<int>(res.explored.size()), opt.budget);
  };

  const bool conf[3] = {sc.software.configured, sc.smoothing.configured, sc.storage.configured};
  std::vector<int> masks;
  for (int m = 1; m < 8; ++m) masks.push_back(m);
  std::mt19937_64 rng(opt.seed);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  const Point own = point_of(sc, rg);

  // Stage 1: the scenario's own settings, in every combination it configures.
  std::vector<Task> tasks;
  for (int m : masks) {
    bool ok = true;
    for (int b = 0; b < 3; ++b) ok = ok && (!(m >> b & 1) || conf[b]);
    if (ok) tasks.push_back({own, m, true});
  }
  // Stage 2: seeded random samples of every combination (about half the budget).
  int sample_budget = std::max(0, opt.budget / 2 - static_cast<int>(tasks.size()));
  for (int i = 0; i < sample_budget; ++i) {
    Point p;
    for (auto& x : p) x = u01(rng);
    tasks.push_back({p, masks[static_cast<std::size_t>(i) % masks.size()], false});
  }
  run_batch(tasks);

  // Stage 3: refine around the cheapest compliant (or least violating) candidates.
  double step = 0.25;
  auto better = [](const Candidate& a, const Candidate& b) {
    if (a.pass != b.pass) return a.pass;
    return a.pass ? a.cost < b.cost : a.violation < b.violation;
  };
  while (static_cast<int>(res.explored.size()) < opt.budget) {
    std::vector<int> order(res.explored.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      return better(res.explored[static_cast<std::size_t>(a)], res.explored[static_cast<std::size_t>(b)]);
    });
    int left = opt.budget - static_cast<int>(res.explored.size());
    int per_seed = 8;
    int seeds = std::min<int>(4, static_cast<int>(order.size()));
    tasks.clear();
    for (int s = 0; s < seeds && static_cast<int>(tasks.size()) < left; ++s) {
      const Candidate& c = res.explored[static_cast<std::size_t>(order[static_cast<std::size_t>(s)])];
      int mask = (c.scenario.software.enabled ? 1 : 0) | (c.scenario.smoothing.enabled ? 2 : 0) |
                 (c.scenario.storage.enabled ? 4 : 0);
      Point p = point_of(c.scenario, rg);
      for (int k = 0; k < per_seed && static_cast<int>(tasks.size()) < left; ++k) {
        Point q = p;
        for (auto& x : q) x = std::clamp(x + step * (2 * u01(rng) - 1), 0.0, 1.0);
        tasks.push_back({q, mask, false});
      }
    }
    if (tasks.empty()) break;
    run_batch(tasks);
    step = std::max(0.02, step * 0.6);
  }

  // The cheapest compliant candidate and the Pareto front of compliant ones.
  for (std::size_t i = 0; i < res.explored.size(); ++i) {
    const Candidate& c = res.explored[i];
    if (!c.pass) continue;
    if (res.best < 0 || c.cost < res.explored[static_cast<std::size_t>(res.best)].cost)
      res.best = static_cast<int>(i);
    bool dominated = false;
    for (std::size_t j = 0; j < res.explored.size() && !dominated; ++j) {
      const Candidate& d = res.explored[j];
      if (j == i || !d.pass) continue;
      auto e = [](const Candidate& x) { return x.report.costs.energy_overhead_pct; };
      auto s = [](const Candidate& x) { return x.report.costs.slowdown_pct; };
      bool no_worse = e(d) <= e(c) && s(d) <= s(c) && d.storage_mwh <= c.storage_mwh;
      bool better_somewhere = e(d) < e(c) || s(d) < s(c) || d.storage_mwh < c.storage_mwh;
      dominated = no_worse && better_somewhere;
    }
    if (!dominated) res.pareto.push_back(static_cast<int>(i));
  }
  std::sort(res.pareto.begin(), res.pareto.end(), [&](int a, int b) {
    return res.explored[static_cast<std::size_t>(a)].cost < res.explored[static_cast<std::size_t>(b)].cost;
  });
  return res;
}

}  // namespace keel::power
