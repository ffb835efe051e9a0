// Prometheus text for keel nmt serve (serve_metrics.h).
#include "keel/nmt/serve_metrics.h"

#include <fmt/format.h>

#include <algorithm>

namespace keel::nmt {

namespace {

const std::vector<double> kLatencyBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                            0.5,   1,    2.5,   5,    10,  30};

std::string le(double b) { return fmt::format("{}", b); }

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  const auto i = static_cast<std::size_t>(
      std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());  // v <= bound
  ++counts_[i];
  sum_ += v;
  ++count_;
}

std::string Histogram::text(const std::string& name, const std::string& labels) const {
  std::string out;
  std::size_t cum = 0;
  const std::string sep = labels.empty() ? "" : ",";
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cum += counts_[i];
    out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                       i < bounds_.size() ? le(bounds_[i]) : "+Inf", cum);
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out += fmt::format("{}_sum{} {}\n{}_count{} {}\n", name, braces, sum_, name, braces, count_);
  return out;
}

ServeMetrics::ServeMetrics()
    : batch_size_({1, 2, 4, 8, 16, 32, 64, 128}),
      batch_seconds_({0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}) {}

void ServeMetrics::request(const std::string& endpoint, int status, double seconds) {
  std::lock_guard lock(mu_);
  ++requests_[{endpoint, status}];
  latency_.try_emplace(endpoint, kLatencyBounds).first->second.observe(seconds);
}

void ServeMetrics::batch(const BatchInfo& info) {
  std::lock_guard lock(mu_);
  ++batches_;
  sentences_ += info.sentences;
  source_tokens_ += info.source_tokens;
  target_tokens_ += info.target_tokens;
  batch_size_.observe(static_cast<double>(info.sentences));
  batch_seconds_.observe(info.seconds);
}

std::string ServeMetrics::prometheus(std::size_t queued, std::size_t decoding) const {
  std::lock_guard lock(mu_);
  std::string out;
  out += "# HELP keel_nmt_requests_total HTTP requests answered, by endpoint and status.\n"
         "# TYPE keel_nmt_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out += fmt::format("keel_nmt_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first,
                       key.second, n);
  out += "# HELP keel_nmt_request_duration_seconds Time from receipt to answer.\n"
         "# TYPE keel_nmt_request_duration_seconds histogram\n";
  for (const auto& [endpoint, h] : latency_)
    out += h.text("keel_nmt_request_duration_seconds", fmt::format("endpoint=\"{}\"", endpoint));
  out += fmt::format(
      "# HELP keel_nmt_sentences_total Sentences (segments) decoded.\n"
      "# TYPE keel_nmt_sentences_total counter\nkeel_nmt_sentences_total {}\n"
      "# HELP keel_nmt_source_tokens_total Source tokens decoded, EOS included.\n"
      "# TYPE keel_nmt_source_tokens_total counter\nkeel_nmt_source_tokens_total {}\n"
      "# HELP keel_nmt_target_tokens_total Target tokens produced, EOS not counted.\n"
      "# TYPE keel_nmt_target_tokens_total counter\nkeel_nmt_target_tokens_total {}\n"
      "# HELP keel_nmt_batches_total Batches decoded.\n"
      "# TYPE keel_nmt_batches_total counter\nkeel_nmt_batches_total {}\n",
      sentences_, source_tokens_, target_tokens_, batches_);
  out += "# HELP keel_nmt_batch_size Sentences per decoded batch.\n"
         "# TYPE keel_nmt_batch_size histogram\n" +
         batch_size_.text("keel_nmt_batch_size", "");
  out += "# HELP keel_nmt_batch_duration_seconds Decoding time per batch.\n"
         "# TYPE keel_nmt_batch_duration_seconds histogram\n" +
         batch_seconds_.text("keel_nmt_batch_duration_seconds", "");
  out += fmt::format(
      "# HELP keel_nmt_queue_depth Sentences waiting for a batch.\n"
      "# TYPE keel_nmt_queue_depth gauge\nkeel_nmt_queue_depth {}\n"
      "# HELP keel_nmt_decoding Sentences in batches being decoded.\n"
      "# TYPE keel_nmt_decoding gauge\nkeel_nmt_decoding {}\n",
      queued, decoding);
  return out;
}

}  // namespace keel::nmt
