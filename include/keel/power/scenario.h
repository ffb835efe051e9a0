#pragma once
// A power scenario: GPUs, facility hierarchy, jobs and mitigations, loaded from TOML.
// Every key and unit is documented in examples/power/default.toml.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::core {
class ConfigSection;
}

namespace keel::power {

struct Replay;

struct SimulationParams {
  double duration_s = 120;
  double step_ms = 1;
  std::uint64_t seed = 1;

  bool operator==(const SimulationParams&) const = default;
};

// What a GPU's hardware allows, by model (gpu_limits): the seed paper's GB200 limits, GB300 the
// same, H100 without power smoothing; "custom" checks nothing. Sources in `source`.
struct GpuLimits {
  std::string model = "custom";
  bool smoothing = true;       // NVML power smoothing exists
  double max_floor_pct = 100;  // highest Minimum Power Floor, % of TDP
  double min_edp_factor = 0;   // the electrical design point (EDP) is at least this x TDP
  double edp_peak_ms = 0;      // onsets may exceed TDP, up to the EDP, for about this long
  double tdp_window_s = 0;     // TDP is held on average over this window
  double default_tdp_w = 1200;
  std::string source;
};
// Throws core::InputError for a model keel does not know.
GpuLimits gpu_limits(std::string_view model);

// Power levels and first-order response of one GPU.
struct GpuParams {
  std::string model = "custom";  // hardware profile (GpuLimits): "gb200", "gb300", "h100", "custom"
  double tdp_w = 1200;
  double idle_w = 150;
  double comm_w = 250;     // communication phase (waiting in collectives)
  double compute_w = 1150; // compute phase
  double checkpoint_w = 150;
  double time_constant_ms = 15;
  // Onset overshoot: when compute starts after an idle gap g, demand rises above compute_w by
  // onset_overshoot_w x (1 - exp(-g / onset_gap_ms)), decaying with onset_decay_ms (a
  // power-capping controller catching up; docs/power.md). 0 = none.
  double onset_overshoot_w = 0;
  double onset_decay_ms = 100;
  double onset_gap_ms = 20;
  // Electrical design point: with it, power above TDP (onset overshoot) is capped at edp_w, and
  // only for the profile's edp_peak_ms after a compute onset. 0 = no cap.
  double edp_w = 0;
  double edp_peak_ms = 0;
  // The profile's TDP averaging window (gb200/gb300: 1 s): once the GPU's average power over it
  // reaches TDP, nothing above TDP is allowed (no EDP peak) until it falls back. 0 = none.
  double tdp_window_ms = 0;

  bool operator==(const GpuParams&) const = default;
};

struct FacilityParams {
  int gpus_per_server = 4;
  int servers_per_rack = 18;
  double server_base_w = 1500;  // non-GPU power per server (CPUs, NICs, fans)
  double psu_efficiency = 0.94; // AC -> DC conversion
  double cooling_overhead_fraction = 0.15; // cooling power per unit of IT power (PUE - 1)
  double cooling_time_constant_s = 60;     // cooling follows heat slowly
  double fixed_overhead_mw = 1.0;          // lighting, offices, base loads

  bool operator==(const FacilityParams&) const = default;
};

struct JobParams {
  std::string name = "job";
  std::int64_t gpus = 0;
  double compute_ms = 0;
  double comm_ms = 0;
  double jitter_pct = 0;             // per-iteration std. dev. of compute time, % (whole job)
  double offset_std_ms = 0;          // per-GPU launch skew, |N(0, sd)|, static per GPU
  double straggler_fraction = 0;     // fraction of GPUs that compute slower
  double straggler_slowdown_pct = 0; // how much slower they are, %
  std::int64_t checkpoint_every_iters = 0;  // 0 = never
  double checkpoint_ms = 0;
  double start_s = 0;
  std::optional<double> stop_s;  // planned stop
  std::optional<double> fail_s;  // sudden failure: all GPUs drop at once
  // A measured timeline replayed instead of the synthetic iterations (compute/comm/jitter/
  // offsets/checkpoints then come from the measurement).
  std::shared_ptr<const Replay> replay;
  std::string timeline_path;
  bool timeline_repeat = true;  // loop the timeline to fill the window; else the job stops at its end
  // [job.gpu]: this job's GPUs when they differ from the scenario's [gpu] (an H100 job beside a
  // GB200 one); missing keys take [gpu]'s values.
  std::optional<GpuParams> gpu;
  // Placement: the job's racks are [first_rack, first_rack + racks). Defaults: right after the
  // previous job's racks, and as many racks as its GPUs fill (GPUs fill racks in order; racks
  // beyond the last GPU stay empty).
  std::int64_t first_rack = 0;
  std::int64_t racks = 0;

  // Mean GPU power over one nominal iteration.
  double mean_iteration_power_w(const GpuParams& g) const;

  bool operator==(const JobParams&) const = default;
};

// Software mitigation: a secondary workload fills low-power phases up to a floor, and the job's
// start and stop are ramped.
struct SoftwareParams {
  bool configured = false;  // the scenario has this table (compare can toggle it)
  bool enabled = false;
  double floor_fraction_of_tdp = 0;
  double startup_delay_ms = 0;     // from entering a low phase until the filler draws power
  double comm_slowdown_pct = 0;    // how much the filler stretches the communication phase
  double start_ramp_s = 0;
  double stop_ramp_s = 0;

  bool operator==(const SoftwareParams&) const = default;
};

// GPU power smoothing with NVML's parameters (GB200).
struct SmoothingParams {
  bool configured = false;  // the scenario has this table (compare can toggle it)
  bool enabled = false;
  double percent_tmp_floor = 0;  // floor, % of TDP
  double ramp_up_rate_w_per_s = 0;
  double ramp_down_rate_w_per_s = 0;
  double ramp_down_hysteresis_ms = 0;

  bool operator==(const SmoothingParams&) const = default;
};

// psu: energy storage in the racks' power supplies (GB300 NVL72: ~65 J per GPU), sized per GPU
// and modelled per rack as the sum of its servers' supplies (exact when they carry the same load).
enum class StorageLevel { rack, facility, psu };
// Whether the level keeps one battery per rack (rack, psu) rather than one for the site.
inline bool per_rack(StorageLevel l) { return l != StorageLevel::facility; }
const char* storage_level_name(StorageLevel l);

struct StorageParams {
  bool configured = false;  // the scenario has this table (compare can toggle it)
  bool enabled = false;
  StorageLevel level = StorageLevel::facility;
  double energy_kwh = 0;  // per rack at rack and psu level (psu: derived), total at facility level
  double power_kw = 0;    // same
  // psu level: sizes per GPU, and GB300's job-edge behaviour: the power cap ramps from idle to
  // TDP over start_ramp_s when a job starts (compute slowed as the cap binds); at a planned stop
  // the GPUs keep burning power, ramping from the job's mean power to idle over stop_burn_s.
  double energy_j_per_gpu = 0, power_w_per_gpu = 0;
  double start_ramp_s = 0, stop_burn_s = 0;
  double round_trip_efficiency = 0.9;
  double soc_min = 0.1, soc_max = 0.9, soc_initial = 0.5;
  double filter_time_constant_s = 10;  // the grid sees a low-pass of the load
  double soc_restore_time_s = 300;     // slow pull back to soc_initial

  bool operator==(const StorageParams&) const = default;
};

// Coordinated control (the seed paper's recommended design, Sec. IV): GPU smoothing and the
// storage share the battery's state. While every battery a job's racks see has headroom, the
// job's GPUs run a relaxed smoothing profile (by default [mitigation.smoothing]'s ramps without
// its floor) and the storage absorbs the swings; when one nears a limit — within engage_margin of
// soc_min or soc_max, or delivering engage_power_fraction of its power rating — the job switches
// to the full profile ([mitigation.smoothing]: floor and ramp limits), and back once every such
// battery is release_margin inside both SoC limits and below release_power_fraction of its
// rating. Switching changes the profile's parameters, not the power: it ramps at the new rates.
// Facility storage: one battery for every job.
struct CoordinationParams {
  bool configured = false;  // the scenario has this table (compare adds coordinated variants)
  bool enabled = false;
  double engage_margin = 0.1;   // SoC fraction from a limit at which the profile switches on
  double release_margin = 0.2;  // ... and how far inside both limits before it switches off
  double engage_power_fraction = 0.95;  // battery power, of its rating, that switches it on
  double release_power_fraction = 0.5;  // ... and below which it may switch off
  // The relaxed profile (defaults: no floor, [mitigation.smoothing]'s ramps and hysteresis).
  double relaxed_floor_pct = 0;
  double relaxed_ramp_up_rate_w_per_s = 0, relaxed_ramp_down_rate_w_per_s = 0;
  double relaxed_ramp_down_hysteresis_ms = 0;

  bool operator==(const CoordinationParams&) const = default;
};

struct Scenario {
  std::string name = "scenario";
  SimulationParams sim;
  GpuParams gpu;
  FacilityParams facility;
  std::vector<JobParams> jobs;
  SoftwareParams software;
  SmoothingParams smoothing;
  StorageParams storage;
  CoordinationParams coordinated;

  // Whether coordinated control runs: configured on, with both smoothing and storage on.
  bool coordinating() const { return coordinated.enabled && smoothing.enabled && storage.enabled; }

  std::int64_t total_gpus() const;
  std::int64_t steps() const;
  // Racks of job j (jobs do not share racks); its first rack's index.
  std::int64_t racks_of_job(std::size_t j) const;
  std::int64_t first_rack_of_job(std::size_t j) const;
  std::int64_t total_racks() const;
  std::int64_t gpus_per_rack() const;
  // The GPU parameters of job j: its [job.gpu], else [gpu].
  const GpuParams& gpu_of(std::size_t j) const;

  bool operator==(const Scenario&) const = default;
};

// Parses and validates; throws core::InputError naming file:line:col and key.
Scenario parse_scenario(const core::ConfigSection& root);
Scenario load_scenario(const std::filesystem::path& file);
// The [facility] table of a scenario file (checked whole), or of a file holding only that table.
FacilityParams load_facility(const std::filesystem::path& file);

}  // namespace keel::power
