#include "keel/power/sim.h"

#include <cmath>
#include <memory>

#include "keel/power/facility.h"
#include "keel/power/gpu.h"

namespace keel::power {

double SimResult::grid_energy_j() const {
  double e = 0;
  for (double p : grid_w) e += p;
  return e * step_s;
}

namespace {

// The part shared by both simulators: IT power per step -> facility (PSU losses, cooling that
// follows heat with a lag, fixed overhead) -> storage -> grid.
class Facility {
 public:
  Facility(const Scenario& sc, std::int64_t steps)
      : sc_(sc), power_(sc.facility, sc.sim.step_ms / 1000.0, jobs_base_w(sc)) {
    ac_.resize(static_cast<std::size_t>(steps));
    facility_.resize(static_cast<std::size_t>(steps));
    base_w_ = jobs_base_w(sc);
  }
  double server_base_w() const { return base_w_; }

  void record(std::int64_t k, double gpu_w) {
    const auto p = power_.step(gpu_w);
    ac_[static_cast<std::size_t>(k)] = p.ac_w;
    facility_[static_cast<std::size_t>(k)] = p.facility_w;
  }

  // Collects the jobs' statistics and mitigation energies, then applies storage.
  void finish(SimResult& r, const std::vector<std::unique_ptr<JobRunner>>& runners) {
    for (const auto& jr : runners) {
      r.jobs.push_back(jr->stats());
      r.software_energy_j += jr->software_energy_j();
      r.smoothing_energy_j += jr->smoothing_energy_j();
    }
    r.step_s = sc_.sim.step_ms / 1000.0;
    const StorageParams& st = sc_.storage;
    r.has_storage = st.enabled;
    if (!st.enabled) {
      r.grid_w = facility_;
    } else if (st.level == StorageLevel::facility) {
      r.storage = apply_storage(facility_, r.step_s, st, 1.0);
      r.grid_w = std::move(r.storage.grid_w);
    } else {
      // Rack batteries see the racks' AC power; racks are taken to share the load equally (their
      // ms-scale offsets are far below the battery filter's time constant).
      r.storage = apply_storage(ac_, r.step_s, st, static_cast<double>(sc_.total_racks()));
      r.grid_w = std::move(r.storage.grid_w);
      for (std::size_t k = 0; k < r.grid_w.size(); ++k) r.grid_w[k] += facility_[k] - ac_[k];
    }
    if (st.enabled) r.soc = std::move(r.storage.soc);
    r.storage.grid_w.clear();
    r.storage.soc.clear();
    r.facility_w = std::move(facility_);
  }

 private:
  static double jobs_base_w(const Scenario& sc) {
    double w = 0;
    for (const auto& j : sc.jobs) w += servers_base_w(sc.facility, j.gpus);
    return w;
  }
  const Scenario& sc_;
  FacilityPower power_;
  std::vector<double> ac_, facility_;
  double base_w_ = 0;
};

std::int64_t gpus_per_rack(const Scenario& sc) {
  return std::int64_t{sc.facility.gpus_per_server} * sc.facility.servers_per_rack;
}

// Base (non-GPU) power of one rack holding `gpus` GPUs.
double rack_base_w(const Scenario& sc, std::int64_t gpus) { return servers_base_w(sc.facility, gpus); }

void report_progress(const SimOptions& opt, std::int64_t k, std::int64_t n) {
  if (opt.progress && (k % 65536 == 0 || k + 1 == n)) opt.progress(k + 1, n);
}

}  // namespace

SimResult simulate(const Scenario& sc, const SimOptions& opt) {
  const std::int64_t n = sc.steps();
  GpuModel model(sc.gpu, sc.smoothing, sc.sim.step_ms);
  Facility fac(sc, n);
  SimResult r;
  // Traced racks: per rack, the GPU count of each cohort of the job that owns it.
  struct RackTrace {
    std::size_t job;
    std::vector<double> cohort_gpus;
    double base_w;
  };
  std::vector<RackTrace> traced;
  std::vector<std::unique_ptr<JobRunner>> runners;
  const std::int64_t per_rack = gpus_per_rack(sc);
  for (std::size_t j = 0; j < sc.jobs.size(); ++j) {
    bool need_rack = static_cast<std::int64_t>(traced.size()) < opt.trace_racks;
    JobLayout lay = build_layout(sc.jobs[j], sc.sim.step_ms, sc.sim.seed, j, need_rack);
    for (std::int64_t rk = 0; need_rack && rk < sc.racks_of_job(j) &&
                              static_cast<std::int64_t>(traced.size()) < opt.trace_racks;
         ++rk) {
      RackTrace t{j, std::vector<double>(lay.cohorts.size(), 0.0), 0.0};
      std::int64_t g0 = rk * per_rack, g1 = std::min(sc.jobs[j].gpus, g0 + per_rack);
      for (std::int64_t g = g0; g < g1; ++g) t.cohort_gpus[static_cast<std::size_t>(lay.gpu_cohort[static_cast<std::size_t>(g)])] += 1;
      t.base_w = rack_base_w(sc, g1 - g0);
      traced.push_back(std::move(t));
    }
    r.cohorts += static_cast<std::int64_t>(lay.cohorts.size());
    runners.push_back(std::make_unique<JobRunner>(sc, j, model, std::move(lay.cohorts)));
  }
  r.rack_w.assign(traced.size(), std::vector<double>(static_cast<std::size_t>(n)));
  std::vector<double> job_base_w;
  for (const auto& job : sc.jobs) job_base_w.push_back(servers_base_w(sc.facility, job.gpus));
  if (opt.trace_jobs) r.job_w.assign(sc.jobs.size(), std::vector<double>(static_cast<std::size_t>(n)));
  for (std::int64_t k = 0; k < n; ++k) {
    double gpu_w = 0;
    for (std::size_t j = 0; j < runners.size(); ++j) {
      const double w = runners[j]->step(k);
      gpu_w += w;
      if (opt.trace_jobs)
        r.job_w[j][static_cast<std::size_t>(k)] = (w + job_base_w[j]) / sc.facility.psu_efficiency;
    }
    fac.record(k, gpu_w);
    for (std::size_t t = 0; t < traced.size(); ++t) {
      const JobRunner& jr = *runners[traced[t].job];
      double w = traced[t].base_w;
      for (std::size_t c = 0; c < jr.units(); ++c) w += traced[t].cohort_gpus[c] * jr.unit_power(c);
      r.rack_w[t][static_cast<std::size_t>(k)] = w / sc.facility.psu_efficiency;
    }
    report_progress(opt, k, n);
  }
  fac.finish(r, runners);
  return r;
}

SimResult simulate_reference(const Scenario& sc, const SimOptions& opt) {
  const std::int64_t n = sc.steps();
  GpuModel model(sc.gpu, sc.smoothing, sc.sim.step_ms);
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
    runners.push_back(std::make_unique<JobRunner>(sc, j, model, std::move(gpus)));
  }
  int racks_traced = static_cast<int>(std::min<std::int64_t>(opt.trace_racks, sc.total_racks()));
  r.rack_w.assign(static_cast<std::size_t>(racks_traced), std::vector<double>(static_cast<std::size_t>(n)));
  if (opt.trace_jobs) r.job_w.assign(sc.jobs.size(), std::vector<double>(static_cast<std::size_t>(n)));
  for (std::int64_t k = 0; k < n; ++k) {
    // Facility IT power = sum over racks of (GPUs in the rack + its servers' base power).
    double it_w = 0;
    int rack_id = 0;
    for (std::size_t j = 0; j < runners.size(); ++j) {
      runners[j]->step(k);
      for (std::int64_t g0 = 0; g0 < sc.jobs[j].gpus; g0 += per_rack, ++rack_id) {
        std::int64_t g1 = std::min(sc.jobs[j].gpus, g0 + per_rack);
        double rack = rack_base_w(sc, g1 - g0);
        for (std::int64_t g = g0; g < g1; ++g) rack += runners[j]->unit_power(static_cast<std::size_t>(g));
        if (rack_id < racks_traced)
          r.rack_w[static_cast<std::size_t>(rack_id)][static_cast<std::size_t>(k)] = rack / sc.facility.psu_efficiency;
        if (opt.trace_jobs) r.job_w[j][static_cast<std::size_t>(k)] += rack / sc.facility.psu_efficiency;
        it_w += rack;
      }
    }
    fac.record(k, it_w - fac.server_base_w());
    report_progress(opt, k, n);
  }
  fac.finish(r, runners);
  return r;
}

}  // namespace keel::power
