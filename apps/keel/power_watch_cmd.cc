// `keel power watch`: judges a live power log window by window (keel::power::Watcher); reading
// the stream, printing, the alert exit, the Prometheus textfile and the /metrics endpoint
// (cpp-httplib) are here.
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "cli.h"
#include "http_bind.h"
#include "keel/core/atomic_file.h"
#include "keel/core/error.h"
#include "keel/power/spec.h"
#include "keel/power/watch.h"
#include "trace_flags.h"

namespace keel::cli {

namespace {

struct WatchArgs {
  std::string log = "-", spec, prometheus, host = "127.0.0.1";
  int port = -1;  // serve /metrics here; -1: no server, 0: any free port
  TraceFlags trace;
  double window_s = 60, every_s = 10, idle_exit_s = 0, poll_ms = 200;
  int alert_after = 1;
  bool exit_on_alert = false, follow = false;
};

std::string failed_text(const power::WatchWindow& w) {
  std::string out;
  for (const auto& c : w.clauses) {
    if (c.pass) continue;
    out += fmt::format("{}{} {:.4g} {} > {:.4g}", out.empty() ? "" : ", ", c.name, c.value,
                       c.unit, c.limit);
  }
  return out;
}

nlohmann::json window_json(const power::WatchWindow& w) {
  nlohmann::json clauses = nlohmann::json::array();
  for (const auto& c : w.clauses)
    clauses.push_back({{"name", c.name}, {"value", c.value}, {"limit", c.limit},
                       {"unit", c.unit}, {"pass", c.pass}});
  const auto& m = w.metrics;
  return {{"from_s", w.from_s},
          {"to_s", w.to_s},
          {"pass", w.pass},
          {"alert", w.alert},
          {"failing_streak", w.failing_streak},
          {"metrics",
           {{"peak_mw", m.peak_mw},
            {"min_mw", m.min_mw},
            {"swing_mw", m.swing_mw},
            {"ramp_up_mw_per_s", m.ramp_up_mw_per_s},
            {"ramp_down_mw_per_s", m.ramp_down_mw_per_s},
            {"band_amplitude_mw", m.band_amplitude_mw},
            {"band_energy_fraction", m.band_energy_fraction}}},
          {"clauses", clauses}};
}

// Prometheus's text exposition format, for node_exporter's textfile collector (written whole
// each window: a temp name, then rename).
std::string prometheus_text(const power::WatchWindow& w, std::int64_t windows) {
  const auto& m = w.metrics;
  std::string s = fmt::format(
      "# HELP keel_watch_windows_total Windows judged so far\n# TYPE keel_watch_windows_total "
      "counter\nkeel_watch_windows_total {}\n",
      windows);
  auto gauge = [&](const char* name, const char* help, double v) {
    s += fmt::format("# HELP keel_watch_{0} {1}\n# TYPE keel_watch_{0} gauge\nkeel_watch_{0} {2}\n",
                     name, help, v);
  };
  gauge("window_end_seconds", "End of the last judged window, seconds of log time", w.to_s);
  gauge("peak_megawatts", "Peak power in the window", m.peak_mw);
  gauge("swing_megawatts", "Largest max-min over the spec's swing window", m.swing_mw);
  gauge("ramp_up_megawatts_per_second", "Steepest rise", m.ramp_up_mw_per_s);
  gauge("ramp_down_megawatts_per_second", "Steepest fall", m.ramp_down_mw_per_s);
  gauge("band_energy_fraction", "Share of the variance in the spec's critical band",
        m.band_energy_fraction);
  gauge("pass", "1 when every spec clause passes", w.pass ? 1 : 0);
  gauge("failing_streak", "Consecutive failing windows", w.failing_streak);
  s += "# HELP keel_watch_clause_pass 1 when the clause passes\n# TYPE keel_watch_clause_pass gauge\n";
  for (const auto& c : w.clauses)
    s += fmt::format("keel_watch_clause_pass{{clause=\"{}\"}} {}\n", c.name, c.pass ? 1 : 0);
  return s;
}

// GET /metrics: the last window's Prometheus text, for a Prometheus server to scrape (GET /health
// answers "ok"). Its own thread; stopped when the watch ends.
class MetricsServer {
 public:
  MetricsServer(const std::string& host, int port) {
    svr_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    svr_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      res.set_content(text_, "text/plain; version=0.0.4; charset=utf-8");
    });
    svr_.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    exclusive_port(svr_);
    url_ = fmt::format("http://{}:{}/metrics", host, bind_exclusive(svr_, host, port));
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
  }
  ~MetricsServer() {
    svr_.stop();
    thread_.join();
  }
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;
  void publish(std::string text) {
    std::lock_guard<std::mutex> lock(mu_);
    text_ = std::move(text);
  }
  const std::string& url() const { return url_; }

 private:
  httplib::Server svr_;
  std::mutex mu_;
  std::string text_ =
      "# HELP keel_watch_windows_total Windows judged so far\n# TYPE keel_watch_windows_total "
      "counter\nkeel_watch_windows_total 0\n";
  std::string url_;
  std::thread thread_;
};

class AlertExit : public core::Error {
 public:
  AlertExit() : Error("alert") {}
  int exit_code() const override { return 3; }
};

struct Outputs {
  std::int64_t windows = 0;
  std::unique_ptr<MetricsServer> server;
};

void report(const std::vector<power::WatchWindow>& ws, const WatchArgs& a, const GlobalOptions& g,
            Outputs& out) {
  for (const auto& w : ws) {
    ++out.windows;
    // Published before the line is printed: whoever read the line can scrape its window.
    if (!a.prometheus.empty() || out.server) {
      std::string text = prometheus_text(w, out.windows);
      if (!a.prometheus.empty()) core::write_file_atomic(a.prometheus, text);
      if (out.server) out.server->publish(std::move(text));
    }
    if (g.json) {
      print_out(window_json(w).dump());
    } else {
      const auto& m = w.metrics;
      print_out(fmt::format(
          "{:9.1f}-{:.1f} s  peak {:.3f} MW  swing {:.3f} MW  ramp +{:.3f}/-{:.3f} MW/s  band "
          "{:.1f}%  {}",
          w.from_s, w.to_s, m.peak_mw, m.swing_mw, m.ramp_up_mw_per_s, m.ramp_down_mw_per_s,
          100 * m.band_energy_fraction, w.pass ? "PASS" : "FAIL: " + failed_text(w)));
      if (w.alert)
        print_out(fmt::format("ALERT {:.1f}-{:.1f} s: {} ({} consecutive window{})", w.from_s,
                              w.to_s, failed_text(w), w.failing_streak,
                              w.failing_streak == 1 ? "" : "s"));
    }
    std::fflush(stdout);
    if (w.alert && a.exit_on_alert) throw AlertExit();
  }
}

void run_watch(const WatchArgs& a, const GlobalOptions& g) {
  power::WatchOptions o;
  o.read = a.trace.read();
  o.analyze = a.trace.analyze();
  if (!a.spec.empty()) o.spec = power::load_spec(a.spec);
  if (!o.spec.has_limits())
    throw core::InputError("watch needs a spec with limits to judge against", {"", 0, 0, "--spec"},
                           "pass --spec FILE.toml (e.g. examples/power/paper_example_spec.toml)");
  o.window_s = a.window_s;
  o.every_s = a.every_s;
  o.alert_after = a.alert_after;
  o.name = a.log == "-" ? "stdin" : a.log;
  power::Watcher watcher(o);
  Outputs out;
  if (a.port >= 0) {
    out.server = std::make_unique<MetricsServer>(a.host, a.port);
    print_out(g.json ? nlohmann::json{{"metrics_url", out.server->url()}}.dump()
                     : "metrics: " + out.server->url());
    std::fflush(stdout);
  }
  const bool is_stdin = a.log == "-";
  int fd = is_stdin ? 0 : ::open(a.log.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw core::InputError("cannot open the log", {a.log, 0, 0, {}}, "check the path");
  std::vector<char> buf(1 << 16);
  auto idle_since = std::chrono::steady_clock::now();
  try {
    for (;;) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n > 0) {
        idle_since = std::chrono::steady_clock::now();
        report(watcher.feed(std::string_view(buf.data(), static_cast<std::size_t>(n))), a, g, out);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw core::Error(std::string("reading the log: ") + std::strerror(errno), {o.name, 0, 0, {}});
      // End of the data so far: a pipe or plain file ends here; a followed file waits for more
      // (Ctrl-C ends the watch).
      if (!a.follow || is_stdin) break;
      const double idle = std::chrono::duration<double>(std::chrono::steady_clock::now() - idle_since).count();
      if (a.idle_exit_s > 0 && idle >= a.idle_exit_s) break;
      // Polling, as `tail -f` does without inotify: the logger appends at its own pace.
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(a.poll_ms));
    }
    report(watcher.finish(), a, g, out);
  } catch (...) {
    if (!is_stdin) ::close(fd);
    throw;
  }
  if (!is_stdin) ::close(fd);
  if (out.windows == 0)  // silence would read as "all is well"
    throw core::InputError(fmt::format("no window was judged: the log ended before {:g} s of "
                                       "samples (--window-s)",
                                       a.window_s),
                           {o.name, 0, 0, {}}, "pass a shorter --window-s, or a longer log");
}

}  // namespace

void register_power_watch(CLI::App& power, const GlobalOptions& global) {
  auto a = std::make_shared<WatchArgs>();
  auto* cmd = power.add_subcommand(
      "watch",
      "Judge a live GPU power log window by window against a spec (stdin or a growing file); "
      "ALERT lines when clauses fail");
  cmd->add_option("log", a->log, "The log: a file (with --follow, read as it grows) or - for stdin")
      ->capture_default_str();
  cmd->add_option("--spec", a->spec, "Utility spec TOML to judge each window against")
      ->required()->check(CLI::ExistingFile);
  cmd->add_option("--window-s", a->window_s, "Length of each judged window (s of log time)")
      ->capture_default_str()->check(Positive);
  cmd->add_option("--every-s", a->every_s, "A window ends every this many seconds of log time")
      ->capture_default_str()->check(Positive);
  cmd->add_option("--alert-after", a->alert_after,
                  "ALERT when a clause fails in this many consecutive windows")
      ->capture_default_str()->check(Positive);
  cmd->add_flag("--exit-on-alert", a->exit_on_alert, "Exit with code 3 at the first ALERT");
  cmd->add_flag("--follow", a->follow, "Keep reading a file as it grows (until Ctrl-C or --idle-exit-s)");
  cmd->add_option("--idle-exit-s", a->idle_exit_s,
                  "With --follow: stop after this many seconds without new data (0: never)")
      ->check(NonNegative);
  cmd->add_option("--poll-ms", a->poll_ms, "With --follow: how often to look for new data")
      ->capture_default_str()->check(Positive);
  cmd->add_option("--prometheus", a->prometheus,
                  "Write each window's metrics here in Prometheus text format (node_exporter's "
                  "textfile collector)");
  cmd->add_option("--port", a->port,
                  "Serve the last window's Prometheus text at http://HOST:PORT/metrics while "
                  "watching (0: any free port; the URL is the first line printed)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--host", a->host, "Address for --port (default: loopback only)")
      ->capture_default_str();
  a->trace.add(*cmd, Positive);
  cmd->callback([a, &global] { run_watch(*a, global); });
}

}  // namespace keel::cli
