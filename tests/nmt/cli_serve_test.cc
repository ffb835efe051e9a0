// keel nmt serve as users run it: a real process on the committed model, real HTTP clients
// (cpp-httplib's, curl, and LibreTranslate's client from npm) on loopback with an ephemeral port.
// Answers must equal offline `keel nmt translate` line for line; every error path has its status
// and JSON body; /metrics counts what was sent; SIGTERM loses no request in flight.
#include <gtest/gtest.h>
#include <httplib.h>

#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "../support/run_keel.h"
#include "../support/spawn_keel.h"
#include "../support/temp_dir.h"

using namespace keel::testing;
using nlohmann::json;

namespace {

const std::string kModel = std::string(KEEL_SOURCE_DIR) + "/models/en-es-int8";
const std::string kSample = std::string(KEEL_SOURCE_DIR) + "/tests/data/nmt/sample.en";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// What offline translation writes for the sample (computed once).
const std::vector<std::string>& sample_lines() {
  static const auto v = lines_of(read_all(kSample));
  return v;
}
const std::vector<std::string>& offline() {
  static const auto v = [] {
    const auto r = run_shell("(cat " + kSample + " | " + std::string(KEEL_BINARY) +
                            " nmt translate --quiet --model " + kModel + ")");
    EXPECT_EQ(r.rc, 0) << r.err;
    return lines_of(r.out);
  }();
  return v;
}

// `keel nmt serve` on an ephemeral port; the URL comes from its first stdout line.
struct Server {
  TempDir dir{"keel_serve"};
  std::unique_ptr<KeelProcess> proc;
  std::string url;
  int port = 0;
  explicit Server(const std::string& extra = "") {
    proc = std::make_unique<KeelProcess>(
        "nmt serve --model " + kModel + " --port 0 --http-threads 64 " + extra, dir.path / "log");
    const std::string line = proc->read_line(std::chrono::seconds(120));
    std::smatch m;
    if (!std::regex_match(line, m, std::regex(R"(listening on (http://127\.0\.0\.1:(\d+)))"))) {
      ADD_FAILURE() << "no URL on stdout: '" << line << "'; log:\n" << read_all(dir.path / "log");
      return;
    }
    url = m[1];
    port = std::stoi(m[2]);
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(120, 0);
    return c;
  }
  std::string log() const { return read_all(dir.path / "log"); }
};

json post_json(const Server& s, const std::string& path, const json& body, int* status = nullptr) {
  auto c = s.client();
  const auto res = c.Post(path, body.dump(), "application/json");
  EXPECT_TRUE(res) << path;
  if (!res) return {};
  if (status) *status = res->status;
  return json::parse(res->body);
}

json libre(const json& q) { return {{"q", q}, {"source", "en"}, {"target", "es"}}; }

// Status and parsed body of a raw request.
std::pair<int, json> request(const Server& s, const std::string& path, const std::string& body,
                             const std::string& type, const httplib::Headers& headers = {}) {
  auto c = s.client();
  const auto res = c.Post(path, headers, body, type);
  if (!res) return {0, {}};
  return {res->status, json::parse(res->body, nullptr, false)};
}

}  // namespace

TEST(ServeCli, AnswersEqualOfflineTranslationSinglyInAListAndFrom16Clients) {
  const auto& want = offline();
  ASSERT_EQ(want.size(), sample_lines().size());
  Server s;
  ASSERT_GT(s.port, 0);
  // One sentence per request.
  for (std::size_t i = 0; i < 20; ++i) {
    int status = 0;
    const json r = post_json(s, "/translate", libre(sample_lines()[i]), &status);
    ASSERT_EQ(status, 200) << r;
    EXPECT_EQ(r["translatedText"], want[i]) << "line " << i + 1;
  }
  // All of them as one list: a list back, in order.
  int status = 0;
  const json all = post_json(s, "/translate", libre(sample_lines()), &status);
  ASSERT_EQ(status, 200) << all;
  EXPECT_EQ(all["translatedText"].get<std::vector<std::string>>(), want);
  // 16 clients at once, each with its own connection, one sentence per request.
  constexpr std::size_t kClients = 16;
  std::vector<std::string> got(want.size());
  std::vector<std::thread> clients;
  for (std::size_t c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      auto cli = s.client();
      cli.set_keep_alive(true);
      for (std::size_t i = c; i < want.size(); i += kClients) {
        const auto res = cli.Post("/translate", libre(sample_lines()[i]).dump(), "application/json");
        if (res && res->status == 200)
          got[i] = json::parse(res->body)["translatedText"].get<std::string>();
      }
    });
  for (auto& t : clients) t.join();
  for (std::size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "line " << i + 1;
  // keel's own endpoint: the same text, with its tokens.
  const json v1 = post_json(s, "/v1/translate", {{"text", {sample_lines()[1]}}}, &status);
  ASSERT_EQ(status, 200) << v1;
  EXPECT_EQ(v1["translations"][0]["text"], want[1]);
  EXPECT_EQ(v1["target_tokens"].get<std::size_t>(), v1["translations"][0]["tokens"].size());
}

TEST(ServeCli, CurlSendsJsonAndFormBodies) {
  const auto& want = offline();
  Server s;
  ASSERT_GT(s.port, 0);
  std::ofstream(s.dir.path / "body.json") << libre(sample_lines()[2]).dump();
  auto r = run_shell("curl -sS -X POST -H 'Content-Type: application/json' --data-binary @" +
                     (s.dir.path / "body.json").string() + " " + s.url + "/translate");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["translatedText"], want[2]);
  std::ofstream(s.dir.path / "q.txt") << sample_lines()[3];
  r = run_shell("curl -sS -X POST --data-urlencode q@" + (s.dir.path / "q.txt").string() +
                " -d source=en -d target=es " + s.url + "/translate");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["translatedText"], want[3]);
  r = run_shell("curl -sS -F q=@" + (s.dir.path / "q.txt").string() +
                " -F source=en -F target=es " + s.url + "/translate");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["translatedText"], want[3]);
  r = run_shell("curl -sS " + s.url + "/languages");
  EXPECT_EQ(json::parse(r.out)[0]["targets"][0], "es");
}

TEST(ServeCli, LibreTranslateClientFromNpmWorksUnchanged) {
  const auto& want = offline();
  Server s;
  ASSERT_GT(s.port, 0);
  // The `translate` package from npm, set up as its README shows for a LibreTranslate server.
  const std::string script = std::string(KEEL_NPM_CLIENT_DIR) + "/libre_client.mjs";
  std::ofstream(s.dir.path / "in.txt") << sample_lines()[0] << '\n' << sample_lines()[4] << '\n';
  const auto r = run_shell("(cat " + (s.dir.path / "in.txt").string() + " | node " + script + " " + s.url + ")");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lines_of(r.out), (std::vector<std::string>{want[0], want[4]}));
}

TEST(ServeCli, EveryErrorHasItsStatusAndAJsonErrorAndMetricsCountThem) {
  Server s;  // (no key here: 401 has its own test)
  ASSERT_GT(s.port, 0);
  struct Case {
    std::string path, body, type;
    int status;
    std::string says;
  };
  const std::string long_text = [] {
    std::string t;
    for (int i = 0; i < 1100; ++i) t += "cat ";
    return t;
  }();
  json many = json::array();
  for (int i = 0; i < 129; ++i) many.push_back("a");
  const std::vector<Case> cases = {
      {"/translate", "{\"q\": \"a\", ", "application/json", 400, "malformed JSON"},
      {"/translate", R"({"q": 3, "target": "es"})", "application/json", 400, "\"q\""},
      {"/translate", R"({"q": "a", "target": ["es"]})", "application/json", 400, "\"target\""},
      {"/translate", R"({"q": "a", "source": "de", "target": "es"})", "application/json", 400, "en-es"},
      {"/translate", libre(many).dump(), "application/json", 400, "--max-texts-per-request"},
      {"/translate", libre(long_text).dump(), "application/json", 400, "--max-tokens-per-text"},
      {"/translate", libre(std::string(2 << 20, 'a')).dump(), "application/json", 413, "--max-body-bytes"},
      {"/v1/translate", R"({"text": ["a"], "beam_size": 99})", "application/json", 400, "\"beam_size\""},
      {"/nope", "{}", "application/json", 404, "/nope"},
  };
  std::map<std::string, std::map<int, int>> sent;
  for (const auto& c : cases) {
    const auto [status, body] = request(s, c.path, c.body, c.type);
    EXPECT_EQ(status, c.status) << c.path << " " << c.body.substr(0, 80);
    ASSERT_TRUE(body.is_object() && body.contains("error")) << body;
    EXPECT_NE(body["error"].get<std::string>().find(c.says), std::string::npos) << body;
    ++sent[c.path == "/nope" ? "other" : c.path][c.status];
  }
  // HTML: tags kept, text translated.
  const auto [status, html] = request(
      s, "/translate", R"({"q": "<p>the <b>cat</b></p>", "target": "es", "format": "html"})",
      "application/json");
  EXPECT_EQ(status, 200) << html;
  EXPECT_TRUE(std::regex_match(html["translatedText"].get<std::string>(),
                               std::regex("<p>[^<>]+ <b>[^<>]+</b></p>")))
      << html;
  ++sent["/translate"][200];

  auto c = s.client();
  const auto metrics = c.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  const std::regex sample(R"(^([a-z_]+)(\{[^}]*\})? ([-+0-9.eInf]+)$)");
  std::map<std::string, double> values;
  std::istringstream in(metrics->body);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::smatch m;
    ASSERT_TRUE(std::regex_match(line, m, sample)) << line;
    values[m[1].str() + m[2].str()] = std::stod(m[3]);
  }
  for (const auto& [path, by_status] : sent)
    for (const auto& [st, n] : by_status)
      EXPECT_EQ(values[fmt::format("keel_nmt_requests_total{{endpoint=\"{}\",status=\"{}\"}}", path, st)], n)
          << path << " " << st;
  EXPECT_EQ(values["keel_nmt_queue_depth"], 0);
  EXPECT_GE(values["keel_nmt_sentences_total"], 1);
}

TEST(ServeCli, ApiKeysAreRequiredWhenConfigured) {
  TempDir d("keel_keys");
  std::ofstream(d.path / "keys") << "# keys\nsecret-1\n\nsecret-2\n";
  Server s("--api-key-file " + (d.path / "keys").string());
  ASSERT_GT(s.port, 0);
  EXPECT_EQ(request(s, "/translate", libre("a cat").dump(), "application/json").first, 401);
  json with_key = libre("a cat");
  with_key["api_key"] = "wrong";
  auto [st, body] = request(s, "/translate", with_key.dump(), "application/json");
  EXPECT_EQ(st, 401);
  EXPECT_EQ(body["error"], "invalid api_key");
  with_key["api_key"] = "secret-2";
  EXPECT_EQ(request(s, "/translate", with_key.dump(), "application/json").first, 200);
  EXPECT_EQ(request(s, "/translate", "q=a+cat&target=es&api_key=secret-1",
                    "application/x-www-form-urlencoded").first, 200);
  EXPECT_EQ(request(s, "/v1/translate", R"({"text": ["a cat"]})", "application/json",
                    {{"X-API-Key", "secret-1"}}).first, 200);
  EXPECT_EQ(request(s, "/v1/translate", R"({"text": ["a cat"]})", "application/json",
                    {{"Authorization", "Bearer secret-1x"}}).first, 401);
}

TEST(ServeCli, AFullQueueAnswers503WithRetryAfterAndARequestOverTheWholeQueue413) {
  // Batches wait up to a minute to fill: what is queued stays queued until SIGTERM drains it.
  Server s("--max-queue 2 --max-wait-ms 60000 --max-batch-size 64");
  ASSERT_GT(s.port, 0);
  auto c = s.client();
  // More sentences than the queue can ever hold: no retry would help, so no Retry-After.
  const auto three = c.Post("/translate", libre({"a", "b", "c"}).dump(), "application/json");
  ASSERT_TRUE(three);
  EXPECT_EQ(three->status, 413);
  EXPECT_FALSE(three->has_header("Retry-After"));
  EXPECT_NE(json::parse(three->body)["error"].get<std::string>().find("split it"),
            std::string::npos)
      << three->body;
  // Two sentences fill the queue; a third, alone, is told to come back.
  int first_status = 0;
  std::thread first([&] {
    auto c1 = s.client();
    const auto r = c1.Post("/translate", libre({"a", "b"}).dump(), "application/json");
    first_status = r ? r->status : -1;
  });
  const auto queued = [&] {
    const auto h = c.Get("/health");
    return h ? json::parse(h->body)["queue_depth"].get<int>() : -1;
  };
  for (int i = 0; i < 3000 && queued() < 2; ++i)  // bounded: ~30 s
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(queued(), 2);  // EXPECT, not ASSERT: `first` must be joined below
  const auto one = c.Post("/translate", libre("c").dump(), "application/json");
  EXPECT_TRUE(one);
  if (one) {
    EXPECT_EQ(one->status, 503);
    EXPECT_EQ(one->get_header_value("Retry-After"), "1");
    EXPECT_NE(json::parse(one->body)["error"].get<std::string>().find("--max-queue"),
              std::string::npos);
  }
  s.proc->signal(SIGTERM);
  first.join();
  EXPECT_EQ(first_status, 200);
  EXPECT_EQ(s.proc->wait(), 0) << s.log();
}

TEST(ServeCli, SigtermFinishesEveryRequestInFlightAndExitsZero) {
  const auto& want = offline();
  Server s("--max-wait-ms 60000 --max-batch-size 64");
  ASSERT_GT(s.port, 0);
  constexpr std::size_t kInFlight = 12;
  std::vector<std::string> got(kInFlight);
  std::vector<int> status(kInFlight, 0);
  std::vector<std::thread> clients;
  for (std::size_t i = 0; i < kInFlight; ++i)
    clients.emplace_back([&, i] {
      auto c = s.client();
      const auto res = c.Post("/translate", libre(sample_lines()[i]).dump(), "application/json");
      if (!res) {
        got[i] = "no answer: " + httplib::to_string(res.error());
        return;
      }
      status[i] = res->status;
      got[i] = json::parse(res->body)["translatedText"].get<std::string>();
    });
  // Every request is queued (the batch waits to fill) before the signal; bounded in time.
  auto c = s.client();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::size_t depth = 0;
  while (depth < kInFlight && std::chrono::steady_clock::now() < until) {
    const auto h = c.Get("/health");
    if (h) depth = json::parse(h->body)["queue_depth"].get<std::size_t>();
    if (depth < kInFlight) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling
  }
  if (depth != kInFlight) {
    const auto h = c.Get("/health");
    ADD_FAILURE() << "queued " << depth << " of " << kInFlight << ": " << (h ? h->body : "");
  }
  s.proc->signal(SIGTERM);
  for (auto& t : clients) t.join();
  for (std::size_t i = 0; i < kInFlight; ++i) {
    EXPECT_EQ(status[i], 200) << i;
    EXPECT_EQ(got[i], want[i]) << i;
  }
  EXPECT_EQ(s.proc->wait(), 0) << s.log();
  EXPECT_NE(s.log().find("finishing 12 queued"), std::string::npos) << s.log();
}

TEST(ServeCli, ClientsLeavingMidRequestCostNothingAndBreakNothing) {
  const auto& want = offline();
  // Batches wait a minute to fill: what impatient clients sent is still queued when they leave.
  Server s("--max-wait-ms 60000 --max-batch-size 64");
  ASSERT_GT(s.port, 0);
  constexpr int kImpatient = 6;
  for (int i = 0; i < kImpatient; ++i) {
    httplib::Client impatient("127.0.0.1", s.port);
    impatient.set_read_timeout(0, 50000);  // gives up after 50 ms and closes the connection
    const auto res = impatient.Post("/translate", libre(sample_lines()[5]).dump(), "application/json");
    EXPECT_FALSE(res);
  }
  // The server notices within its 20 ms poll: their sentences leave the queue undecoded.
  auto c = s.client();
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  std::size_t depth = 1;
  while (depth > 0 && std::chrono::steady_clock::now() < until) {
    const auto h = c.Get("/health");
    if (h) depth = json::parse(h->body)["queue_depth"].get<std::size_t>();
    if (depth > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling
  }
  EXPECT_EQ(depth, 0u);
  const auto m = c.Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("keel_nmt_sentences_total 0\n"), std::string::npos) << m->body;
  EXPECT_NE(m->body.find(fmt::format("keel_nmt_requests_total{{endpoint=\"/translate\",status=\"499\"}} {}\n", kImpatient)),
            std::string::npos) << m->body;
  // The same server serves on: 64 sentences make a full batch, which starts at once.
  const std::vector<std::string> first64(sample_lines().begin(), sample_lines().begin() + 64);
  int status = 0;
  const json r = post_json(s, "/translate", libre(first64), &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(r["translatedText"].get<std::vector<std::string>>(),
            std::vector<std::string>(want.begin(), want.begin() + 64));
  s.proc->signal(SIGTERM);
  EXPECT_EQ(s.proc->wait(), 0) << s.log();
}

TEST(ServeCli, BenchServeReportsThroughputAndLatency) {
  Server s("--max-wait-ms 2");
  ASSERT_GT(s.port, 0);
  for (const std::string api : {"v1", "libre"}) {
    const auto r = run_keel("nmt bench-serve --json --quiet --url " + s.url + " --sentences " +
                            kSample + " --clients 4 --requests 24 --seconds 120 --api " + api);
    ASSERT_EQ(r.rc, 0) << r.err;
    const json j = json::parse(r.out);
    EXPECT_EQ(j["requests"], 24);
    EXPECT_EQ(j["errors"], 0);
    EXPECT_GT(j["sentences_per_s"].get<double>(), 0);
    if (api == "v1") {
      EXPECT_GT(j["target_tokens_per_s"].get<double>(), 0);
    }
    EXPECT_LE(j["latency_ms"]["p50"].get<double>(), j["latency_ms"]["p99"].get<double>());
  }
  const auto bad = run_keel("nmt bench-serve --url " + s.url + " --sentences /nonexistent");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("/nonexistent"), std::string::npos);
  // The URL as copied from a browser (a trailing slash) works.
  const auto slash = run_keel("nmt bench-serve --quiet --url " + s.url + "/ --sentences " +
                              kSample + " --clients 1 --requests 2");
  EXPECT_EQ(slash.rc, 0) << slash.err;
  // A run where nothing succeeded is a failure that says why: a refused connection, a wrong
  // key's 401 (here: a path the server lacks, 404), a scheme the client cannot speak.
  const auto refused = run_keel("nmt bench-serve --quiet --url http://127.0.0.1:1 --sentences " +
                                kSample + " --clients 1 --requests 2");
  EXPECT_EQ(refused.rc, 1);
  EXPECT_EQ(count_lines(refused.err), 1) << refused.err;
  EXPECT_NE(
      refused.err.find("every request to http://127.0.0.1:1 failed (2 of 2); the first: no answer"),
      std::string::npos)
      << refused.err;
  for (const std::string& url : {std::string("ftp://127.0.0.1:1"), s.url + "/translate"}) {
    const auto bad_url = run_keel("nmt bench-serve --url " + url + " --sentences " + kSample);
    EXPECT_EQ(bad_url.rc, 2) << url;
    EXPECT_EQ(count_lines(bad_url.err), 1) << bad_url.err;
    EXPECT_NE(bad_url.err.find("pass http://HOST:PORT"), std::string::npos) << bad_url.err;
  }
}

TEST(ServeCli, BadStartsFailWithOneLine) {
  auto r = run_keel("nmt serve --model " + kModel + " --languages english");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--languages en-es"), std::string::npos) << r.err;
  Server s;
  ASSERT_GT(s.port, 0);
  r = run_keel("nmt serve --model " + kModel + " --port " + std::to_string(s.port));
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("cannot listen on 127.0.0.1:" + std::to_string(s.port) +
                       ": Address already in use"),
            std::string::npos)
      << r.err;
  // An address this machine does not have (TEST-NET-1: no packet leaves for it) names the cause.
  r = run_keel("nmt serve --model " + kModel + " --host 192.0.2.1 --port 0");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("cannot listen on 192.0.2.1:0: Cannot assign requested address"),
            std::string::npos)
      << r.err;
  r = run_keel("nmt serve --model " + kModel + " --max-wait-ms inf");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("must be a finite number, got inf"), std::string::npos) << r.err;
}
