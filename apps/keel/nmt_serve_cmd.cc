// `keel nmt serve`: the translation server. HTTP from cpp-httplib (Debian's libcpp-httplib-dev:
// a maintained, dependency-free HTTP/1.1 server with a thread pool, packaged in Debian 12);
// everything past the HTTP layer is keel::nmt (serve_engine.h, serve_api.h, serve_metrics.h).
#include <fcntl.h>
#include <sys/socket.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli.h"
#include "decode_flags.h"
#include "http_bind.h"
#include "install_paths.h"
#include "peer_socket.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/nmt/bench.h"
#include "keel/nmt/model.h"
#include "keel/nmt/serve_engine.h"
#include "keel/nmt/serve_metrics.h"

namespace keel::cli {

namespace {

struct ServeArgs {
  std::string model, host = "127.0.0.1", compute, api_key_file, languages;
  int port = 5000, streams = 0, threads_per_stream = 1, max_batch_size = 32, http_threads = 256;
  std::int64_t max_batch_tokens = 0;
  double max_wait_ms = 1;
  std::size_t max_queue = 1024, max_body_bytes = 1 << 20, max_texts = 128, max_tokens = 1024;
  int max_input_length = 200;
  DecodeFlags decode;
  bool no_pin = false, no_split = false;
};

// SIGINT/SIGTERM: the handler only writes to a pipe; a thread reading it stops the server (the
// HTTP library is not async-signal-safe). A second signal ends the process at once.
int g_stop_pipe[2] = {-1, -1};
std::atomic<int> g_stop_count{0};

extern "C" void on_stop_signal(int sig) {
  if (g_stop_count.fetch_add(1) > 0) _exit(128 + sig);
  const auto byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] const auto n = write(g_stop_pipe[1], &byte, 1);
}

constexpr const char* kJson = "application/json";

std::multimap<std::string, std::string> form_fields(const httplib::Request& req) {
  std::multimap<std::string, std::string> fields(req.params.begin(), req.params.end());
  for (const auto& [name, file] : req.files) fields.emplace(name, file.content);
  return fields;
}

bool is_form(const httplib::Request& req) {
  const std::string type = req.get_header_value("Content-Type");
  return type.rfind("application/x-www-form-urlencoded", 0) == 0 ||
         type.rfind("multipart/form-data", 0) == 0;
}

void check_key(const std::vector<std::string>& keys, const httplib::Request& req,
               const std::optional<std::string>& body_key) {
  if (keys.empty()) return;
  std::optional<std::string> key = body_key;
  if (!key && req.has_header("X-API-Key")) key = req.get_header_value("X-API-Key");
  if (!key) {
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
  }
  if (!key)
    throw nmt::ApiError(401, "missing api_key: this server needs a key (the body's \"api_key\", "
                             "or an X-API-Key or Authorization: Bearer header)");
  if (!nmt::key_matches(keys, *key)) throw nmt::ApiError(401, "invalid api_key");
}

// Polled while a request waits for its batch: finds the client's socket on first use.
nmt::TranslationService::GoneCheck client_gone(const httplib::Request& req, int local_port) {
  return [addr = req.remote_addr, port = req.remote_port, local_port, fd = -2]() mutable {
    if (fd == -2) fd = find_peer_socket(addr, port, local_port);
    return fd >= 0 && peer_closed(fd);
  };
}

void run_serve(const ServeArgs& a, const GlobalOptions& g) {
  using Clock = std::chrono::steady_clock;
  const std::filesystem::path model_path = find_model(a.model);
  const nmt::ModelPaths paths = nmt::resolve_model_paths(model_path);
  nmt::LanguagePair pair;
  if (!a.languages.empty()) {
    pair = nmt::parse_pair(a.languages);
  } else {
    const auto named = nmt::pair_from_name(std::filesystem::absolute(model_path).lexically_normal().filename().string());
    if (!named)
      throw core::InputError(fmt::format("the model's name '{}' does not say its languages",
                                         model_path.string()),
                             {}, "pass them, e.g. --languages en-es");
    pair = *named;
  }
  std::vector<std::string> keys;
  if (!a.api_key_file.empty()) keys = nmt::read_api_keys(a.api_key_file);

  const nmt::TextCodec codec(paths);
  std::unique_ptr<nmt::Translator> translator;
  std::string compute = a.compute;
  {
    nmt::Model model = nmt::load_model(paths.model, nmt::LoadMode::deferred);
    codec.check_vocabulary(model.src_vocab, model.tgt_vocab);
    if (compute.empty()) compute = nmt::is_calibrated(model) ? "int8" : "fp32";
    translator = std::make_unique<nmt::Translator>(std::move(model), nmt::parse_compute(compute));
  }

  nmt::BatcherOptions bo;
  bo.threads_per_stream = a.threads_per_stream;
  bo.streams = a.streams > 0 ? a.streams
                             : std::max(1, static_cast<int>(std::thread::hardware_concurrency()) /
                                               a.threads_per_stream);
  bo.pin_cores = !a.no_pin;
  bo.max_batch_size = a.max_batch_size;
  bo.max_batch_tokens = a.max_batch_tokens;
  bo.max_wait = std::chrono::microseconds(static_cast<std::int64_t>(a.max_wait_ms * 1000));
  bo.max_queue = a.max_queue;
  nmt::SegmentOptions so{!a.no_split && codec.active(),
                         static_cast<std::size_t>(a.max_input_length), nmt::LengthPolicy::split};
  nmt::ServeLimits limits;
  limits.max_texts = a.max_texts;
  limits.max_tokens_per_text = a.max_tokens;
  const nmt::DecodeOptions defaults = resolve_decoding(a.decode, paths);
  if (defaults.beam_size > 16)
    throw core::InputError(fmt::format("beam size {} is above the server's limit of 16", defaults.beam_size),
                           {}, "pass --beam-size 16 or less");
  limits.max_decoding_length = std::max(defaults.max_length, 512);

  nmt::ServeMetrics metrics;
  nmt::TranslationService service(*translator, codec, bo, so, limits,
                                   [&metrics](const nmt::BatchInfo& b) { metrics.batch(b); });

  httplib::Server svr;
  const auto http_threads = static_cast<std::size_t>(a.http_threads);
  svr.new_task_queue = [http_threads] { return new httplib::ThreadPool(http_threads); };
  svr.set_payload_max_length(a.max_body_bytes);
  svr.set_keep_alive_max_count(100000);
  svr.set_keep_alive_timeout(5);
  svr.set_tcp_nodelay(true);  // small answers: Nagle + delayed ACKs would add ~40 ms each
  int listen_socket = -1;
  exclusive_port(svr, &listen_socket);

  int port = a.port;  // the bound one once known (handlers read it)
  // Every API handler: errors become {"error": ...} with their status, and are counted.
  auto api = [&](const char* endpoint, auto body) {
    return [&, endpoint, body](const httplib::Request& req, httplib::Response& res) {
      const auto t0 = Clock::now();
      try {
        body(req, res);
        res.status = 200;
      } catch (const nmt::ApiError& e) {
        res.status = e.status();
        res.set_content(nmt::error_json(e.what()), kJson);
        if (e.status() == 503) res.set_header("Retry-After", "1");
      } catch (const core::Error& e) {
        res.status = 400;
        res.set_content(nmt::error_json(e.what()), kJson);
      } catch (const std::exception& e) {
        res.status = 500;
        res.set_content(nmt::error_json(std::string("internal error: ") + e.what()), kJson);
      }
      metrics.request(endpoint, res.status,
                      std::chrono::duration<double>(Clock::now() - t0).count());
    };
  };

  svr.Post("/translate", api("/translate", [&](const httplib::Request& req, httplib::Response& res) {
    nmt::LibreRequest r = is_form(req) ? nmt::parse_libre_form(form_fields(req), limits)
                                       : nmt::parse_libre_json(req.body, limits);
    check_key(keys, req, r.api_key);
    nmt::check_pair(r, pair);
    const auto gone = client_gone(req, port);
    const std::vector<std::string> texts = r.format == "html"
                                               ? service.translate_html(r.q, defaults, gone)
                                               : service.translate(r.q, defaults, gone).texts;
    res.set_content(nmt::libre_response(r, texts, pair), kJson);
  }));
  svr.Post("/v1/translate",
           api("/v1/translate", [&](const httplib::Request& req, httplib::Response& res) {
             const auto t0 = Clock::now();
             const nmt::V1Request r = nmt::parse_v1(req.body, defaults, limits);
             check_key(keys, req, r.api_key);
             const auto out = service.translate(r.text, r.decode, client_gone(req, port));
             nlohmann::json j;
             j["translations"] = nlohmann::json::array();
             for (std::size_t i = 0; i < out.texts.size(); ++i)
               j["translations"].push_back({{"text", out.texts[i]}, {"tokens", out.tokens[i]}});
             j["segments"] = out.segments;
             j["target_tokens"] = out.target_tokens;
             j["time_ms"] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
             res.set_content(j.dump(), kJson);
           }));
  svr.Get("/languages", api("/languages", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(nmt::languages_json(pair), kJson);
  }));
  svr.Get("/health", api("/health", [&](const httplib::Request&, httplib::Response& res) {
    const nlohmann::json j = {{"status", "ok"},
                              {"model", model_path.string()},
                              {"languages", pair.source + "-" + pair.target},
                              {"compute", compute},
                              {"streams", bo.streams},
                              {"queue_depth", service.queued()},
                              {"decoding", service.decoding()}};
    res.set_content(j.dump(), kJson);
  }));
  svr.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.prometheus(service.queued(), service.decoding()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  // What the library answers by itself (404, 413 over --max-body-bytes, 400 unparsable) gets a
  // JSON body too.
  svr.set_error_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string message = fmt::format("HTTP {}", res.status);
    if (res.status == 404) message = fmt::format("no endpoint {} {}", req.method, req.path);
    if (res.status == 413)
      message = fmt::format("request body over the limit of {} bytes (--max-body-bytes)",
                            a.max_body_bytes);
    res.set_content(nmt::error_json(message), kJson);
    // Only known endpoints become labels: a client must not grow the metrics with made-up paths.
    const bool known = req.path == "/translate" || req.path == "/v1/translate" ||
                       req.path == "/languages" || req.path == "/health";
    metrics.request(known ? req.path : "other", res.status, 0);
  });

  port = bind_exclusive(svr, a.host, a.port);
  // cpp-httplib 0.11 listens with a backlog of 5: a burst of new clients overflows it (SYN
  // cookies, connections reset). Linux lets listen() on the bound socket raise it.
  if (listen_socket >= 0) ::listen(listen_socket, SOMAXCONN);

  if (pipe2(g_stop_pipe, O_CLOEXEC) != 0) throw core::Error("cannot create a pipe for signals");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  std::signal(SIGPIPE, SIG_IGN);  // a client gone mid-answer is a failed write, not an exit
  std::thread stopper([&] {
    unsigned char sig = 0;
    while (read(g_stop_pipe[0], &sig, 1) < 0 && errno == EINTR) {
    }
    if (sig != 0)
      core::log_info("signal {}: not accepting new connections; finishing {} queued and {} "
                     "decoding sentences",
                     sig, service.queued(), service.decoding());
    service.drain();
    svr.stop();
  });

  const std::string url = fmt::format("http://{}:{}", a.host, port);
  if (g.json)
    print_out(nlohmann::json{{"url", url}, {"port", port}}.dump());
  else
    print_out("listening on " + url);
  std::cout.flush();
  core::log_info("keel nmt serve: {} ({}-{}, {}, {} streams x {} threads, batches of <= {} "
                 "sentences, wait <= {} ms, queue <= {})",
                 url, pair.source, pair.target, compute, bo.streams, bo.threads_per_stream,
                 bo.max_batch_size, a.max_wait_ms, bo.max_queue);

  const bool listened = svr.listen_after_bind();  // returns once stop() ran and handlers ended
  const int stop_sig = g_stop_count.load();
  if (stop_sig == 0) {  // listen failed: wake the stopper
    const unsigned char zero = 0;
    [[maybe_unused]] const auto n = write(g_stop_pipe[1], &zero, 1);
  }
  stopper.join();
  service.stop();
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  close(g_stop_pipe[0]);
  close(g_stop_pipe[1]);
  if (!listened && stop_sig == 0) throw core::Error(fmt::format("the server on {} failed", url));
  core::log_info("keel nmt serve: stopped");
}

}  // namespace

void register_nmt_serve(CLI::App& nmt, const GlobalOptions& global) {
  auto a = std::make_shared<ServeArgs>();
  auto* s = nmt.add_subcommand(
      "serve",
      "Translation server: LibreTranslate-compatible POST /translate, POST /v1/translate, "
      "GET /languages, /health, /metrics; dynamic batching over pinned streams");
  s->add_option("--model", a->model,
                "Model directory (model.keel + SentencePiece), model file, or installed model name")
      ->required();
  s->add_option("--host", a->host, "Address to listen on")->capture_default_str();
  s->add_option("--port", a->port, "Port (0: a free one, printed on stdout)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  s->add_option("--languages", a->languages,
                "Language pair SOURCE-TARGET the model translates (default: from its name, e.g. "
                "en-es-int8)");
  s->add_option("--compute", a->compute,
                "fp32, int8 or int8-dynamic (default: int8 for a calibrated model, else fp32)")
      ->check(CLI::IsMember({"fp32", "int8", "int8-dynamic"}));
  s->add_option("--streams", a->streams,
                "Batches decoded in parallel (default: cores / threads-per-stream)")
      ->check(NonNegative);
  s->add_option("--threads-per-stream", a->threads_per_stream, "Threads inside each stream")
      ->capture_default_str()
      ->check(Positive);
  s->add_option("--max-batch-size", a->max_batch_size, "Sentences per batch")
      ->capture_default_str()
      ->check(Positive);
  s->add_option("--max-batch-tokens", a->max_batch_tokens,
                "Token budget per batch, padding counted; 0 = off")
      ->capture_default_str()
      ->check(NonNegative);
  s->add_option("--max-wait-ms", a->max_wait_ms,
                "Longest a sentence waits for its batch to fill")
      ->capture_default_str()
      ->check(NonNegative);
  s->add_option("--max-queue", a->max_queue,
                "Sentences waiting at most; a request that does not fit gets 503 + Retry-After")
      ->capture_default_str()
      ->check(Positive);
  s->add_option("--api-key-file", a->api_key_file,
                "Require a key from this file (one per line): api_key in the body, X-API-Key or "
                "Authorization: Bearer; else 401")
      ->check(CLI::ExistingFile);
  s->add_option("--max-body-bytes", a->max_body_bytes, "Largest request body (else 413)")
      ->capture_default_str()
      ->check(Positive);
  s->add_option("--max-texts-per-request", a->max_texts, "Texts per request (else 400)")
      ->capture_default_str()
      ->check(Positive);
  s->add_option("--max-tokens-per-text", a->max_tokens, "Source tokens per text (else 400)")
      ->capture_default_str()
      ->check(Positive);
  s->add_option("--max-input-length", a->max_input_length,
                "Most source pieces per segment; longer sentences are split, as by translate")
      ->capture_default_str()
      ->check(NonNegative);
  add_decode_flags(s, a->decode, true);  // the defaults; /v1/translate may change them
  s->add_option("--http-threads", a->http_threads,
                "Connections served at once (each waits for its batch on its own thread)")
      ->capture_default_str()
      ->check(Positive);
  s->add_flag("--no-split-sentences", a->no_split, "Translate each text as one segment");
  s->add_flag("--no-pin", a->no_pin, "Do not pin streams to cores");
  s->callback([a, &global] { run_serve(*a, global); });
}

}  // namespace keel::cli
