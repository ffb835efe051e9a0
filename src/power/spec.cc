#include "keel/power/spec.h"

#include <fmt/format.h>

#include <algorithm>

#include "keel/core/config.h"

namespace keel::power {

using core::Range;

bool Spec::has_limits() const {
  return max_ramp_up_mw_per_s || max_ramp_down_mw_per_s || max_swing_mw || max_swing_pct ||
         max_band_amplitude_mw || max_band_energy_fraction;
}

std::string Spec::window_text() const {
  const double from = std::max(exclude_start_s, from_s.value_or(0.0));
  return to_s ? fmt::format("{:g}-{:g} s", from, *to_s) : fmt::format("{:g} s to the end", from);
}

Spec parse_spec(const core::ConfigSection& root) {
  const Range positive{0, 1e308, true}, non_neg{0};
  Spec s;
  s.name = root.string_or("name", "spec");
  s.illustrative = root.boolean_or("illustrative", false);
  s.exclude_start_s = root.number_in("exclude_start_s", 0.0, non_neg);
  if (auto t = root.table("time_domain")) {
    s.ramp_window_s = t->number_in("ramp_window_s", s.ramp_window_s, positive);
    s.max_ramp_up_mw_per_s = t->optional_number_in("max_ramp_up_mw_per_s", non_neg);
    s.max_ramp_down_mw_per_s = t->optional_number_in("max_ramp_down_mw_per_s", non_neg);
    s.swing_window_s = t->number_in("swing_window_s", s.swing_window_s, positive);
    s.max_swing_mw = t->optional_number_in("max_swing_mw", non_neg);
    s.max_swing_pct = t->optional_number_in("max_swing_pct", {0, 100});
  }
  if (auto f = root.table("frequency_domain")) {
    s.f_lo_hz = f->number_in("f_lo_hz", s.f_lo_hz, non_neg);
    s.f_hi_hz = f->number_in("f_hi_hz", s.f_hi_hz, positive);
    f->check(s.f_lo_hz < s.f_hi_hz, "f_hi_hz", "critical band is empty: f_lo_hz must be < f_hi_hz");
    s.segment_s = f->number_in("segment_s", s.segment_s, positive);
    f->check(s.segment_s * s.f_lo_hz >= 1.0 || s.f_lo_hz == 0, "segment_s",
             "segment too short to resolve f_lo_hz", "use segment_s >= 1 / f_lo_hz");
    s.max_band_amplitude_mw = f->optional_number_in("max_band_amplitude_mw", non_neg);
    s.max_band_energy_fraction = f->optional_number_in("max_band_energy_fraction", {0, 1});
  }
  return s;
}

Spec load_spec(const std::filesystem::path& file) { return core::load_config(file, parse_spec); }

}  // namespace keel::power
