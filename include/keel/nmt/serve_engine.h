#pragma once
// What `keel nmt serve` does with texts, minus HTTP: raw texts segmented and encoded exactly as
// `keel nmt translate` does (text_job.h), their sentences queued on the dynamic batcher with every
// other request's, and the results decoded and joined back per text.

#include <functional>
#include <string>
#include <vector>

#include "keel/nmt/batcher.h"
#include "keel/nmt/serve_api.h"
#include "keel/nmt/text_job.h"
#include "keel/nmt/translator.h"

namespace keel::nmt {

class TranslationService {
 public:
  // `translator` and `codec` must outlive the service.
  TranslationService(const Translator& translator, const TextCodec& codec,
                     const BatcherOptions& batching, const SegmentOptions& segmenting,
                     const ServeLimits& limits, std::function<void(const BatchInfo&)> on_batch = {});

  struct Result {
    std::vector<std::string> texts;                // one per input text
    std::vector<std::vector<std::string>> tokens;  // target pieces per input text
    std::size_t segments = 0, target_tokens = 0;
  };
  // True once the client has gone (polled while the request waits; may be empty).
  using GoneCheck = std::function<bool()>;
  // Throws ApiError: 400 for a text over the token limit, 503 when the queue is full, 499 when
  // `gone` said the client left (its sentences still queued are dropped, never decoded).
  Result translate(const std::vector<std::string>& texts, const DecodeOptions& decode,
                   const GoneCheck& gone = {});
  // HTML documents: markup kept, the text between tags translated (html_text.h).
  std::vector<std::string> translate_html(const std::vector<std::string>& documents,
                                          const DecodeOptions& decode, const GoneCheck& gone = {});

  std::size_t queued() const { return batcher_.queued(); }
  std::size_t decoding() const { return batcher_.decoding(); }
  // Batches start at once from now on (shutting down).
  void drain() { batcher_.drain(); }
  // Decodes what is queued, then refuses new work (503).
  void stop() { batcher_.stop(); }

 private:
  const Translator& translator_;
  const TextCodec& codec_;
  SegmentOptions segmenting_;
  ServeLimits limits_;
  std::size_t max_queue_;
  Batcher batcher_;
};

}  // namespace keel::nmt
