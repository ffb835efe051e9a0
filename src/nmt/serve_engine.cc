// Texts through the dynamic batcher (serve_engine.h).
#include "keel/nmt/serve_engine.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <sstream>

#include "keel/nmt/html_text.h"

namespace keel::nmt {

TranslationService::TranslationService(const Translator& translator, const TextCodec& codec,
                                       const BatcherOptions& batching,
                                       const SegmentOptions& segmenting, const ServeLimits& limits,
                                       std::function<void(const BatchInfo&)> on_batch)
    : translator_(translator),
      codec_(codec),
      segmenting_(segmenting),
      limits_(limits),
      max_queue_(batching.max_queue),
      batcher_(translator.model(), batching, std::move(on_batch)) {}

TranslationService::Result TranslationService::translate(const std::vector<std::string>& texts,
                                                         const DecodeOptions& decode,
                                                         const GoneCheck& gone) {
  const SegmentedText st = segment_lines(texts, codec_, segmenting_, "request text", 1);
  std::vector<Ids> sources;
  std::size_t k = 0;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    std::size_t pieces = 0;
    for (std::size_t j = 0; j < st.per_line[i]; ++j, ++k) {
      sources.push_back(translator_.source_ids(st.segments[k]));
      pieces += sources.back().size() - 1;  // EOS not counted
    }
    if (pieces > limits_.max_tokens_per_text)
      throw ApiError(400, fmt::format("text {} has {} source tokens; the limit is {} per text "
                                      "(--max-tokens-per-text)",
                                      i + 1, pieces, limits_.max_tokens_per_text));
  }
  // A request larger than the whole queue would be "busy" forever: no retry can help it.
  if (sources.size() > max_queue_)
    throw ApiError(413, fmt::format("the request has {} sentences; this server queues at most {} "
                                    "(--max-queue): split it into smaller requests",
                                    sources.size(), max_queue_));
  auto ticket = batcher_.submit(std::move(sources), decode);
  if (!ticket)
    throw ApiError(503, fmt::format("the server is busy: its queue holds at most {} sentences "
                                    "(--max-queue); retry later",
                                    max_queue_));
  // While waiting, look every 20 ms whether the client is still there.
  if (gone)
    while (ticket->result.wait_for(std::chrono::milliseconds(20)) != std::future_status::ready)
      if (gone()) {
        batcher_.cancel(*ticket);
        throw ApiError(499, "the client closed the connection before the answer");
      }
  std::vector<Ids> ids;
  try {
    ids = ticket->result.get();
  } catch (const Cancelled&) {
    throw ApiError(499, "the client closed the connection before the answer");
  }
  Result r;
  r.segments = ids.size();
  std::vector<std::string> outputs;
  for (const auto& t : ids) {
    outputs.push_back(translator_.target_text(t));
    r.target_tokens += t.size();
  }
  r.texts = join_segments(outputs, st.per_line, codec_);
  k = 0;
  for (const std::size_t n : st.per_line) {
    auto& toks = r.tokens.emplace_back();
    for (std::size_t j = 0; j < n; ++j, ++k) {
      std::istringstream in(outputs[k]);
      for (std::string p; in >> p;) toks.push_back(p);
    }
  }
  return r;
}

std::vector<std::string> TranslationService::translate_html(
    const std::vector<std::string>& documents, const DecodeOptions& decode, const GoneCheck& gone) {
  // Every document's text runs go through one translate() call: they batch together.
  std::vector<std::vector<HtmlPiece>> split;
  std::vector<std::string> runs;
  for (const auto& doc : documents) {
    split.push_back(split_html(doc));
    for (const auto& p : split.back())
      if (p.text && !p.core.empty()) runs.push_back(p.core);
  }
  const Result r = translate(runs, decode, gone);
  std::vector<std::string> out;
  std::size_t k = 0;
  for (const auto& pieces : split) {
    const auto n = static_cast<std::size_t>(std::count_if(
        pieces.begin(), pieces.end(), [](const HtmlPiece& p) { return p.text && !p.core.empty(); }));
    out.push_back(join_html(pieces, {r.texts.begin() + static_cast<std::ptrdiff_t>(k),
                                     r.texts.begin() + static_cast<std::ptrdiff_t>(k + n)}));
    k += n;
  }
  return out;
}

}  // namespace keel::nmt
