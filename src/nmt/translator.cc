// Tokens <-> ids and length-sorted batching.
#include "keel/nmt/translator.h"

#include <algorithm>
#include <numeric>

#include "keel/core/error.h"

namespace keel::nmt {

Translator::Translator(const Model& model, Compute compute)
    : transformer_(model, compute), src_vocab_(model.src_vocab), tgt_vocab_(model.tgt_vocab) {}

Ids Translator::source_ids(std::string_view line) const {
  const ModelConfig& c = transformer_.config();
  Ids ids;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t' && line[j] != '\r') ++j;
    if (j > i) ids.push_back(src_vocab_.id(line.substr(i, j - i), c.unk_id));
    i = j;
  }
  ids.push_back(c.eos_id);
  return ids;
}

std::string Translator::target_text(const Ids& ids) const {
  std::string s;
  for (auto id : ids) {
    if (!s.empty()) s += ' ';
    s += tgt_vocab_.token(id);
  }
  return s;
}

std::vector<std::string> Translator::translate(
    const std::vector<std::string>& lines, const TranslateOptions& options,
    const std::function<void(std::size_t)>& progress) const {
  if (options.max_batch_size < 1)
    throw core::InputError("max batch size must be >= 1", {}, "pass --max-batch-size 1 or more");
  std::vector<Ids> src(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) src[i] = source_ids(lines[i]);
  // Similar lengths batch together: fewer steps wasted on sentences that finish early and
  // (with packed rows) nothing wasted on padding.
  std::vector<std::size_t> order(lines.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return src[a].size() < src[b].size(); });
  std::vector<std::string> out(lines.size());
  std::size_t done = 0;
  for (std::size_t start = 0; start < order.size();) {
    std::vector<Ids> batch;
    std::vector<std::size_t> which;
    for (; start < order.size() && batch.size() < std::size_t(options.max_batch_size); ++start) {
      which.push_back(order[start]);
      batch.push_back(std::move(src[order[start]]));
    }
    auto result = transformer_.greedy(batch, options.decode);
    for (std::size_t i = 0; i < which.size(); ++i) out[which[i]] = target_text(result[i]);
    done += which.size();
    if (progress) progress(done);
  }
  return out;
}

}  // namespace keel::nmt
