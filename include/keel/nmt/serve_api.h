#pragma once
// The HTTP API of `keel nmt serve`, without the HTTP: request bodies parsed and checked (every
// error an ApiError with the status and one line naming the field or limit), responses built.
// POST /translate follows LibreTranslate's API (its field names, list-or-string `q`, JSON or form
// bodies, `api_key` in the body) so that its clients work unchanged; POST /v1/translate is keel's.

#include <cstddef>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "keel/nmt/transformer.h"

namespace keel::nmt {

// An error answered to a client: HTTP status and a message, sent as {"error": message}.
class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message) : std::runtime_error(message), status_(status) {}
  int status() const { return status_; }

 private:
  int status_;
};

// {"error": message}
std::string error_json(const std::string& message);

struct LanguagePair {
  std::string source, target;  // ISO 639-1 codes
};
// The pair a model name starts with ("en-es", "en-es-int8", "opus-mt-en-es" → en, es); empty when
// the name does not say.
std::optional<LanguagePair> pair_from_name(std::string_view name);
// "en-es" → the pair; throws core::InputError otherwise.
LanguagePair parse_pair(std::string_view text);
// English name of a language code ("es" → "Spanish"); the code itself when not known.
std::string language_name(std::string_view code);

struct ServeLimits {
  std::size_t max_texts = 128;              // texts per request ("q" items, "text" items)
  std::size_t max_tokens_per_text = 1024;   // source pieces of one text
  int max_decoding_length = 512;            // what /v1/translate may ask for
};

struct LibreRequest {
  std::vector<std::string> q;
  bool list = false;  // q came as a list: the answer is a list too
  std::string source, target, format = "text";
  std::optional<std::string> api_key;
};
// LibreTranslate's body as JSON. Throws ApiError(400) naming the field.
LibreRequest parse_libre_json(std::string_view body, const ServeLimits& limits);
// The same as form fields (application/x-www-form-urlencoded or multipart/form-data).
LibreRequest parse_libre_form(const std::multimap<std::string, std::string>& fields,
                              const ServeLimits& limits);
// 400 naming the pair this server translates when source/target differ from it ("auto" is the
// model's source language).
void check_pair(const LibreRequest& request, const LanguagePair& pair);
// {"translatedText": string or list like q} (+ detectedLanguage for source "auto").
std::string libre_response(const LibreRequest& request, const std::vector<std::string>& texts,
                           const LanguagePair& pair);
// GET /languages: [{"code", "name", "targets"}] for both languages of the pair.
std::string languages_json(const LanguagePair& pair);

struct V1Request {
  std::vector<std::string> text;
  DecodeOptions decode;
  std::optional<std::string> api_key;
};
// {"text": [..] or "..", "beam_size", "max_decoding_length", "min_decoding_length",
// "length_penalty", "api_key"}; options not given take `defaults`.
V1Request parse_v1(std::string_view body, const DecodeOptions& defaults, const ServeLimits& limits);

// True when `given` is one of `keys` (each compared in time independent of where they differ).
bool key_matches(const std::vector<std::string>& keys, std::string_view given);
// Keys from a file: one per line, blank lines and '#' comments skipped; InputError when none.
std::vector<std::string> read_api_keys(const std::string& path);

}  // namespace keel::nmt
