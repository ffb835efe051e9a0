#pragma once
// Dynamic batching for a translation server: sentences from concurrent requests queue here and
// worker streams (pinned threads, as in Translator::translate) decode them in length-sorted
// batches. A batch starts when a full one is waiting (size or token budget) or when the oldest
// sentence has waited `max_wait`; it is the length-sorted batch that holds the oldest sentence,
// so no sentence starves. Each request gets its own results back, in its order.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "keel/nmt/transformer.h"

namespace keel::nmt {

struct BatcherOptions {
  int streams = 1;                    // batches decoded in parallel, one thread each
  int threads_per_stream = 1;         // OpenMP threads inside each stream
  bool pin_cores = true;              // pin streams to cores when streams x threads fit
  int max_batch_size = 32;            // sentences per batch
  std::int64_t max_batch_tokens = 0;  // sentences x longest source, padding counted; 0 = off
  std::chrono::microseconds max_wait{5000};  // longest a sentence waits for a batch to fill
  std::size_t max_queue = 1024;       // sentences waiting; a request that does not fit is refused
};

// What a cancelled request's future throws.
struct Cancelled : std::runtime_error {
  Cancelled() : std::runtime_error("request cancelled: the client left") {}
};

// What one decoded batch did (for metrics).
struct BatchInfo {
  std::size_t sentences = 0, source_tokens = 0, target_tokens = 0;
  double seconds = 0;
};

class Batcher {
 public:
  // `model` must outlive the batcher. `on_batch` runs on the stream thread after each batch.
  Batcher(const Transformer& model, const BatcherOptions& options,
          std::function<void(const BatchInfo&)> on_batch = {});
  ~Batcher();  // stop()
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  struct Request;
  // A submitted request: its results to come, and what cancel() needs.
  struct Ticket {
    std::future<std::vector<Ids>> result;
    std::shared_ptr<Request> request;
  };
  // Queues `sources` (ids, each ending with EOS) for decoding with `decode`. The future yields
  // their target ids in order (or the decoder's exception). Empty when the queue cannot take all
  // of them (the caller answers "busy"), or after stop().
  std::optional<Ticket> submit(std::vector<Ids> sources, const DecodeOptions& decode);
  // The client is gone: its sentences still queued are dropped (never decoded) and its future
  // holds a Cancelled error. Sentences already in a batch finish with it.
  void cancel(const Ticket& ticket);
  // Sentences waiting (not yet in a batch).
  std::size_t queued() const;
  // Sentences in batches being decoded now.
  std::size_t decoding() const;
  // From now on batches start without waiting to fill (a server shutting down finishes what is
  // in flight at once). New work is still taken.
  void drain();
  // Refuses new work, decodes everything queued, joins the streams. Idempotent.
  void stop();

 private:
  struct Item {
    std::shared_ptr<Request> request;
    std::size_t index;
    Ids source;
    DecodeOptions decode;
    std::chrono::steady_clock::time_point arrived;
  };
  void worker(int stream);
  bool full_batch_waiting() const;  // under mu_
  std::vector<Item> take_batch();   // under mu_
  void run_batch(std::vector<Item>& batch);

  const Transformer& model_;
  BatcherOptions options_;
  std::function<void(const BatchInfo&)> on_batch_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::size_t decoding_ = 0;
  bool stopping_ = false, draining_ = false;
  std::vector<std::thread> streams_;
};

}  // namespace keel::nmt
