#pragma once
// --from-s / --to-s: the evaluation window simulate, compare and analyze judge (spec.h).

#include <CLI/CLI.hpp>

#include "keel/core/error.h"
#include "keel/power/spec.h"

namespace keel::cli {

struct WindowArgs {
  double from_s = -1, to_s = -1;  // < 0: not given
};

inline void add_window_options(CLI::App& cmd, WindowArgs& w) {
  cmd.add_option("--from-s", w.from_s,
                 "Judge metrics and spec clauses from this time on (s; with the spec's "
                 "exclude_start_s the later one wins)");
  cmd.add_option("--to-s", w.to_s, "Judge metrics and spec clauses up to this time (s)");
}

// Copies the window into `spec`; throws core::InputError for a negative or empty window.
inline void apply_window(power::Spec& spec, const WindowArgs& w) {
  if (w.from_s != -1 && w.from_s < 0)
    throw core::InputError("--from-s must be 0 or more", {"", 0, 0, "--from-s"});
  if (w.to_s != -1 && w.to_s <= 0)
    throw core::InputError("--to-s must be greater than 0", {"", 0, 0, "--to-s"});
  if (w.from_s >= 0) spec.from_s = w.from_s;
  if (w.to_s > 0) spec.to_s = w.to_s;
  if (spec.to_s && *spec.to_s <= std::max(spec.exclude_start_s, spec.from_s.value_or(0.0)))
    throw core::InputError(
        "the evaluation window is empty: --to-s must be after --from-s "
        "(and the spec's exclude_start_s)",
        {"", 0, 0, "--to-s"});
}

}  // namespace keel::cli
