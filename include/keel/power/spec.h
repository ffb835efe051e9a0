#pragma once
// A utility's interconnection spec for a large load: time-domain ramp and swing limits and a
// frequency-domain limit in a critical band. Every limit is optional; absent ones are not judged.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace keel::core {
class ConfigSection;
}

namespace keel::power {

struct Spec {
  std::string name = "none";
  bool illustrative = false;
  // time domain
  double ramp_window_s = 1.0;
  std::optional<double> max_ramp_up_mw_per_s, max_ramp_down_mw_per_s;
  double swing_window_s = 10.0;
  std::optional<double> max_swing_mw;
  std::optional<double> max_swing_pct;  // the same swing as a % of the (windowed) peak
  // Evaluation window: every metric and clause is judged on [from, to) seconds of the run, the
  // start-up transient excluded when the spec says so. from = max(exclude_start_s, from_s).
  double exclude_start_s = 0;
  std::optional<double> from_s, to_s;  // set from the command line (--from-s / --to-s)
  // frequency domain
  double f_lo_hz = 0.1, f_hi_hz = 20.0;
  double segment_s = 20.0;  // Welch segment length
  std::optional<double> max_band_amplitude_mw;     // largest spectral line in the band
  std::optional<double> max_band_energy_fraction;  // band variance / total variance

  bool operator==(const Spec&) const = default;
  bool has_limits() const;
  bool windowed() const { return exclude_start_s > 0 || from_s || to_s; }
  // "60-240 s", "60 s to the end": the window as a user reads it.
  std::string window_text() const;
};

Spec parse_spec(const core::ConfigSection& root);
Spec load_spec(const std::filesystem::path& file);

}  // namespace keel::power
