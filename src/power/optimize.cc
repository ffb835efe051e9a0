#include "keel/power/optimize.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <set>
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
    double units = per_rack(sc.storage.level) ? static_cast<double>(sc.total_racks()) : 1.0;
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
  double units = per_rack(sc.storage.level) ? static_cast<double>(sc.total_racks()) : 1.0;
  double kw = sc.storage.power_kw * units;
  p[5] = kw > 0 ? unlerp_log(r.kw_lo, r.kw_hi, kw) : 0.5;
  p[6] = kw > 0 ? unlerp_log(r.s_lo, r.s_hi, sc.storage.energy_kwh * units * 3600.0 / kw) : 0.5;
  p[7] = un(5, 60, sc.storage.filter_time_constant_s);
  return p;
}

// The knobs of Point each mitigation owns.
std::vector<int> dims_of(int mask) {
  // Knob k belongs to mitigation bit kOwner[k] (software 0-1, smoothing 2-4, storage 5-7).
  static constexpr int kOwner[kDims] = {1, 1, 2, 2, 2, 4, 4, 4};
  std::vector<int> d;
  for (int k = 0; k < kDims; ++k)
    if (mask & kOwner[k]) d.push_back(k);
  return d;
}

int mask_of(const Scenario& sc) {
  return (sc.software.enabled ? 1 : 0) | (sc.smoothing.enabled ? 2 : 0) |
         (sc.storage.enabled ? 4 : 0);
}

// Compliant beats non-compliant; then the cheaper, or the less violating.
bool better(const Candidate& a, const Candidate& b) {
  if (a.pass != b.pass) return a.pass;
  return a.pass ? a.cost < b.cost : a.violation < b.violation;
}

struct Task {
  Point p;
  int mask;
  bool own;  // the scenario's own settings, unmodified
};

// One pattern search inside one combination: compass steps of `step` along each knob.
struct LocalSearch {
  int mask = 0;
  std::vector<int> dims;
  Point x{};
  int center = -1;  // index of x's candidate in explored
  double step = 0.25;
  bool done = false;
};

}  // namespace

OptimizeResult optimize(const Scenario& sc, const Spec& spec, const OptimizeOptions& opt) {
  if (!spec.has_limits())
    throw core::InputError("the spec sets no limits: nothing to optimize for",
                           core::Location{spec.name, 0, 0, {}}, "pass --spec with at least one limit");
  if (!(opt.margin_pct >= 0 && opt.margin_pct < 100))
    throw core::InputError("the safety margin must be in [0, 100) %", {"", 0, 0, "--margin-pct"});
  const SimResult base = simulate(without_mitigations(sc));
  const RunReport base_rep = make_report("none", base, base, spec, sc.sim.step_ms);
  Ranges rg;
  // Storage sized from the unmitigated swing: 2 % .. 150 % of it.
  double swing_kw = std::max(1.0, base_rep.metrics.swing_mw * 1e3);
  rg.kw_lo = 0.02 * swing_kw;
  rg.kw_hi = 1.5 * swing_kw;
  // Only floors the GPUs allow (gpu_limits: GB200's Minimum Power Floor is at most 90 % of TDP).
  for (std::size_t j = 0; j < sc.jobs.size(); ++j) {
    const GpuLimits lim = gpu_limits(sc.gpu_of(j).model);
    if (lim.smoothing) rg.pct_floor_hi = std::min(rg.pct_floor_hi, lim.max_floor_pct);
  }
  const double keep = 1.0 - opt.margin_pct / 100.0;  // share of each limit a compliant mix may use

  OptimizeResult res;
  const CostWeights& w = opt.weights;
  // The settings a task tries, mix and origin filled in (figures not yet).
  auto settings_of = [&](const Task& t) {
    Candidate c;
    c.scenario = sc;  // keeps settings the search does not vary (delays, SoC limits, ...)
    c.scenario.coordinated.enabled = false;  // it searches independent mixes (compare: both)
    if (t.own) {
      c.scenario.software.enabled = t.mask & 1;
      c.scenario.smoothing.enabled = t.mask & 2;
      c.scenario.storage.enabled = t.mask & 4;
    } else {
      apply(t.p, rg, t.mask, c.scenario);
    }
    c.mix = mix_name(t.mask);
    c.from_scenario = t.own;
    return c;
  };
  auto evaluate_task = [&](const Task& t) {
    Candidate c = settings_of(t);
    c.report = make_report(c.mix, simulate(c.scenario), base, spec, sc.sim.step_ms);
    if (c.scenario.storage.enabled) {
      double units = per_rack(c.scenario.storage.level) ? static_cast<double>(sc.total_racks()) : 1.0;
      c.storage_mwh = c.scenario.storage.energy_kwh * units / 1e3;
      c.storage_mw = c.scenario.storage.power_kw * units / 1e3;
    }
    c.cost = w.energy_pct * std::max(0.0, c.report.costs.energy_overhead_pct) +
             w.slowdown_pct * std::max(0.0, c.report.costs.slowdown_pct) +
             w.storage_mwh * c.storage_mwh + w.storage_mw * c.storage_mw;
    c.pass = true;
    for (const auto& cl : c.report.clauses) {
      const double limit = cl.limit * keep;
      if (cl.value <= limit) continue;
      c.pass = false;
      c.violation += limit > 0 ? cl.value / limit - 1.0 : cl.value;
    }
    return c;
  };
  // Points already simulated (pattern searches revisit them): key -> index in explored.
  std::map<std::string, int> seen;
  std::vector<Task> task_of;       // the task of each explored candidate
  std::set<std::size_t> partial;   // candidates another process simulated (figures only)
  auto key_of = [](const Task& t) {
    std::string k = std::to_string(t.mask) + (t.own ? "own" : "");
    if (!t.own)
      for (int d : dims_of(t.mask)) k += fmt::format(",{:.6f}", t.p[static_cast<std::size_t>(d)]);
    return k;
  };
  // Index in explored of each task (-1: not run, the budget is spent). New points run in
  // parallel; the order of explored is the order of the tasks, whatever the threads.
  auto run_batch = [&](const std::vector<Task>& tasks) {
    std::vector<int> index(tasks.size(), -1);
    std::vector<std::size_t> fresh;
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      const auto k = key_of(tasks[i]);
      if (auto it = seen.find(k); it != seen.end()) {
        index[i] = it->second;
      } else if (static_cast<int>(res.explored.size() + fresh.size()) < opt.budget) {
        seen[k] = static_cast<int>(res.explored.size() + fresh.size());
        index[i] = seen[k];
        fresh.push_back(i);
      }
    }
    std::vector<Candidate> out(fresh.size());
    const auto rank = static_cast<std::size_t>(opt.ranks.rank);
    const auto ranks = static_cast<std::size_t>(std::max(1, opt.ranks.size));
    std::vector<std::size_t> mine;  // this process's share of the fresh tasks
    for (std::size_t i = rank; i < fresh.size(); i += ranks) mine.push_back(i);
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (std::size_t i; (i = next++) < mine.size();) out[mine[i]] = evaluate_task(tasks[fresh[mine[i]]]);
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < std::max(1, opt.threads); ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (ranks > 1) {
      // What the search reads of a candidate, summed over processes (zeros where not owned).
      constexpr std::size_t kFields = 7;
      std::vector<double> v(fresh.size() * kFields, 0.0);
      for (std::size_t i : mine) {
        const Candidate& c = out[i];
        const double f[kFields] = {c.cost, c.violation, c.pass ? 1.0 : 0.0,
                                   c.report.costs.energy_overhead_pct, c.report.costs.slowdown_pct,
                                   c.storage_mwh, c.storage_mw};
        std::copy(f, f + kFields, v.begin() + static_cast<std::ptrdiff_t>(i * kFields));
      }
      opt.ranks.sum(v);
      for (std::size_t i = 0; i < fresh.size(); ++i) {
        if (i % ranks == rank) continue;
        Candidate& c = out[i] = settings_of(tasks[fresh[i]]);  // the figures from their owner
        const double* f = v.data() + i * kFields;
        c.cost = f[0];
        c.violation = f[1];
        c.pass = f[2] > 0.5;
        c.report.costs.energy_overhead_pct = f[3];
        c.report.costs.slowdown_pct = f[4];
        c.storage_mwh = f[5];
        c.storage_mw = f[6];
        partial.insert(res.explored.size() + i);
      }
    }
    for (std::size_t i = 0; i < fresh.size(); ++i) task_of.push_back(tasks[fresh[i]]);
    for (auto& c : out) res.explored.push_back(std::move(c));
    if (opt.progress) opt.progress(static_cast<int>(res.explored.size()), opt.budget);
    return index;
  };
  auto cand = [&](int i) -> const Candidate& { return res.explored[static_cast<std::size_t>(i)]; };

  const bool conf[3] = {sc.software.configured, sc.smoothing.configured, sc.storage.configured};
  std::mt19937_64 rng(opt.seed);
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  auto random_point = [&] {
    Point p;
    for (auto& x : p) x = u01(rng);
    return p;
  };

  // Stage 1: the scenario's own settings, in every combination it configures; stage 2: seeded
  // random samples of every combination.
  std::vector<Task> tasks;
  for (int m = 1; m < 8; ++m) {
    bool ok = true;
    for (int b = 0; b < 3; ++b) ok = ok && (!(m >> b & 1) || conf[b]);
    if (ok) tasks.push_back({point_of(sc, rg), m, true});
  }
  for (int i = 0; i < opt.samples_per_mix; ++i)
    for (int m = 1; m < 8; ++m) tasks.push_back({random_point(), m, false});
  run_batch(tasks);

  // Stage 3: a pattern search in every combination from its best point; then more searches,
  // from distinct points, in the combinations that came out best (the convergence test needs
  // independent searches to agree).
  std::vector<std::vector<int>> by_mask(8);
  for (std::size_t i = 0; i < res.explored.size(); ++i)
    by_mask[static_cast<std::size_t>(mask_of(res.explored[i].scenario))].push_back(static_cast<int>(i));
  for (auto& v : by_mask)
    std::stable_sort(v.begin(), v.end(), [&](int a, int b) { return better(cand(a), cand(b)); });
  std::vector<LocalSearch> searches;
  auto start_search = [&](int mask, int from) {
    LocalSearch ls;
    ls.mask = mask;
    ls.dims = dims_of(mask);
    ls.center = from;
    ls.x = point_of(cand(from).scenario, rg);
    searches.push_back(ls);
  };
  bool budget_spent = false;
  auto run_searches = [&] {
    while (!budget_spent) {
      tasks.clear();
      std::vector<std::pair<std::size_t, std::size_t>> owner;  // (search, its first task)
      for (std::size_t s = 0; s < searches.size(); ++s) {
        LocalSearch& ls = searches[s];
        if (ls.done) continue;
        owner.emplace_back(s, tasks.size());
        for (int d : ls.dims)
          for (double sign : {-1.0, 1.0}) {
            Point q = ls.x;
            auto& v = q[static_cast<std::size_t>(d)];
            v = std::clamp(v + sign * ls.step, 0.0, 1.0);
            if (v != ls.x[static_cast<std::size_t>(d)]) tasks.push_back({q, ls.mask, false});
          }
      }
      if (owner.empty()) return;
      const auto index = run_batch(tasks);
      for (std::size_t o = 0; o < owner.size(); ++o) {
        LocalSearch& ls = searches[owner[o].first];
        const std::size_t t0 = owner[o].second;
        const std::size_t t1 = o + 1 < owner.size() ? owner[o + 1].second : tasks.size();
        int best = -1;
        bool complete = true;
        for (std::size_t t = t0; t < t1; ++t) {
          if (index[t] < 0) {
            complete = false;
            continue;
          }
          if (best < 0 || better(cand(index[t]), cand(best))) best = index[t];
        }
        budget_spent = budget_spent || !complete;
        if (best >= 0 && better(cand(best), cand(ls.center))) {
          ls.center = best;
          ls.x = point_of(cand(best).scenario, rg);
        } else if (complete) {
          ls.step /= 2;
          ls.done = ls.step < opt.min_step;
        }
      }
    }
  };
  for (int m = 1; m < 8; ++m)
    if (!by_mask[static_cast<std::size_t>(m)].empty()) start_search(m, by_mask[static_cast<std::size_t>(m)][0]);
  run_searches();
  std::vector<std::size_t> order(searches.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return better(cand(searches[a].center), cand(searches[b].center));
  });
  for (std::size_t k = 0; k < order.size() && k < static_cast<std::size_t>(std::max(1, opt.mixes_refined)); ++k) {
    const int m = searches[order[k]].mask;
    const auto& ranked = by_mask[static_cast<std::size_t>(m)];
    for (int s = 1; s < opt.starts && s < static_cast<int>(ranked.size()); ++s)
      start_search(m, ranked[static_cast<std::size_t>(s)]);
  }
  run_searches();
  res.searches = static_cast<int>(searches.size());

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
  // What the result shows in full (the best and the Pareto front) is simulated here too when
  // another process had it: same figures (deterministic), and the whole report.
  std::vector<int> shown = res.pareto;
  if (res.best >= 0) shown.push_back(res.best);
  for (int i : shown)
    if (partial.erase(static_cast<std::size_t>(i)))
      res.explored[static_cast<std::size_t>(i)] = evaluate_task(task_of[static_cast<std::size_t>(i)]);

  // Convergence: independent searches of the winning mix, run to their resolution, agree.
  for (const auto& ls : searches) res.searches_finished += ls.done;
  if (res.best < 0) {
    res.convergence = budget_spent ? "no compliant mix found before the budget was spent"
                                   : "no compliant mix found";
    return res;
  }
  const Candidate& b = cand(res.best);
  const int win = mask_of(b.scenario);
  int agree = 0, finished = 0, in_mix = 0;
  for (const auto& ls : searches) {
    if (ls.mask != win) continue;
    ++in_mix;
    finished += ls.done;
    const Candidate& c = cand(ls.center);
    agree += ls.done && c.pass && c.cost <= b.cost * (1.0 + opt.agree_pct / 100.0) + 1e-12;
  }
  res.converged = agree >= 2 && finished == in_mix;
  if (res.converged)
    res.convergence = fmt::format("converged: {} of {} independent searches of {} end within {:g} % "
                                  "of the best cost",
                                  agree, in_mix, b.mix, opt.agree_pct);
  else if (in_mix == 0)
    res.convergence = fmt::format("NOT converged: the best point ({}) was not refined by a local "
                                  "search; raise --budget",
                                  b.mix);
  else
    res.convergence = fmt::format(
        "NOT converged: {} of {} searches of {} finished, {} end within {:g} % of the best cost{}: "
        "the answer may move with --seed",
        finished, in_mix, b.mix, agree, opt.agree_pct, budget_spent ? " (budget spent; raise --budget)" : "");
  return res;
}

}  // namespace keel::power
