#include "keel/power/scenario.h"

#include <fmt/format.h>

#include <cmath>

#include "keel/core/config.h"
#include "keel/core/timeline.h"
#include "keel/power/replay.h"

namespace keel::power {

using core::ConfigSection;
using core::Range;

double JobParams::mean_iteration_power_w(const GpuParams& g) const {
  double total = compute_ms + comm_ms;
  return total > 0 ? (g.compute_w * compute_ms + g.comm_w * comm_ms) / total : g.comm_w;
}

std::int64_t Scenario::total_gpus() const {
  std::int64_t n = 0;
  for (const auto& j : jobs) n += j.gpus;
  return n;
}

std::int64_t Scenario::steps() const {
  return static_cast<std::int64_t>(std::llround(sim.duration_s * 1000.0 / sim.step_ms));
}

std::int64_t Scenario::gpus_per_rack() const {
  return std::int64_t{facility.gpus_per_server} * facility.servers_per_rack;
}

std::int64_t Scenario::racks_of_job(std::size_t j) const {
  const auto& job = jobs.at(j);
  return job.racks > 0 ? job.racks : (job.gpus + gpus_per_rack() - 1) / gpus_per_rack();
}

std::int64_t Scenario::first_rack_of_job(std::size_t j) const { return jobs.at(j).first_rack; }

std::int64_t Scenario::total_racks() const {
  std::int64_t n = 0;
  for (std::size_t j = 0; j < jobs.size(); ++j) n += racks_of_job(j);
  return n;
}

const GpuParams& Scenario::gpu_of(std::size_t j) const {
  const auto& g = jobs.at(j).gpu;
  return g ? *g : gpu;
}

GpuLimits gpu_limits(std::string_view model) {
  GpuLimits l;
  l.model = std::string(model);
  const std::string paper =
      "Choukse et al., Power Stabilization for AI Training Datacenters, arXiv 2508.14318, Sec. III";
  if (model == "custom") {
    l.source = "no hardware profile: nothing checked";
  } else if (model == "gb200" || model == "gb300") {
    l.max_floor_pct = 90;
    l.min_edp_factor = 1.1;
    l.edp_peak_ms = 50;
    l.tdp_window_s = 1;
    l.default_tdp_w = model == "gb200" ? 1200 : 1400;
    l.source = model == "gb200" ? paper
                                : paper + "; GB300 NVL72 keeps GB200's smoothing (NVIDIA, 2025)";
  } else if (model == "h100") {
    l.smoothing = false;
    l.default_tdp_w = 700;
    l.source = "NVML power smoothing is a Blackwell feature (" + paper + "); H100 has none";
  } else {
    throw core::InputError("unknown GPU model '" + std::string(model) + "'", {},
                           "use \"gb200\", \"gb300\", \"h100\" or \"custom\"");
  }
  return l;
}

namespace {

const Range kNonNeg{0};
const Range kPositive{0, 1e308, true};
const Range kFraction{0, 1};
const Range kPercent{0, 100};

std::int64_t positive_integer(const ConfigSection& s, std::string_view key,
                              std::optional<std::int64_t> fallback) {
  std::int64_t v = fallback && !s.has(key) ? *fallback : s.integer(key);
  s.check(v > 0, key, "must be a positive integer");
  return v;
}

void parse_gpu(const ConfigSection& s, GpuParams& g) {
  if (s.has("model")) {
    g.model = s.string("model");
    try {
      const GpuLimits lim = gpu_limits(g.model);
      if (!s.has("tdp_w")) g.tdp_w = lim.default_tdp_w;
      g.edp_peak_ms = lim.edp_peak_ms;
      g.tdp_window_ms = lim.tdp_window_s * 1000;
      if (g.model == "h100") {
        // Fitted on the committed H100 probes (keel power fit, docs/power.md): +183..+268 W,
        // 200-500 ms decay, gap scale ~10 ms, over a settled compute level of ~610-700 W.
        g.onset_overshoot_w = 200;
        g.onset_decay_ms = 200;
        g.onset_gap_ms = 10;
        g.compute_w = 650;
        g.idle_w = 130;
        g.comm_w = 400;
        g.checkpoint_w = 130;
      }
    } catch (const core::InputError& e) {
      s.fail("model", e.bare_message(), e.hint());
    }
  }
  const GpuLimits lim = gpu_limits(g.model);
  g.tdp_w = s.number_in("tdp_w", g.tdp_w, kPositive);
  if (s.has("edp_w")) {
    g.edp_w = s.number_in("edp_w", std::nullopt, kPositive);
    s.check(g.edp_w >= lim.min_edp_factor * g.tdp_w, "edp_w",
            fmt::format("{:g} W is below {}'s minimum electrical design point, {:g} x TDP = {:g} W "
                        "({})",
                        g.edp_w, lim.model, lim.min_edp_factor, lim.min_edp_factor * g.tdp_w,
                        lim.source),
            "raise edp_w or leave it out");
    s.check(g.edp_w >= g.tdp_w, "edp_w", "must be at least tdp_w");
  } else if (lim.min_edp_factor > 0) {
    g.edp_w = lim.min_edp_factor * g.tdp_w;
  }
  Range level{0, g.tdp_w};
  g.idle_w = s.number_in("idle_w", g.idle_w, level);
  g.comm_w = s.number_in("comm_w", g.comm_w, level);
  g.compute_w = s.number_in("compute_w", g.compute_w, level);
  g.checkpoint_w = s.number_in("checkpoint_w", g.idle_w, level);
  g.time_constant_ms = s.number_in("time_constant_ms", g.time_constant_ms, kNonNeg);
  g.onset_overshoot_w = s.number_in("onset_overshoot_w", g.onset_overshoot_w, kNonNeg);
  g.onset_decay_ms = s.number_in("onset_decay_ms", g.onset_decay_ms, kPositive);
  g.onset_gap_ms = s.number_in("onset_gap_ms", g.onset_gap_ms, kPositive);
}

void parse_facility(const ConfigSection& s, FacilityParams& f) {
  f.gpus_per_server = static_cast<int>(positive_integer(s, "gpus_per_server", f.gpus_per_server));
  f.servers_per_rack = static_cast<int>(positive_integer(s, "servers_per_rack", f.servers_per_rack));
  f.server_base_w = s.number_in("server_base_w", f.server_base_w, kNonNeg);
  f.psu_efficiency = s.number_in("psu_efficiency", f.psu_efficiency, {0, 1, true});
  f.cooling_overhead_fraction =
      s.number_in("cooling_overhead_fraction", f.cooling_overhead_fraction, kNonNeg);
  f.cooling_time_constant_s = s.number_in("cooling_time_constant_s", f.cooling_time_constant_s, kNonNeg);
  f.fixed_overhead_mw = s.number_in("fixed_overhead_mw", f.fixed_overhead_mw, kNonNeg);
}

// A job whose workload is a measured timeline; the synthetic workload keys must be absent.
void parse_timeline(const ConfigSection& s, JobParams& j) {
  std::filesystem::path p = s.string("timeline");
  if (p.is_relative()) p = std::filesystem::path(s.location_of("timeline").file).parent_path() / p;
  j.timeline_path = p.string();
  j.replay = std::make_shared<Replay>(make_replay(core::read_timeline_csv(p), j.timeline_path));
  j.timeline_repeat = s.boolean_or("timeline_repeat", true);
  for (const char* key : {"compute_ms", "comm_ms", "jitter_pct", "offset_std_ms",
                          "straggler_fraction", "straggler_slowdown_pct",
                          "checkpoint_every_iters", "checkpoint_ms"})
    s.check(!s.has(key), key, "not used with a timeline", "the measured timeline sets the phases");
  j.compute_ms = 1000.0 * j.replay->mean_compute_s;
  j.comm_ms = std::max(0.0, 1000.0 * (j.replay->mean_iteration_s - j.replay->mean_compute_s));
}

JobParams parse_job(const ConfigSection& s, std::size_t index, const GpuParams& site_gpu) {
  JobParams j;
  j.name = s.string_or("name", "job" + std::to_string(index));
  j.gpus = positive_integer(s, "gpus", std::nullopt);
  if (auto g = s.table("gpu")) {
    GpuParams own = site_gpu;
    parse_gpu(*g, own);
    j.gpu = own;
  }
  if (s.has("racks")) j.racks = positive_integer(s, "racks", std::nullopt);
  j.first_rack = s.integer_or("first_rack", -1);  // -1: after the previous job (set by the caller)
  if (s.has("first_rack")) s.check(j.first_rack >= 0, "first_rack", "must be >= 0 (racks count from 0)");
  j.start_s = s.number_in("start_s", 0.0, kNonNeg);
  j.stop_s = s.optional_number_in("stop_s", kNonNeg);
  j.fail_s = s.optional_number_in("fail_s", kNonNeg);
  if (j.stop_s) s.check(*j.stop_s > j.start_s, "stop_s", "must be after start_s");
  if (j.fail_s) s.check(*j.fail_s > j.start_s, "fail_s", "must be after start_s");
  if (s.has("timeline")) {
    parse_timeline(s, j);
    return j;
  }
  j.compute_ms = s.number_in("compute_ms", std::nullopt, kPositive);
  j.comm_ms = s.number_in("comm_ms", std::nullopt, kNonNeg);
  j.jitter_pct = s.number_in("jitter_pct", 0.0, {0, 50});
  j.offset_std_ms = s.number_in("offset_std_ms", 0.0, kNonNeg);
  j.straggler_fraction = s.number_in("straggler_fraction", 0.0, kFraction);
  j.straggler_slowdown_pct = s.number_in("straggler_slowdown_pct", 0.0, kNonNeg);
  j.checkpoint_every_iters = s.integer_or("checkpoint_every_iters", 0);
  s.check(j.checkpoint_every_iters >= 0, "checkpoint_every_iters", "must be >= 0 (0 = never)");
  j.checkpoint_ms = s.number_in("checkpoint_ms", 0.0, kNonNeg);
  return j;
}

void parse_software(const ConfigSection& s, SoftwareParams& p) {
  p.configured = true;
  p.enabled = s.boolean_or("enabled", true);
  p.floor_fraction_of_tdp = s.number_in("floor_fraction_of_tdp", 0.0, kFraction);
  p.startup_delay_ms = s.number_in("startup_delay_ms", 0.0, kNonNeg);
  p.comm_slowdown_pct = s.number_in("comm_slowdown_pct", 0.0, kNonNeg);
  p.start_ramp_s = s.number_in("start_ramp_s", 0.0, kNonNeg);
  p.stop_ramp_s = s.number_in("stop_ramp_s", 0.0, kNonNeg);
}

void parse_smoothing(const ConfigSection& s, SmoothingParams& p) {
  p.configured = true;
  p.enabled = s.boolean_or("enabled", true);
  p.percent_tmp_floor = s.number_in("percent_tmp_floor", 0.0, kPercent);
  p.ramp_up_rate_w_per_s = s.number_in("ramp_up_rate_w_per_s", std::nullopt, kPositive);
  p.ramp_down_rate_w_per_s = s.number_in("ramp_down_rate_w_per_s", std::nullopt, kPositive);
  p.ramp_down_hysteresis_ms = s.number_in("ramp_down_hysteresis_ms", 0.0, kNonNeg);
}

void parse_storage(const ConfigSection& s, StorageParams& p) {
  p.configured = true;
  p.enabled = s.boolean_or("enabled", true);
  std::string level = s.string_or("level", "facility");
  if (level == "rack") p.level = StorageLevel::rack;
  else if (level == "facility") p.level = StorageLevel::facility;
  else if (level == "psu") p.level = StorageLevel::psu;
  else s.fail("level", "unknown storage level '" + level + "'", "use \"rack\", \"facility\" or \"psu\"");
  const bool psu = p.level == StorageLevel::psu;
  if (psu) {
    // Sized per GPU (65 J: what NVIDIA reports for GB300 NVL72's power supplies); the per-rack
    // totals follow from the facility once it is parsed (parse_scenario).
    s.check(!s.has("energy_kwh") && !s.has("power_kw"), s.has("energy_kwh") ? "energy_kwh" : "power_kw",
            "psu storage is sized per GPU: use energy_j_per_gpu and power_w_per_gpu");
    p.energy_j_per_gpu = s.number_in("energy_j_per_gpu", 65.0, kPositive);
    p.power_w_per_gpu = s.number_in("power_w_per_gpu", std::nullopt, kPositive);
    p.start_ramp_s = s.number_in("start_ramp_s", 0.0, kNonNeg);
    p.stop_burn_s = s.number_in("stop_burn_s", 0.0, kNonNeg);
    // Supply capacitors cover milliseconds, not seconds: a fast filter and a quick recharge.
    p.filter_time_constant_s = 0.1;
    p.soc_restore_time_s = 2;
  } else {
    for (const char* k : {"energy_j_per_gpu", "power_w_per_gpu", "start_ramp_s", "stop_burn_s"})
      s.check(!s.has(k), k, "only psu storage (level = \"psu\") takes this key");
    p.energy_kwh = s.number_in("energy_kwh", std::nullopt, kPositive);
    p.power_kw = s.number_in("power_kw", std::nullopt, kPositive);
  }
  p.round_trip_efficiency = s.number_in("round_trip_efficiency", p.round_trip_efficiency, {0, 1, true});
  p.soc_min = s.number_in("soc_min", p.soc_min, kFraction);
  p.soc_max = s.number_in("soc_max", p.soc_max, kFraction);
  s.check(p.soc_min < p.soc_max, "soc_max", "must be greater than soc_min");
  p.soc_initial = s.number_in("soc_initial", 0.5 * (p.soc_min + p.soc_max), {p.soc_min, p.soc_max});
  p.filter_time_constant_s = s.number_in("filter_time_constant_s", p.filter_time_constant_s, kPositive);
  p.soc_restore_time_s = s.number_in("soc_restore_time_s", p.soc_restore_time_s, kPositive);
}

// Coordinated control needs both halves it coordinates, and margins that leave a band between
// engaging and releasing inside the storage's SoC limits.
void parse_coordinated(const ConfigSection& s, Scenario& sc) {
  CoordinationParams& p = sc.coordinated;
  p.configured = true;
  p.enabled = s.boolean_or("enabled", true);
  s.check(sc.smoothing.configured && sc.storage.configured, "enabled",
          fmt::format("coordinated control shares the storage's state of charge with GPU smoothing, "
                      "but [mitigation.{}] is missing",
                      sc.smoothing.configured ? "storage" : "smoothing"),
          "add it (see examples/power/default.toml)");
  const double half = 0.5 * (sc.storage.soc_max - sc.storage.soc_min);
  p.engage_margin = s.number_in("engage_margin", std::min(p.engage_margin, 0.25 * half), {0, half});
  p.release_margin = s.number_in("release_margin", std::min(p.release_margin, 0.5 * half), {0, half});
  s.check(p.release_margin > p.engage_margin, "release_margin",
          fmt::format("must be greater than engage_margin ({:g}): the profile would switch on and "
                      "off at the same state of charge",
                      p.engage_margin));
  p.engage_power_fraction = s.number_in("engage_power_fraction", p.engage_power_fraction, {0, 1, true});
  p.release_power_fraction =
      s.number_in("release_power_fraction", std::min(p.release_power_fraction, p.engage_power_fraction),
                  {0, p.engage_power_fraction});
  p.relaxed_floor_pct = s.number_in("relaxed_floor_pct", 0.0, {0, sc.smoothing.percent_tmp_floor});
  p.relaxed_ramp_up_rate_w_per_s =
      s.number_in("relaxed_ramp_up_rate_w_per_s", sc.smoothing.ramp_up_rate_w_per_s, kPositive);
  p.relaxed_ramp_down_rate_w_per_s =
      s.number_in("relaxed_ramp_down_rate_w_per_s", sc.smoothing.ramp_down_rate_w_per_s, kPositive);
  p.relaxed_ramp_down_hysteresis_ms =
      s.number_in("relaxed_ramp_down_hysteresis_ms", sc.smoothing.ramp_down_hysteresis_ms, kNonNeg);
}

// Smoothing within what the GPUs allow: the floor under every profile's maximum, and some job
// whose GPU has smoothing at all (jobs on GPUs without it are not smoothed).
void check_smoothing_hardware(const Scenario& sc, const ConfigSection& s) {
  bool any = false;
  for (std::size_t j = 0; j < sc.jobs.size(); ++j) {
    const GpuLimits lim = gpu_limits(sc.gpu_of(j).model);
    if (!lim.smoothing) continue;
    any = true;
    s.check(sc.smoothing.percent_tmp_floor <= lim.max_floor_pct, "percent_tmp_floor",
            fmt::format("{:g} % is above {}'s maximum Minimum Power Floor of {:g} % of TDP ({})",
                        sc.smoothing.percent_tmp_floor, lim.model, lim.max_floor_pct, lim.source),
            fmt::format("use at most {:g}", lim.max_floor_pct));
  }
  if (sc.smoothing.enabled && !any)
    s.fail("enabled",
           fmt::format("no job's GPU has power smoothing ({})",
                       gpu_limits(sc.gpu_of(0).model).source),
           "disable [mitigation.smoothing] or use GPUs that have it (model = \"gb200\")");
}

// Racks of each job: after the previous job unless first_rack says; a job must fit its racks and
// no two jobs may share one.
void place_jobs(Scenario& sc, const std::vector<ConfigSection>& tables) {
  std::int64_t next = 0;
  for (std::size_t i = 0; i < sc.jobs.size(); ++i) {
    auto& job = sc.jobs[i];
    if (job.first_rack < 0) job.first_rack = next;
    const std::int64_t racks = sc.racks_of_job(i);
    tables[i].check(job.gpus <= racks * sc.gpus_per_rack(), "racks",
                    "holds " + std::to_string(racks * sc.gpus_per_rack()) + " GPUs (" +
                        std::to_string(sc.gpus_per_rack()) + " per rack), fewer than the job's " +
                        std::to_string(job.gpus),
                    "raise racks or lower gpus");
    for (std::size_t k = 0; k < i; ++k) {
      const auto& other = sc.jobs[k];
      const std::int64_t o0 = other.first_rack, o1 = o0 + sc.racks_of_job(k);
      if (job.first_rack < o1 && o0 < job.first_rack + racks)
        tables[i].fail(tables[i].has("first_rack") ? "first_rack" : "gpus",
                       "racks " + std::to_string(job.first_rack) + ".." +
                           std::to_string(job.first_rack + racks - 1) + " overlap job '" +
                           other.name + "' (racks " + std::to_string(o0) + ".." +
                           std::to_string(o1 - 1) + ")",
                       "give each job its own racks (first_rack = " + std::to_string(o1) +
                           " or later)");
    }
    next = std::max(next, job.first_rack + racks);
  }
}

}  // namespace

const char* storage_level_name(StorageLevel l) {
  return l == StorageLevel::rack ? "rack" : l == StorageLevel::psu ? "psu" : "facility";
}

Scenario parse_scenario(const ConfigSection& root) {
  Scenario sc;
  sc.name = root.string_or("name", sc.name);
  if (auto s = root.table("simulation")) {
    sc.sim.duration_s = s->number_in("duration_s", sc.sim.duration_s, kPositive);
    sc.sim.step_ms = s->number_in("step_ms", sc.sim.step_ms, {0, 1000, true});
    std::int64_t seed = s->integer_or("seed", 1);
    s->check(seed >= 0, "seed", "must be >= 0");
    sc.sim.seed = static_cast<std::uint64_t>(seed);
    s->check(sc.sim.duration_s * 1000.0 / sc.sim.step_ms <= 2e8, "duration_s",
             "too many time steps (over 2e8)", "raise step_ms or shorten duration_s");
  }
  if (auto s = root.table("gpu")) parse_gpu(*s, sc.gpu);
  if (auto s = root.table("facility")) parse_facility(*s, sc.facility);
  auto jobs = root.table_array("job");
  if (jobs.empty())
    root.fail("job", "scenario has no job", "add at least one [[job]] table with gpus > 0");
  for (std::size_t i = 0; i < jobs.size(); ++i) sc.jobs.push_back(parse_job(jobs[i], i, sc.gpu));
  place_jobs(sc, jobs);
  if (auto m = root.table("mitigation")) {
    if (auto s = m->table("software")) parse_software(*s, sc.software);
    if (auto s = m->table("smoothing")) {
      parse_smoothing(*s, sc.smoothing);
      check_smoothing_hardware(sc, *s);
    }
    if (auto s = m->table("storage")) {
      parse_storage(*s, sc.storage);
      if (sc.storage.level == StorageLevel::psu) {
        // Per rack: the sum of its GPUs' supplies.
        const double gpus = static_cast<double>(sc.gpus_per_rack());
        sc.storage.energy_kwh = sc.storage.energy_j_per_gpu * gpus / 3.6e6;
        sc.storage.power_kw = sc.storage.power_w_per_gpu * gpus / 1000.0;
      }
    }
    if (auto s = m->table("coordinated")) parse_coordinated(*s, sc);
  }
  return sc;
}

Scenario load_scenario(const std::filesystem::path& file) {
  return core::load_config(file, parse_scenario);
}

FacilityParams load_facility(const std::filesystem::path& file) {
  const auto doc = core::ConfigDoc::load_file(file);
  if (doc.root().has("job")) return core::parse_config(doc, parse_scenario).facility;
  return core::parse_config(doc, [](const ConfigSection& root) {
    FacilityParams f;
    if (auto s = root.table("facility")) parse_facility(*s, f);
    return f;
  });
}

}  // namespace keel::power
