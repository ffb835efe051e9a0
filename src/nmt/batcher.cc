// Dynamic batching (batcher.h): one queue under one mutex, streams that wait for a full batch or
// the oldest sentence's deadline, then decode outside the lock.
#include "keel/nmt/batcher.h"

#include <omp.h>

#include <algorithm>
#include <cassert>
#include <exception>

#include "keel/nmt/translator.h"

namespace keel::nmt {

using Clock = std::chrono::steady_clock;

// One submit(): results fill in as its sentences' batches finish; the last one sets the promise.
struct Batcher::Request {
  std::vector<Ids> results;
  std::size_t remaining = 0;  // under the batcher's mutex
  bool failed = false;
  std::promise<std::vector<Ids>> done;
};

namespace {

bool same_decode(const DecodeOptions& a, const DecodeOptions& b) { return a == b; }

}  // namespace

Batcher::Batcher(const Transformer& model, const BatcherOptions& options,
                 std::function<void(const BatchInfo&)> on_batch)
    : model_(model), options_(options), on_batch_(std::move(on_batch)) {
  options_.streams = std::max(1, options_.streams);
  options_.threads_per_stream = std::max(1, options_.threads_per_stream);
  options_.max_batch_size = std::max(1, options_.max_batch_size);
  for (int s = 0; s < options_.streams; ++s) streams_.emplace_back([this, s] { worker(s); });
}

Batcher::~Batcher() { stop(); }

std::optional<Batcher::Ticket> Batcher::submit(std::vector<Ids> sources,
                                               const DecodeOptions& decode) {
  auto request = std::make_shared<Request>();
  Ticket ticket{request->done.get_future(), request};
  if (sources.empty()) {
    request->done.set_value({});
    return ticket;
  }
  const auto now = Clock::now();
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() + sources.size() > options_.max_queue) return std::nullopt;
    request->results.resize(sources.size());
    request->remaining = sources.size();
    for (std::size_t i = 0; i < sources.size(); ++i)
      queue_.push_back({request, i, std::move(sources[i]), decode, now});
  }
  cv_.notify_all();
  return ticket;
}

void Batcher::cancel(const Ticket& ticket) {
  std::lock_guard lock(mu_);
  Request& req = *ticket.request;
  if (req.remaining == 0 || req.failed) return;  // answered already
  const auto before = queue_.size();
  std::erase_if(queue_, [&](const Item& item) { return item.request == ticket.request; });
  req.remaining -= before - queue_.size();
  req.failed = true;
  req.done.set_exception(std::make_exception_ptr(Cancelled()));
}

std::size_t Batcher::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t Batcher::decoding() const {
  std::lock_guard lock(mu_);
  return decoding_;
}

void Batcher::drain() {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
  }
  cv_.notify_all();
}

void Batcher::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : streams_)
    if (t.joinable()) t.join();
}

bool Batcher::full_batch_waiting() const {
  const auto& front = queue_.front();
  std::size_t n = 0, longest = 0;
  for (const auto& item : queue_) {
    if (!same_decode(item.decode, front.decode)) continue;
    ++n;
    longest = std::max(longest, item.source.size());
    if (static_cast<int>(n) >= options_.max_batch_size) return true;
    if (options_.max_batch_tokens > 0 &&
        static_cast<std::int64_t>(n * longest) >= options_.max_batch_tokens)
      return true;
  }
  return false;
}

std::vector<Batcher::Item> Batcher::take_batch() {
  // The queue's sentences that decode like the oldest, batched by length as offline translation
  // does; the batch holding the oldest one runs.
  const DecodeOptions decode = queue_.front().decode;
  std::vector<std::size_t> candidates, lengths;
  for (std::size_t i = 0; i < queue_.size(); ++i)
    if (same_decode(queue_[i].decode, decode)) {
      candidates.push_back(i);
      lengths.push_back(queue_[i].source.size());
    }
  const auto batches = make_batches(lengths, options_.max_batch_size, options_.max_batch_tokens);
  const auto chosen = std::find_if(batches.begin(), batches.end(), [](const auto& b) {
    return std::find(b.begin(), b.end(), std::size_t{0}) != b.end();
  });
  assert(chosen != batches.end());
  std::vector<bool> take(queue_.size(), false);
  for (std::size_t c : *chosen) take[candidates[c]] = true;
  std::vector<Item> batch;
  std::deque<Item> rest;
  for (std::size_t i = 0; i < queue_.size(); ++i) {
    if (take[i])
      batch.push_back(std::move(queue_[i]));
    else
      rest.push_back(std::move(queue_[i]));
  }
  queue_.swap(rest);
  return batch;
}

void Batcher::run_batch(std::vector<Item>& batch) {
  const auto t0 = Clock::now();
  std::vector<Ids> sources;
  BatchInfo info;
  info.sentences = batch.size();
  for (const auto& item : batch) {
    sources.push_back(item.source);
    info.source_tokens += item.source.size();
  }
  std::vector<Ids> results;
  std::exception_ptr error;
  try {
    results = model_.decode(sources, batch.front().decode);
  } catch (...) {
    error = std::current_exception();
  }
  info.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  for (const auto& r : results) info.target_tokens += r.size();
  if (on_batch_ && !error) on_batch_(info);
  std::lock_guard lock(mu_);
  decoding_ -= batch.size();
  for (std::size_t k = 0; k < batch.size(); ++k) {
    Request& req = *batch[k].request;
    if (error) {
      if (!req.failed) req.done.set_exception(error);
      req.failed = true;
    } else {
      req.results[batch[k].index] = std::move(results[k]);
    }
    if (--req.remaining == 0 && !req.failed) req.done.set_value(std::move(req.results));
  }
}

void Batcher::worker(int stream) {
  omp_set_num_threads(options_.threads_per_stream);
  const int per = options_.threads_per_stream;
  if (options_.pin_cores) {
    const auto cores = allowed_cores();
    if (options_.streams * per <= static_cast<int>(cores.size())) pin_thread(cores, stream * per, per);
  }
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to decode
    // Wait for a full batch or the oldest sentence's deadline; on stop, go at once.
    const auto deadline = queue_.front().arrived + options_.max_wait;
    if (!stopping_ && !draining_ && !full_batch_waiting() && Clock::now() < deadline) {
      cv_.wait_until(lock, deadline);
      continue;  // re-examine: another stream may have taken the batch, more may have come
    }
    std::vector<Item> batch = take_batch();
    decoding_ += batch.size();
    lock.unlock();
    cv_.notify_all();  // another stream may start on what is left
    run_batch(batch);
    lock.lock();
  }
}

}  // namespace keel::nmt
