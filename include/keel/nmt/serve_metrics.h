#pragma once
// Counters and histograms of `keel nmt serve`, written in the Prometheus text exposition format
// (version 0.0.4) for GET /metrics. Written here: the format is a few lines of text, and
// prometheus-cpp is not packaged in Debian 12.

#include <array>
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "keel/nmt/batcher.h"

namespace keel::nmt {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // "<name>_bucket{<labels>le=...} n" lines (cumulative), _sum and _count.
  std::string text(const std::string& name, const std::string& labels) const;

 private:
  std::vector<double> bounds_;
  std::vector<std::size_t> counts_;  // per bucket, not cumulative; the last is +Inf
  double sum_ = 0;
  std::size_t count_ = 0;
};

class ServeMetrics {
 public:
  ServeMetrics();
  // One answered request: its endpoint ("/translate"), status and time from receipt to answer.
  void request(const std::string& endpoint, int status, double seconds);
  // One decoded batch (the batcher's callback).
  void batch(const BatchInfo& info);
  std::string prometheus(std::size_t queued, std::size_t decoding) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, std::size_t> requests_;
  std::map<std::string, Histogram> latency_;
  Histogram batch_size_, batch_seconds_;
  std::size_t sentences_ = 0, source_tokens_ = 0, target_tokens_ = 0, batches_ = 0;
};

}  // namespace keel::nmt
