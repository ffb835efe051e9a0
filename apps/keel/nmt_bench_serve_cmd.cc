// `keel nmt bench-serve`: a load generator for `keel nmt serve` (or any LibreTranslate-compatible
// server). C clients, each on its own keep-alive connection, send one sentence per request until
// N requests or S seconds, whichever comes first; throughput and latency percentiles come out.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string_view>
#include <thread>

#include "cli.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"

namespace keel::cli {

namespace {

struct BenchServeArgs {
  std::string url, sentences, api = "v1", api_key;
  int clients = 8;
  std::size_t requests = 1000;
  double seconds = 60;
};

struct ClientTotals {
  std::vector<double> latency_ms;
  std::map<int, std::size_t> status;  // 0: no answer (connection failed or timed out)
  std::size_t sentences = 0, target_tokens = 0;
  std::string first_error;  // what the first failed request got, for the report
};

// Why a request failed: the connection error, or the status and the server's {"error": ...}.
std::string failure(const httplib::Result& res) {
  if (!res) return "no answer: " + httplib::to_string(res.error());
  const auto j = nlohmann::json::parse(res->body, nullptr, false);
  const std::string why = j.is_object() && j.contains("error") && j["error"].is_string()
                              ? j["error"].get<std::string>()
                              : res->body.substr(0, 200);
  return fmt::format("HTTP {}{}{}", res->status, why.empty() ? "" : ": ", why);
}

// --url as the client takes it (cpp-httplib throws for a scheme it lacks and takes a string it
// cannot parse, e.g. one with a path, for a host name on port 80), or an InputError.
std::string checked_url(std::string url) {
  while (url.size() > 1 && url.back() == '/') url.pop_back();  // "http://host:port/" as copied
  // [http://]HOST[:PORT], HOST a name, an IPv4 address or a bracketed IPv6 one.
  std::string_view rest = url;
  if (rest.starts_with("http://")) rest.remove_prefix(7);
  const std::size_t host_end = rest.starts_with('[') ? rest.find(']') + 1 : rest.find(':');
  const std::string_view host = rest.substr(0, host_end),
                         port = rest.substr(std::min(host_end, rest.size()));
  const bool host_ok =
      host.starts_with('[')
          ? host.size() > 2 && host.ends_with(']') &&
                host.find_first_not_of("[]0123456789abcdefABCDEF:") == std::string_view::npos
          : !host.empty() && host.find_first_of("/?#[]@ ") == std::string_view::npos;
  const bool port_ok =
      port.empty() || (port.size() >= 2 && port.size() <= 6 && port[0] == ':' &&
                       port.find_first_not_of("0123456789", 1) == std::string_view::npos);
  if (!host_ok || !port_ok)
    throw core::InputError(fmt::format("--url '{}' is not a server address keel can reach", url),
                           {},
                           "pass http://HOST:PORT, e.g. http://127.0.0.1:5000 (no path, no https)");
  return url;
}

// Nearest-rank percentile of sorted values.
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

void run_bench_serve(BenchServeArgs a, const GlobalOptions& g) {
  using Clock = std::chrono::steady_clock;
  a.url = checked_url(a.url);
  std::ifstream in(a.sentences);
  if (!in)
    throw core::InputError(fmt::format("cannot read {}", a.sentences), core::Location{a.sentences, 0, 0, {}},
                           "pass a text file with one sentence per line");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  if (lines.empty())
    throw core::InputError(fmt::format("{} holds no sentence", a.sentences), core::Location{a.sentences, 0, 0, {}},
                           "pass a text file with one sentence per line");

  std::string target;
  if (a.api == "libre") {  // as LibreTranslate clients do: ask what the server translates
    httplib::Client probe(a.url);
    const auto res = probe.Get("/languages");
    if (!res || res->status != 200)
      throw core::Error(fmt::format("GET {}/languages failed ({})", a.url,
                                    res ? std::to_string(res->status) : httplib::to_string(res.error())));
    const auto langs = nlohmann::json::parse(res->body, nullptr, false);
    if (!langs.is_array() || langs.empty() || !langs[0].is_object() ||
        !langs[0].contains("targets") || !langs[0]["targets"].is_array() ||
        langs[0]["targets"].empty() || !langs[0]["targets"][0].is_string())
      throw core::Error(fmt::format("{}/languages lists no language pair", a.url));
    target = langs[0]["targets"][0].get<std::string>();
  }

  std::atomic<std::size_t> next{0};
  std::vector<ClientTotals> totals(static_cast<std::size_t>(a.clients));
  const auto t0 = Clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(a.seconds);
  core::Progress bar("bench-serve", a.requests, core::progress_enabled(g.quiet), "req");
  std::mutex bar_mu;
  auto client = [&](std::size_t c) {
    httplib::Client cli(a.url);
    cli.set_keep_alive(true);
    cli.set_tcp_nodelay(true);
    cli.set_read_timeout(std::max<time_t>(5, static_cast<time_t>(a.seconds) + 5), 0);
    auto& t = totals[c];
    for (std::size_t i; (i = next.fetch_add(1)) < a.requests && Clock::now() < deadline;) {
      const std::string& s = lines[i % lines.size()];
      nlohmann::json body;
      if (a.api == "libre")
        body = {{"q", s}, {"source", "auto"}, {"target", target}, {"format", "text"}};
      else
        body = {{"text", nlohmann::json::array({s})}};
      if (!a.api_key.empty()) body["api_key"] = a.api_key;
      const auto r0 = Clock::now();
      const auto res = cli.Post(a.api == "libre" ? "/translate" : "/v1/translate", body.dump(),
                                "application/json");
      t.latency_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - r0).count());
      ++t.status[res ? res->status : 0];
      if (res && res->status == 200) {
        ++t.sentences;
        const auto j = nlohmann::json::parse(res->body, nullptr, false);
        if (j.is_object() && j.contains("target_tokens") && j["target_tokens"].is_number_unsigned())
          t.target_tokens += j["target_tokens"].get<std::size_t>();
      } else if (t.first_error.empty()) {
        t.first_error = failure(res);
      }
      std::lock_guard lock(bar_mu);
      bar.update(std::min(i + 1, a.requests));
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t c = 0; c < totals.size(); ++c) pool.emplace_back(client, c);
  for (auto& t : pool) t.join();
  bar.finish();
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();

  ClientTotals all;
  for (auto& t : totals) {
    all.latency_ms.insert(all.latency_ms.end(), t.latency_ms.begin(), t.latency_ms.end());
    for (const auto& [k, v] : t.status) all.status[k] += v;
    all.sentences += t.sentences;
    all.target_tokens += t.target_tokens;
    if (all.first_error.empty()) all.first_error = t.first_error;
  }
  std::sort(all.latency_ms.begin(), all.latency_ms.end());
  const std::size_t sent = all.latency_ms.size();
  const std::size_t errors = sent - all.sentences;
  // Nothing measured is not a benchmark: the run fails, saying why.
  if (sent > 0 && all.sentences == 0)
    throw core::Error(fmt::format("every request to {} failed ({} of {}); the first: {}", a.url,
                                  errors, sent, all.first_error),
                      {}, "check --url, --api and --api-key against the server");
  const double p50 = percentile(all.latency_ms, 50), p95 = percentile(all.latency_ms, 95),
               p99 = percentile(all.latency_ms, 99);
  if (g.json) {
    nlohmann::json status = nlohmann::json::object();
    for (const auto& [k, v] : all.status) status[std::to_string(k)] = v;
    print_out(nlohmann::json{{"url", a.url},
                             {"api", a.api},
                             {"clients", a.clients},
                             {"requests", sent},
                             {"errors", errors},
                             {"status", status},
                             {"first_error", all.first_error},
                             {"seconds", wall},
                             {"sentences_per_s", double(all.sentences) / wall},
                             {"target_tokens_per_s", double(all.target_tokens) / wall},
                             {"latency_ms", {{"p50", p50}, {"p95", p95}, {"p99", p99}}}}
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }
  print_out(fmt::format("{} clients, {} requests in {:.2f} s ({} errors) against {} ({})",
                        a.clients, sent, wall, errors, a.url, a.api));
  print_out(fmt::format("  {:.1f} sentences/s{}", double(all.sentences) / wall,
                        a.api == "v1" ? fmt::format(", {:.0f} target tok/s",
                                                    double(all.target_tokens) / wall)
                                      : ""));
  print_out(fmt::format("  latency p50 {:.1f} ms, p95 {:.1f} ms, p99 {:.1f} ms", p50, p95, p99));
  for (const auto& [k, v] : all.status)
    if (k != 200) print_out(fmt::format("  status {}: {}", k == 0 ? "no answer" : std::to_string(k), v));
  if (errors > 0) print_out("  first error: " + all.first_error);
}

}  // namespace

void register_nmt_bench_serve(CLI::App& nmt, const GlobalOptions& global) {
  auto a = std::make_shared<BenchServeArgs>();
  auto* s = nmt.add_subcommand(
      "bench-serve", "Load a translation server with concurrent clients: throughput and latency");
  s->add_option("--url", a->url, "Server, e.g. http://127.0.0.1:5000")->required();
  s->add_option("--sentences", a->sentences, "Text file, one sentence per request (cycled)")
      ->required();
  s->add_option("--clients", a->clients, "Concurrent clients, one connection each")
      ->capture_default_str()
      ->check(Positive);
  s->add_option("--requests", a->requests, "Requests in all (an upper bound)")
      ->capture_default_str()
      ->check(Positive);
  s->add_option("--seconds", a->seconds, "Stop sending after this long (an upper bound)")
      ->capture_default_str()
      ->check(Positive);
  s->add_option("--api", a->api,
                "v1 (keel's POST /v1/translate, counts target tokens) or libre (POST /translate, "
                "as LibreTranslate clients send it)")
      ->capture_default_str()
      ->check(CLI::IsMember({"v1", "libre"}));
  s->add_option("--api-key", a->api_key, "Key sent as api_key");
  s->callback([a, &global] { run_bench_serve(*a, global); });
}

}  // namespace keel::cli
