// Tokens <-> ids and length-sorted batching.
#include "keel/nmt/translator.h"

#include <pthread.h>
#include <sched.h>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <atomic>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>

#include "keel/core/error.h"

namespace keel::nmt {

Translator::Translator(const Model& model, Compute compute)
    : transformer_(model, compute), src_vocab_(model.src_vocab), tgt_vocab_(model.tgt_vocab) {}

// Transformer(Model&&) erases only the tensors, so the vocabularies are still there to copy.
Translator::Translator(Model&& model, Compute compute)
    : transformer_(std::move(model), compute),
      src_vocab_(model.src_vocab),  // NOLINT(bugprone-use-after-move)
      tgt_vocab_(model.tgt_vocab) {}

std::vector<int> allowed_cores() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> cores;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) cores.push_back(c);
  return cores;
}

void pin_thread(const std::vector<int>& cores, int first, int count) {
  cpu_set_t mine;  // OpenMP threads this thread starts later inherit the mask
  CPU_ZERO(&mine);
  for (int t = 0; t < count; ++t) CPU_SET(cores.at(static_cast<std::size_t>(first + t)), &mine);
  pthread_setaffinity_np(pthread_self(), sizeof mine, &mine);
}

Ids tokens_to_ids(const Vocabulary& vocab, const ModelConfig& c, std::string_view line) {
  Ids ids;
  if (c.source_bos) ids.push_back(c.bos_id);
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) ids.push_back(vocab.id(line.substr(i, j - i), c.unk_id));
    i = j;
  }
  // The encoder needs one row: an empty line without EOS still gets it (its output is empty).
  if (c.source_eos || ids.empty()) ids.push_back(c.eos_id);
  return ids;
}

Ids Translator::source_ids(std::string_view line) const {
  return tokens_to_ids(src_vocab_, transformer_.config(), line);
}

std::string Translator::target_text(const Ids& ids) const {
  std::string s;
  for (auto id : ids) {
    if (!s.empty()) s += ' ';
    s += tgt_vocab_.token(id);
  }
  return s;
}

std::vector<std::vector<std::size_t>> make_batches(const std::vector<std::size_t>& lengths,
                                                   int max_batch_size,
                                                   std::int64_t max_batch_tokens) {
  // Similar lengths batch together: fewer steps wasted on sentences that finish early and
  // less padding where a batch is padded to its longest sentence.
  std::vector<std::size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return lengths[a] < lengths[b]; });
  std::vector<std::vector<std::size_t>> batches;
  std::vector<std::size_t> cur;
  for (std::size_t i : order) {
    // Sorted ascending, so sentence i is the longest of the batch it would join.
    const auto padded = static_cast<std::int64_t>((cur.size() + 1) * lengths[i]);
    if (!cur.empty() && (static_cast<int>(cur.size()) >= max_batch_size ||
                         (max_batch_tokens > 0 && padded > max_batch_tokens))) {
      batches.push_back(std::move(cur));
      cur.clear();
    }
    cur.push_back(i);
  }
  if (!cur.empty()) batches.push_back(std::move(cur));
  return batches;
}

std::vector<std::string> Translator::translate(
    const std::vector<std::string>& lines, const TranslateOptions& options,
    const std::function<void(std::size_t)>& progress) const {
  if (options.max_batch_size < 1)
    throw core::InputError("max batch size must be >= 1", {}, "pass --max-batch-size 1 or more");
  std::vector<Ids> src(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) src[i] = source_ids(lines[i]);
  std::vector<std::size_t> lengths(src.size());
  for (std::size_t i = 0; i < src.size(); ++i) lengths[i] = src[i].size();
  const auto batches = make_batches(lengths, options.max_batch_size, options.max_batch_tokens);

  // Streams take batches from a shared counter. Several single-threaded streams beat one
  // multi-threaded one on small batches: no OpenMP barriers, and cores never wait on each other.
  std::vector<std::string> out(lines.size());
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::size_t done = 0;
  std::exception_ptr error;
  const int streams = std::max(1, std::min<int>(options.streams, static_cast<int>(batches.size())));
  const int per = std::max(1, options.threads_per_stream);
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  sched_getaffinity(0, sizeof allowed, &allowed);
  const std::vector<int> cores = options.pin_cores ? allowed_cores() : std::vector<int>{};
  const bool pin = options.pin_cores && streams * per <= static_cast<int>(cores.size());
  auto worker = [&](int stream) {
    const int saved = omp_get_max_threads();  // the calling thread works as a stream too
    omp_set_num_threads(per);
    if (pin) pin_thread(cores, stream * per, per);
    try {
      for (std::size_t i; (i = next.fetch_add(1)) < batches.size();) {
        std::vector<Ids> batch;
        for (std::size_t j : batches[i]) batch.push_back(src[j]);
        auto result = transformer_.decode(batch, options.decode);
        for (std::size_t k = 0; k < result.size(); ++k) out[batches[i][k]] = target_text(result[k]);
        std::lock_guard lock(mu);
        done += result.size();
        if (progress) progress(done);
      }
    } catch (...) {
      std::lock_guard lock(mu);
      if (!error) error = std::current_exception();
      next = batches.size();
    }
    omp_set_num_threads(saved);
  };
  std::vector<std::thread> pool;
  for (int i = 1; i < streams; ++i) pool.emplace_back(worker, i);
  worker(0);
  if (pin) pthread_setaffinity_np(pthread_self(), sizeof allowed, &allowed);  // the caller's back
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
  return out;
}

std::vector<double> Translator::score(const std::vector<std::string>& lines,
                                      const std::vector<std::string>& targets,
                                      int max_length) const {
  if (lines.size() != targets.size())
    throw core::Error("Translator::score: lines and targets differ in count");
  std::vector<double> out(lines.size());
  const auto v = static_cast<std::size_t>(tgt_vocab_.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const Ids tgt = tokens_to_ids(tgt_vocab_, transformer_.config(), targets[i]);  // ends in EOS
    const Ids fed(tgt.begin(), tgt.end() - 1);
    const auto logits = transformer_.forced_logits({source_ids(lines[i])}, {fed})[0];
    double total = 0;
    // Without EOS when decoding stopped at the length limit rather than choosing to end.
    const std::size_t scored =
        static_cast<int>(fed.size()) >= max_length ? fed.size() : tgt.size();
    for (std::size_t t = 0; t < scored; ++t) {
      const float* row = logits.data() + t * v;
      const float mx = *std::max_element(row, row + v);
      double sum = 0;
      for (std::size_t k = 0; k < v; ++k) sum += std::exp(static_cast<double>(row[k] - mx));
      total += static_cast<double>(row[tgt[t]] - mx) - std::log(sum);
    }
    out[i] = total;
  }
  return out;
}

}  // namespace keel::nmt
