// `keel power fit`: calibrates the [gpu] parameters of a scenario against a measured power log of
// one GPU and the timeline of what it ran. The engine is keel::power (fit.h).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "keel/core/error.h"
#include "keel/core/table.h"
#include "keel/core/timeline.h"
#include "keel/power/fit.h"
#include "keel/power/trace_in.h"
#include "trace_flags.h"

namespace keel::cli {

namespace {

struct FitArgs {
  std::string trace, timeline, gpu;
  TraceFlags read;
  int rank = 0;
  double offset_s = std::numeric_limits<double>::quiet_NaN();
  double from_s = std::numeric_limits<double>::quiet_NaN();
  double to_s = std::numeric_limits<double>::quiet_NaN();
};

void run_fit(const FitArgs& a, const GlobalOptions& g) {
  power::ParsedTrace trace = power::read_trace(a.trace, a.read.read());
  const power::GpuSeries* series = &trace.gpus.front();
  if (!a.gpu.empty()) {
    series = nullptr;
    std::string ids;
    for (const auto& s : trace.gpus) {
      if (s.id == a.gpu) series = &s;
      ids += (ids.empty() ? "" : ", ") + s.id;
    }
    if (!series)
      throw core::InputError(fmt::format("no GPU '{}' in the log", a.gpu), {a.trace, 0, 0, {}},
                             fmt::format("pick one of: {}", ids));
  }
  std::vector<std::pair<double, double>> compute;
  for (const auto& r : core::read_timeline_csv(a.timeline))
    if (r.rank == a.rank && r.phase == core::TimelinePhase::compute)
      compute.emplace_back(r.start_s, r.end_s);
  if (compute.empty())
    throw core::InputError(fmt::format("rank {} has no compute phase", a.rank),
                           {a.timeline, 0, 0, {}}, "pick a rank the timeline holds (--rank)");
  if (!std::isnan(a.from_s) || !std::isnan(a.to_s)) {
    const double from = std::isnan(a.from_s) ? -INFINITY : a.from_s;
    const double to = std::isnan(a.to_s) ? INFINITY : a.to_s;
    const bool any = std::any_of(compute.begin(), compute.end(),
                                 [&](const auto& c) { return c.second > from && c.first < to; });
    if (!any)
      throw core::InputError(
          fmt::format("no compute phase of rank {} lies between --from-s and --to-s (the "
                      "timeline's run from {:.3f} to {:.3f} s)",
                      a.rank, compute.front().first, compute.back().second),
          {a.timeline, 0, 0, {}}, "choose --from-s below --to-s, within the timeline");
  }
  power::FitOptions fo;
  if (!std::isnan(a.offset_s)) fo.offset_s = a.offset_s;
  if (!std::isnan(a.from_s)) fo.from_s = a.from_s;
  if (!std::isnan(a.to_s)) fo.to_s = a.to_s;
  const power::FitResult r = power::fit_gpu_response(series->samples, compute, fo);

  if (g.json) {
    nlohmann::json j = {{"trace", a.trace},
                        {"power_field", trace.power_field},
                        {"gpu", series->id},
                        {"idle_w", r.idle_w},
                        {"compute_w", r.compute_w},
                        {"time_constant_ms", r.time_constant_ms},
                        {"time_constant_consistent_ms", {r.tau_lo_ms, r.tau_hi_ms}},
                        {"sensor_window_ms", r.window_ms},
                        {"sensor_update_interval_ms", r.update_interval_ms},
                        {"offset_s", r.offset_s},
                        {"rmse_w", r.rmse_w},
                        {"r2", r.r2},
                        {"readings", r.readings},
                        {"onset_overshoot_w", r.onset_overshoot_w},
                        {"onsets", r.onsets},
                        {"overshoot_model",
                         {{"onset_overshoot_w", r.overshoot.amplitude_w},
                          {"onset_decay_ms", r.overshoot.decay_ms},
                          {"onset_gap_ms", r.overshoot.gap_ms},
                          {"idle_w", r.overshoot.idle_w},
                          {"compute_w", r.overshoot.compute_w},
                          {"rmse_w", r.overshoot.rmse_w},
                          {"r2", r.overshoot.r2}}}};
    for (auto [tau, rmse] : r.rmse_by_tau)
      j["rmse_by_time_constant"].push_back({{"time_constant_ms", tau}, {"rmse_w", rmse}});
    print_out(j.dump(2));
    return;
  }
  core::Table t({"quantity", "value"});
  t.add_row({"readings used (distinct sensor updates)", fmt::format("{}", r.readings)});
  t.add_row({"sensor update interval", fmt::format("{:.1f} ms", r.update_interval_ms)});
  t.add_row({"sensor averaging window (best)", fmt::format("{:g} ms", r.window_ms)});
  t.add_row({"clock offset (trace - timeline)", fmt::format("{:.3f} s", r.offset_s)});
  t.add_row({"idle_w", fmt::format("{:.1f} W", r.idle_w)});
  t.add_row({"compute_w", fmt::format("{:.1f} W", r.compute_w)});
  t.add_row({"time_constant_ms (best)", fmt::format("{:g} ms", r.time_constant_ms)});
  t.add_row({"time constants as good (within 5%)",
             fmt::format("{:g} .. {:g} ms", r.tau_lo_ms, r.tau_hi_ms)});
  t.add_row({"RMSE / R^2", fmt::format("{:.1f} W / {:.3f}", r.rmse_w, r.r2)});
  t.add_row({"onset overshoot (median)",
             fmt::format("{:+.0f} W over {} compute starts", r.onset_overshoot_w, r.onsets)});
  t.add_row({"with keel's onset overshoot term",
             fmt::format("{:+.0f} W, decay {:g} ms, gap scale {:g} ms: RMSE {:.1f} W / R^2 {:.3f}",
                         r.overshoot.amplitude_w, r.overshoot.decay_ms, r.overshoot.gap_ms,
                         r.overshoot.rmse_w, r.overshoot.r2)});
  std::string out = fmt::format("{} ({}, GPU {}) against {} rank {}\n\n{}\n", a.trace,
                                trace.power_field, series->id, a.timeline, a.rank, t.render());
  out += fmt::format(
      "\n[gpu]  # for a scenario of these GPUs (comm_w: the comm phase's level, if it differs)\n"
      "idle_w = {:.0f}\ncompute_w = {:.0f}\ntime_constant_ms = {:g}\n"
      "# with the onset overshoot term (RMSE {:.1f} W instead of {:.1f} W):\n"
      "# idle_w = {:.0f}\n# compute_w = {:.0f}\n# onset_overshoot_w = {:.0f}\n"
      "# onset_decay_ms = {:g}\n# onset_gap_ms = {:g}\n",
      r.idle_w, r.compute_w, r.time_constant_ms, r.overshoot.rmse_w, r.rmse_w,
      r.overshoot.idle_w, r.overshoot.compute_w, r.overshoot.amplitude_w, r.overshoot.decay_ms,
      r.overshoot.gap_ms);
  if (r.tau_lo_ms < r.update_interval_ms)
    out += fmt::format(
        "\nnote: time constants from {:g} to {:g} ms fit equally well: the sensor refreshes every "
        "{:.0f} ms, so faster responses cannot be told apart from this log.\n",
        r.tau_lo_ms, r.tau_hi_ms, r.update_interval_ms);
  print_out(out);
}

}  // namespace

void register_power_fit(CLI::App& power, const GlobalOptions& global) {
  auto args = std::make_shared<FitArgs>();
  auto* cmd = power.add_subcommand(
      "fit", "Calibrate the GPU model (idle/compute power, time constant) against a measured "
             "power log and the timeline of the run");
  cmd->add_option("trace", args->trace, "Power log of the run (nvidia-smi CSV, dcgmi dmon, DCGM CSV)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--timeline", args->timeline,
                  "Timeline CSV of the same run (rank,iteration,phase,start_s,end_s)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--gpu", args->gpu, "GPU id in the log (default: the first)");
  cmd->add_option("--rank", args->rank, "Timeline rank that ran on that GPU (default 0)")
      ->check(NonNegative);
  args->read.add_read(*cmd, Positive);
  cmd->add_option("--offset-s", args->offset_s,
                  "Log time minus timeline time, in s (default: found by cross-correlation)")
      ->check(Finite);
  cmd->add_option("--from-s", args->from_s, "Fit only from this timeline time (s)")->check(Finite);
  cmd->add_option("--to-s", args->to_s, "Fit only up to this timeline time (s)")->check(Finite);
  cmd->callback([args, &global] { run_fit(*args, global); });
}

}  // namespace keel::cli
