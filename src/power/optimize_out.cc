// The settings `optimize` chose, in the forms a user takes them away in: a sentence, TOML tables
// to paste into the scenario, and structured JSON.
#include <fmt/format.h>

#include "keel/power/optimize.h"

namespace keel::power {

namespace {
double storage_units(const Scenario& sc) {
  return per_rack(sc.storage.level) ? static_cast<double>(sc.total_racks()) : 1.0;
}
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
    const double units = storage_units(sc);
    parts.push_back(fmt::format(
        "storage {:.1f} MW / {:.2f} MWh, filter {:.0f} s", sc.storage.power_kw * units / 1e3,
        sc.storage.energy_kwh * units / 1e3, sc.storage.filter_time_constant_s));
  }
  std::string out;
  for (const auto& s : parts) out += (out.empty() ? "" : "; ") + s;
  return out.empty() ? "none" : out;
}

std::string mitigations_toml(const Scenario& sc) {
  std::string t;
  const SoftwareParams& sw = sc.software;
  if (sw.enabled || sw.configured) {
    t += fmt::format("[mitigation.software]\nenabled = {}\n", sw.enabled);
    if (sw.enabled)
      t += fmt::format(
          "floor_fraction_of_tdp = {:.6g}\nstartup_delay_ms = {:.6g}\n"
          "comm_slowdown_pct = {:.6g}\nstart_ramp_s = {:.6g}\nstop_ramp_s = {:.6g}\n",
          sw.floor_fraction_of_tdp, sw.startup_delay_ms, sw.comm_slowdown_pct, sw.start_ramp_s,
          sw.stop_ramp_s);
  }
  const SmoothingParams& sm = sc.smoothing;
  if (sm.enabled || sm.configured) {
    t += fmt::format("{}[mitigation.smoothing]\nenabled = {}\n", t.empty() ? "" : "\n", sm.enabled);
    if (sm.enabled)
      t += fmt::format(
          "percent_tmp_floor = {:.6g}\nramp_up_rate_w_per_s = {:.6g}\n"
          "ramp_down_rate_w_per_s = {:.6g}\nramp_down_hysteresis_ms = {:.6g}\n",
          sm.percent_tmp_floor, sm.ramp_up_rate_w_per_s, sm.ramp_down_rate_w_per_s,
          sm.ramp_down_hysteresis_ms);
  }
  const StorageParams& st = sc.storage;
  if (st.enabled || st.configured) {
    t += fmt::format("{}[mitigation.storage]\nenabled = {}\n", t.empty() ? "" : "\n", st.enabled);
    if (st.enabled) {
      t += fmt::format("level = \"{}\"\n", storage_level_name(st.level));
      if (st.level == StorageLevel::psu) {
        // Sized per GPU: the per-rack totals (what the search varies) over the rack's GPUs.
        const double gpus = static_cast<double>(sc.gpus_per_rack());
        t += fmt::format("energy_j_per_gpu = {:.6g}\npower_w_per_gpu = {:.6g}\nstart_ramp_s = "
                         "{:.6g}\nstop_burn_s = {:.6g}\n",
                         st.energy_kwh * 3.6e6 / gpus, st.power_kw * 1000.0 / gpus,
                         st.start_ramp_s, st.stop_burn_s);
      } else {
        t += fmt::format("energy_kwh = {:.6g}\npower_kw = {:.6g}\n", st.energy_kwh, st.power_kw);
      }
      t += fmt::format(
          "round_trip_efficiency = {:.6g}\nsoc_min = {:.6g}\nsoc_max = {:.6g}\n"
          "soc_initial = {:.6g}\nfilter_time_constant_s = {:.6g}\n"
          "soc_restore_time_s = {:.6g}\n",
          st.round_trip_efficiency, st.soc_min, st.soc_max, st.soc_initial,
          st.filter_time_constant_s, st.soc_restore_time_s);
    }
  }
  return t;
}

nlohmann::json mitigations_json(const Scenario& sc) {
  nlohmann::json j = nlohmann::json::object();
  if (sc.software.enabled)
    j["software"] = {{"floor_fraction_of_tdp", sc.software.floor_fraction_of_tdp},
                     {"startup_delay_ms", sc.software.startup_delay_ms},
                     {"comm_slowdown_pct", sc.software.comm_slowdown_pct},
                     {"start_ramp_s", sc.software.start_ramp_s},
                     {"stop_ramp_s", sc.software.stop_ramp_s}};
  if (sc.smoothing.enabled)
    j["smoothing"] = {{"percent_tmp_floor", sc.smoothing.percent_tmp_floor},
                      {"ramp_up_rate_w_per_s", sc.smoothing.ramp_up_rate_w_per_s},
                      {"ramp_down_rate_w_per_s", sc.smoothing.ramp_down_rate_w_per_s},
                      {"ramp_down_hysteresis_ms", sc.smoothing.ramp_down_hysteresis_ms}};
  if (sc.storage.enabled) {
    const double units = storage_units(sc);
    j["storage"] = {{"level", storage_level_name(sc.storage.level)},
                    {"energy_kwh", sc.storage.energy_kwh},
                    {"power_kw", sc.storage.power_kw},
                    {"total_energy_mwh", sc.storage.energy_kwh * units / 1e3},
                    {"total_power_mw", sc.storage.power_kw * units / 1e3},
                    {"filter_time_constant_s", sc.storage.filter_time_constant_s}};
  }
  return j;
}

}  // namespace keel::power
