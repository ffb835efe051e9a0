// Power simulator speed: the fast cohort simulator at scale, and fast vs the dense reference side
// by side on a scenario the reference can do. A program, not a test: prints machine, settings,
// medians and the ratio. Usage: bench_power [--quick]
#include <fmt/format.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "keel/core/config.h"
#include "keel/power/analysis.h"
#include "keel/power/sim.h"

using namespace keel::power;

namespace {

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

Scenario make(std::int64_t gpus, double duration_s) {
  std::string toml = fmt::format(R"(
[simulation]
duration_s = {}
step_ms = 1
seed = 1
[[job]]
gpus = {}
compute_ms = 1800
comm_ms = 600
jitter_pct = 2
offset_std_ms = 3
straggler_fraction = 0.005
straggler_slowdown_pct = 3
checkpoint_every_iters = 50
checkpoint_ms = 4000
start_s = 5
[mitigation.smoothing]
percent_tmp_floor = 70
ramp_up_rate_w_per_s = 60
ramp_down_rate_w_per_s = 60
ramp_down_hysteresis_ms = 500
)",
                                 duration_s, gpus);
  return keel::core::parse_config(keel::core::ConfigDoc::parse(toml, "bench"), parse_scenario);
}

// A 1 GW site: 1 M GPUs in 10 jobs of mixed sizes and periods on their own racks (72 GPUs
// each), exact rack batteries in every rack, software floor and GPU smoothing on. No per-GPU
// launch skew: its racks then differ only in where their stragglers sit.
Scenario gigawatt_site(double duration_s) {
  std::string toml = fmt::format(R"(
[simulation]
duration_s = {}
step_ms = 1
seed = 1
[facility]
gpus_per_server = 4
servers_per_rack = 18
[mitigation.software]
floor_fraction_of_tdp = 0.5
startup_delay_ms = 50
start_ramp_s = 30
stop_ramp_s = 30
[mitigation.smoothing]
percent_tmp_floor = 60
ramp_up_rate_w_per_s = 100
ramp_down_rate_w_per_s = 100
ramp_down_hysteresis_ms = 500
[mitigation.storage]
level = "rack"
energy_kwh = 5
power_kw = 60
)",
                                 duration_s);
  const std::int64_t sizes[10] = {262144, 196608, 131072, 131072, 98304,
                                  65536,  49152,  32768,  24576,  8768};
  const double compute[10] = {1800, 1500, 2400, 900, 1200, 700, 3000, 1100, 600, 2000};
  for (int j = 0; j < 10; ++j)
    toml += fmt::format(
        "[[job]]\nname = \"job{}\"\ngpus = {}\ncompute_ms = {}\ncomm_ms = {}\njitter_pct = 2\n"
        "straggler_fraction = 0.002\nstraggler_slowdown_pct = 3\nstart_s = {}\n",
        j, sizes[j], compute[j], compute[j] / 3, 5 + 7 * j);
  return keel::core::parse_config(keel::core::ConfigDoc::parse(toml, "bench"), parse_scenario);
}

template <typename F>
double median_s(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  utsname un{};
  uname(&un);
  fmt::print("machine: {} ({} hardware threads), {} {}\n", cpu_model(),
             std::thread::hardware_concurrency(), un.sysname, un.release);
  fmt::print("settings: 1 ms steps, jitter 2 %, offsets sd 3 ms, 0.5 % stragglers, smoothing on; "
             "median of {} runs\n\n", quick ? 1 : 3);
  const int reps = quick ? 1 : 3;

  // 1. Scale: 100 000 GPUs, 600 s (the issue's target: <= 2 s, memory O(steps)).
  {
    Scenario sc = make(100000, quick ? 60 : 600);
    SimResult r;
    double t = median_s(reps, [&] { r = simulate(sc); });
    fmt::print("fast   100000 GPUs x {:>4.0f} s: {:7.3f} s  ({} cohorts, {:.1f} M steps/s, "
               "peak RSS {:.0f} MB)\n",
               sc.sim.duration_s, t, r.cohorts, static_cast<double>(sc.steps()) / t / 1e6,
               peak_rss_mb());
    Spec spec;
    double tm = median_s(reps, [&] { measure(r.grid_w, r.step_s, spec); });
    fmt::print("metrics (ramps, swing, Welch spectrum) on that trace: {:.3f} s\n\n", tm);
  }

  // 2. The 1 GW site with exact rack batteries (issue target: <= 10 s for 3600 s on 2 cores).
  {
    Scenario sc = gigawatt_site(quick ? 120 : 3600);
    SimResult r;
    double t = median_s(1, [&] { r = simulate(sc); });
    fmt::print("fast   {} GPUs in {} jobs, {} racks with batteries x {:>4.0f} s: {:7.3f} s  "
               "({} cohorts, {} distinct rack loads, {:.1f} M steps/s, peak RSS {:.0f} MB)\n\n",
               sc.total_gpus(), sc.jobs.size(), sc.total_racks(), sc.sim.duration_s, t,
               r.cohorts, r.rack_groups, static_cast<double>(sc.steps()) / t / 1e6, peak_rss_mb());
  }

  // 3. Fast vs dense reference, same scenario, same run.
  {
    Scenario sc = make(quick ? 2000 : 10000, 60);
    double tf = median_s(reps, [&] { simulate(sc); });
    double tr = median_s(1, [&] { simulate_reference(sc); });
    fmt::print("fast      {:>6} GPUs x 60 s: {:8.4f} s\n", sc.jobs[0].gpus, tf);
    fmt::print("reference {:>6} GPUs x 60 s: {:8.4f} s\n", sc.jobs[0].gpus, tr);
    fmt::print("speed ratio fast/reference: {:.0f}x\n", tr / tf);
  }
  return 0;
}
