#include "keel/power/sim.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "keel/power/facility.h"
#include "keel/power/gpu.h"
#include "sim_coordinator.h"

namespace keel::power {

double SimResult::grid_energy_j() const {
  double e = 0;
  for (double p : grid_w) e += p;
  return e * step_s;
}

namespace {

// Storage as the simulators step it: per step, the power all batteries deliver together and their
// mean state of charge (batteries are equal in capacity: racks, or the one facility plant); the
// batteries' totals.
struct StorageTrace {
  std::vector<double> battery_w, soc;
  StorageResult totals;
  StorageTrace(const StorageParams& p, std::int64_t steps)
      : battery_w(static_cast<std::size_t>(steps), 0.0), soc(static_cast<std::size_t>(steps), 0.0) {
    totals.soc_min_seen = totals.soc_max_seen = p.soc_initial;
  }
};

bool rack_storage(const Scenario& sc) {
  return sc.storage.enabled && per_rack(sc.storage.level);
}

// The part shared by both simulators: IT power per step -> facility (PSU losses, cooling that
// follows heat with a lag, fixed overhead) -> storage -> grid.
class Facility {
 public:
  Facility(const Scenario& sc, std::int64_t steps)
      : sc_(sc),
        power_(sc.facility, sc.sim.step_ms / 1000.0, jobs_base_w(sc)),
        capped_(sc.facility, sc.sim.step_ms / 1000.0, jobs_base_w(sc)) {
    // Only an onset overshoot takes a GPU above TDP (levels and floors are at most TDP): without
    // one the TDP-capped facility equals the facility, and its second model is not run.
    for (std::size_t j = 0; j < sc.jobs.size(); ++j) edp_ |= sc.gpu_of(j).onset_overshoot_w > 0;
    ac_.resize(static_cast<std::size_t>(steps));
    facility_.resize(static_cast<std::size_t>(steps));
    base_w_ = jobs_base_w(sc);
  }
  double server_base_w() const { return base_w_; }

  // `above_tdp_w`: the part of `gpu_w` above the GPUs' TDP (EDP peaks), also run through a
  // second facility model without it, for the TDP-capped peak. Returns the facility's power.
  double record(std::int64_t k, double gpu_w, double above_tdp_w) {
    const auto p = power_.step(gpu_w);
    ac_[static_cast<std::size_t>(k)] = p.ac_w;
    facility_[static_cast<std::size_t>(k)] = p.facility_w;
    if (edp_) {
      capped_peak_w_ = std::max(capped_peak_w_, capped_.step(gpu_w - above_tdp_w).facility_w);
      above_peak_w_ = std::max(above_peak_w_, above_tdp_w);
    }
    return p.facility_w;
  }

  // Collects the jobs' statistics and mitigation energies, then takes away what the storage
  // delivered (`store`: every battery's power summed per step, as the simulator stepped them).
  void finish(SimResult& r, const std::vector<std::unique_ptr<JobRunner>>& runners,
              StorageTrace* store) {
    for (const auto& jr : runners) {
      r.jobs.push_back(jr->stats());
      r.software_energy_j += jr->software_energy_j();
      r.smoothing_energy_j += jr->smoothing_energy_j();
      r.burn_energy_j += jr->burn_energy_j();
    }
    r.step_s = sc_.sim.step_ms / 1000.0;
    r.gpu_above_tdp_peak_w = above_peak_w_;
    r.tdp_capped_peak_w = edp_ || facility_.empty()
                              ? capped_peak_w_
                              : *std::max_element(facility_.begin(), facility_.end());
    const StorageParams& st = sc_.storage;
    r.has_storage = st.enabled;
    r.coordinated = sc_.coordinating();
    if (!st.enabled) {
      r.grid_w = facility_;
    } else {
      r.storage = std::move(store->totals);
      r.soc = std::move(store->soc);
      r.grid_w.resize(facility_.size());
      for (std::size_t k = 0; k < r.grid_w.size(); ++k)
        r.grid_w[k] = facility_[k] - store->battery_w[k];
    }
    r.facility_w = std::move(facility_);
  }

 private:
  static double jobs_base_w(const Scenario& sc) {
    double w = 0;
    for (const auto& j : sc.jobs) w += servers_base_w(sc.facility, j.gpus);
    return w;
  }
  const Scenario& sc_;
  FacilityPower power_, capped_;
  double capped_peak_w_ = 0, above_peak_w_ = 0;
  bool edp_ = false;
  std::vector<double> ac_, facility_;
  double base_w_ = 0;
};

std::int64_t gpus_per_rack(const Scenario& sc) {
  return sc.gpus_per_rack();
}

// One GpuModel per job (jobs may have their own [job.gpu]); JobRunner keeps a reference.
std::vector<std::unique_ptr<GpuModel>> job_models(const Scenario& sc) {
  std::vector<std::unique_ptr<GpuModel>> m;
  for (std::size_t j = 0; j < sc.jobs.size(); ++j)
    m.push_back(std::make_unique<GpuModel>(sc.gpu_of(j), sc.smoothing, sc.sim.step_ms));
  return m;
}

// Base (non-GPU) power of one rack holding `gpus` GPUs.
double rack_base_w(const Scenario& sc, std::int64_t gpus) {
  return servers_base_w(sc.facility, gpus);
}

void report_progress(const SimOptions& opt, std::int64_t k, std::int64_t n) {
  if (opt.progress && (k % 65536 == 0 || k + 1 == n)) opt.progress(k + 1, n);
}

}  // namespace

SimResult simulate(const Scenario& sc, const SimOptions& opt) {
  const std::int64_t n = sc.steps();
  const auto models = job_models(sc);
  Facility fac(sc, n);
  SimResult r;
  // A rack's load: its servers' base power plus, per cohort of the job that owns it, the
  // cohort's GPUs in the rack times one GPU's power. Traced racks and rack batteries need them.
  struct RackLoad {
    std::size_t job;
    std::vector<std::pair<std::size_t, double>> cohort_gpus;  // (cohort, GPUs in this rack)
    double base_w;
    double racks = 1;  // identical racks this load stands for (rack storage groups)
  };
  std::vector<RackLoad> traced, groups;
  std::vector<std::unique_ptr<JobRunner>> runners;
  const std::int64_t per_rack = gpus_per_rack(sc);
  const bool by_rack = rack_storage(sc);
  for (std::size_t j = 0; j < sc.jobs.size(); ++j) {
    const bool need_trace = static_cast<std::int64_t>(traced.size()) < opt.trace_racks;
    JobLayout lay = build_layout(sc.jobs[j], sc.sim.step_ms, sc.sim.seed, j, need_trace || by_rack);
    // Racks with the same cohort counts carry the same load at every step: one battery run
    // stands for all of them, exactly (a rack's battery sees only its own rack).
    std::map<std::vector<std::pair<std::size_t, double>>, std::size_t> group_of;
    for (std::int64_t rk = 0; rk < sc.racks_of_job(j); ++rk) {
      const bool trace = static_cast<std::int64_t>(traced.size()) < opt.trace_racks;
      if (!trace && !by_rack) break;
      const std::int64_t g0 = std::min(sc.jobs[j].gpus, rk * per_rack);
      const std::int64_t g1 = std::min(sc.jobs[j].gpus, g0 + per_rack);
      std::map<std::size_t, double> counts;
      for (std::int64_t g = g0; g < g1; ++g)
        counts[static_cast<std::size_t>(lay.gpu_cohort[static_cast<std::size_t>(g)])] += 1;
      RackLoad load{j, {counts.begin(), counts.end()}, rack_base_w(sc, g1 - g0), 1};
      if (by_rack) {
        const auto [it, fresh] = group_of.try_emplace(load.cohort_gpus, groups.size());
        if (fresh)
          groups.push_back(load);
        else
          groups[it->second].racks += 1;
      }
      if (trace) traced.push_back(std::move(load));
    }
    r.cohorts += static_cast<std::int64_t>(lay.cohorts.size());
    runners.push_back(std::make_unique<JobRunner>(sc, j, *models[j], std::move(lay.cohorts)));
  }
  auto rack_ac = [&](const RackLoad& rl) {
    const JobRunner& jr = *runners[rl.job];
    double w = rl.base_w;
    for (const auto& [c, gpus] : rl.cohort_gpus) w += gpus * jr.unit_power(c);
    return w / sc.facility.psu_efficiency;
  };
  // Batteries are stepped with the load (not over the series afterwards): coordinated control
  // reads their state of charge before the next step.
  const double dt_s = sc.sim.step_ms / 1000.0;
  std::vector<Battery> batteries;
  for (std::size_t i = 0; i < groups.size(); ++i) batteries.emplace_back(sc.storage, dt_s, 1.0);
  const bool site_store = sc.storage.enabled && !by_rack;
  if (site_store) batteries.emplace_back(sc.storage, dt_s, 1.0);
  std::unique_ptr<StorageTrace> store;
  if (sc.storage.enabled) store = std::make_unique<StorageTrace>(sc.storage, n);
  const double all_racks = static_cast<double>(sc.total_racks());
  Coordinator coord(sc, runners);

  r.rack_w.assign(traced.size(), std::vector<double>(static_cast<std::size_t>(n)));
  std::vector<double> job_base_w;
  for (const auto& job : sc.jobs) job_base_w.push_back(servers_base_w(sc.facility, job.gpus));
  if (opt.trace_jobs)
    r.job_w.assign(sc.jobs.size(), std::vector<double>(static_cast<std::size_t>(n)));
  for (std::int64_t k = 0; k < n; ++k) {
    const auto ks = static_cast<std::size_t>(k);
    double gpu_w = 0, above = 0;
    for (std::size_t j = 0; j < runners.size(); ++j) {
      const double w = runners[j]->step(k);
      gpu_w += w;
      above += runners[j]->above_tdp_w();
      if (opt.trace_jobs) r.job_w[j][ks] = (w + job_base_w[j]) / sc.facility.psu_efficiency;
    }
    const double facility_w = fac.record(k, gpu_w, above);
    for (std::size_t t = 0; t < traced.size(); ++t) r.rack_w[t][ks] = rack_ac(traced[t]);
    if (!store) {
      report_progress(opt, k, n);
      continue;
    }
    coord.begin();
    if (by_rack) {
      double b = 0, soc = 0;
      for (std::size_t i = 0; i < groups.size(); ++i) {
        const double one = batteries[i].step(rack_ac(groups[i]));
        b += groups[i].racks * one;
        soc += groups[i].racks * batteries[i].soc();
        coord.see(groups[i].job, batteries[i].soc(), one, batteries[i].power_rating_w());
      }
      store->battery_w[ks] = b;
      store->soc[ks] = soc / all_racks;
    } else {
      store->battery_w[ks] = batteries.back().step(facility_w);
      store->soc[ks] = batteries.back().soc();
      coord.see_all(store->soc[ks], store->battery_w[ks], batteries.back().power_rating_w());
    }
    if (coord.active()) coord.decide();
    report_progress(opt, k, n);
  }
  if (store) {
    for (std::size_t i = 0; i < groups.size(); ++i)
      batteries[i].add_totals(store->totals, groups[i].racks);
    if (site_store) batteries.back().add_totals(store->totals, 1.0);
    finish_totals(store->totals, (site_store ? 1.0 : all_racks) * static_cast<double>(n));
  }
  r.rack_groups = static_cast<std::int64_t>(groups.size());
  fac.finish(r, runners, store.get());
  return r;
}

SimResult simulate_reference(const Scenario& sc, const SimOptions& opt) {
  const std::int64_t n = sc.steps();
  const auto models = job_models(sc);
  Facility fac(sc, n);
  SimResult r;
  const std::int64_t per_rack = gpus_per_rack(sc);
  std::vector<std::unique_ptr<JobRunner>> runners;
  for (std::size_t j = 0; j < sc.jobs.size(); ++j) {
    JobLayout lay = build_layout(sc.jobs[j], sc.sim.step_ms, sc.sim.seed, j, true);
    std::vector<Cohort> gpus;  // every GPU its own unit of weight 1
    gpus.reserve(lay.gpu_cohort.size());
    for (auto c : lay.gpu_cohort) {
      Cohort one = lay.cohorts[static_cast<std::size_t>(c)];
      one.gpus = 1;
      gpus.push_back(one);
    }
    r.cohorts += static_cast<std::int64_t>(gpus.size());
    runners.push_back(std::make_unique<JobRunner>(sc, j, *models[j], std::move(gpus)));
  }
  // Every rack's AC power, every step: racks of all jobs, GPUs summed one by one; every rack its
  // own battery (at rack level), stepped with its rack's power.
  const bool by_rack = rack_storage(sc);
  const double dt_s = sc.sim.step_ms / 1000.0;
  const auto total_racks = static_cast<std::size_t>(sc.total_racks());
  std::vector<ReferenceBattery> rack_batteries;
  if (by_rack) rack_batteries.assign(total_racks, ReferenceBattery(sc.storage, dt_s));
  std::vector<ReferenceBattery> site_battery;
  if (sc.storage.enabled && !by_rack) site_battery.emplace_back(sc.storage, dt_s);
  std::unique_ptr<StorageTrace> store;
  if (sc.storage.enabled) store = std::make_unique<StorageTrace>(sc.storage, n);
  Coordinator coord(sc, runners);
  int racks_traced = static_cast<int>(std::min<std::int64_t>(opt.trace_racks, sc.total_racks()));
  r.rack_w.assign(static_cast<std::size_t>(racks_traced),
                  std::vector<double>(static_cast<std::size_t>(n)));
  if (opt.trace_jobs)
    r.job_w.assign(sc.jobs.size(), std::vector<double>(static_cast<std::size_t>(n)));
  for (std::int64_t k = 0; k < n; ++k) {
    const auto ks = static_cast<std::size_t>(k);
    // Facility IT power = sum over racks of (GPUs in the rack + its servers' base power).
    double it_w = 0, above = 0;
    std::size_t rack_id = 0;
    coord.begin();
    for (std::size_t j = 0; j < runners.size(); ++j) {
      runners[j]->step(k);
      above += runners[j]->above_tdp_w();
      for (std::int64_t rk = 0; rk < sc.racks_of_job(j); ++rk, ++rack_id) {
        const std::int64_t g0 = std::min(sc.jobs[j].gpus, rk * per_rack);
        const std::int64_t g1 = std::min(sc.jobs[j].gpus, g0 + per_rack);
        double rack = rack_base_w(sc, g1 - g0);
        for (std::int64_t g = g0; g < g1; ++g)
          rack += runners[j]->unit_power(static_cast<std::size_t>(g));
        const double ac = rack / sc.facility.psu_efficiency;
        if (rack_id < static_cast<std::size_t>(racks_traced)) r.rack_w[rack_id][ks] = ac;
        if (opt.trace_jobs) r.job_w[j][ks] += ac;
        it_w += rack;
        if (by_rack) {
          ReferenceBattery& battery = rack_batteries[rack_id];
          const double delivered = battery.step(ac);
          store->battery_w[ks] += delivered;
          store->soc[ks] += battery.soc() / static_cast<double>(total_racks);
          coord.see(j, battery.soc(), delivered, battery.power_rating_w());
        }
      }
    }
    const double facility_w = fac.record(k, it_w - fac.server_base_w(), above);
    if (!site_battery.empty()) {
      store->battery_w[ks] = site_battery[0].step(facility_w);
      store->soc[ks] = site_battery[0].soc();
      coord.see_all(store->soc[ks], store->battery_w[ks], site_battery[0].power_rating_w());
    }
    if (coord.active()) coord.decide();
    report_progress(opt, k, n);
  }
  // The batteries' totals: sums, extremes, and limited fractions averaged over batteries.
  if (store) {
    auto& batteries = by_rack ? rack_batteries : site_battery;
    StorageResult& t = store->totals;
    for (const auto& battery : batteries) {
      const StorageResult one = battery.result();
      t.loss_j += one.loss_j;
      t.net_discharge_j += one.net_discharge_j;
      t.recharge_j += one.recharge_j;
      t.soc_min_seen = std::min(t.soc_min_seen, one.soc_min_seen);
      t.soc_max_seen = std::max(t.soc_max_seen, one.soc_max_seen);
      t.power_limited_fraction +=
          one.power_limited_fraction / static_cast<double>(batteries.size());
      t.energy_limited_fraction +=
          one.energy_limited_fraction / static_cast<double>(batteries.size());
    }
  }
  r.rack_groups = static_cast<std::int64_t>(total_racks);
  fac.finish(r, runners, store.get());
  return r;
}

}  // namespace keel::power
