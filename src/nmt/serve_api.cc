// Request parsing and responses of keel nmt serve's HTTP API (serve_api.h).
#include "keel/nmt/serve_api.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>

#include "keel/core/error.h"
#include "keel/nmt/bleu.h"  // find_invalid_utf8

namespace keel::nmt {

using nlohmann::json;

// Invalid UTF-8 in a message (it may quote a request's bytes) is replaced, not thrown.
std::string error_json(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

namespace {

bool is_code(std::string_view s) {
  return (s.size() == 2 || s.size() == 3) &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

json parse_object(std::string_view body) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    // nlohmann's message: "[json.exception.parse_error.101] parse error at line 1, column 7: ..."
    // (or out_of_range.406, "number overflow parsing '1e400'").
    std::string what = e.what();
    const auto colon = what.find("] ");
    throw ApiError(400, "malformed JSON body: " +
                            (colon == std::string::npos ? what : what.substr(colon + 2)));
  }
  if (!j.is_object()) throw ApiError(400, "the JSON body must be an object");
  return j;
}

std::string string_field(const json& j, const char* key, bool required, std::string fallback = {}) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw ApiError(400, fmt::format("missing field \"{}\"", key));
    return fallback;
  }
  if (!it->is_string()) throw ApiError(400, fmt::format("field \"{}\" must be a string", key));
  return it->get<std::string>();
}

// "q" / "text": a string or a list of strings, within the limit.
std::vector<std::string> texts_field(const json& j, const char* key, bool& list,
                                     const ServeLimits& limits) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) throw ApiError(400, fmt::format("missing field \"{}\"", key));
  std::vector<std::string> out;
  list = it->is_array();
  if (it->is_string()) {
    out.push_back(it->get<std::string>());
  } else if (it->is_array()) {
    for (const auto& v : *it) {
      if (!v.is_string())
        throw ApiError(400, fmt::format("field \"{}\" must be a string or a list of strings", key));
      out.push_back(v.get<std::string>());
    }
  } else {
    throw ApiError(400, fmt::format("field \"{}\" must be a string or a list of strings", key));
  }
  if (out.size() > limits.max_texts)
    throw ApiError(400, fmt::format("{} texts in \"{}\" exceed the limit of {} per request "
                                    "(--max-texts-per-request)",
                                    out.size(), key, limits.max_texts));
  return out;
}

template <class T>
T number_field(const json& j, const char* key, T fallback, T lo, T hi) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw ApiError(400, fmt::format("field \"{}\" must be a number", key));
  if constexpr (std::is_integral_v<T>)
    if (!it->is_number_integer()) throw ApiError(400, fmt::format("field \"{}\" must be an integer", key));
  // Compared before narrowing to T (4294967297 would otherwise become 1).
  bool in_range = false;
  if constexpr (std::is_integral_v<T>) {
    if (it->is_number_unsigned()) {
      const auto v = it->template get<std::uint64_t>();
      in_range = v <= static_cast<std::uint64_t>(hi) &&
                 (static_cast<std::int64_t>(lo) <= 0 || v >= static_cast<std::uint64_t>(lo));
    } else {
      const auto v = it->template get<std::int64_t>();
      in_range = v >= static_cast<std::int64_t>(lo) && v <= static_cast<std::int64_t>(hi);
    }
  } else {
    const auto v = it->template get<double>();
    in_range = v >= static_cast<double>(lo) && v <= static_cast<double>(hi);
  }
  if (!in_range)
    throw ApiError(
        400, fmt::format("field \"{}\" is {}; it must be in [{}, {}]", key, it->dump(), lo, hi));
  return it->template get<T>();
}

void check_format(const std::string& format) {
  if (format != "text" && format != "html")
    throw ApiError(400, fmt::format("field \"format\" is \"{}\"; it must be \"text\" or \"html\"",
                                    format));
}

}  // namespace

std::optional<LanguagePair> pair_from_name(std::string_view name) {
  // Adjacent name parts that look like codes; the first pair of known languages wins
  // ("opus-mt-de-en": de-en, not mt-de), else the first pair.
  std::vector<std::string_view> parts;
  for (std::size_t i = 0; i <= name.size();) {
    const auto j = name.find_first_of("-_.", i);
    const auto end = j == std::string_view::npos ? name.size() : j;
    parts.push_back(name.substr(i, end - i));
    i = end + 1;
  }
  std::optional<LanguagePair> first;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    if (!is_code(parts[i]) || !is_code(parts[i + 1])) continue;
    LanguagePair p{std::string(parts[i]), std::string(parts[i + 1])};
    if (language_name(p.source) != p.source && language_name(p.target) != p.target) return p;
    if (!first) first = p;
  }
  return first;
}

LanguagePair parse_pair(std::string_view text) {
  const auto dash = text.find('-');
  if (dash != std::string_view::npos && is_code(text.substr(0, dash)) &&
      is_code(text.substr(dash + 1)))
    return {std::string(text.substr(0, dash)), std::string(text.substr(dash + 1))};
  throw core::InputError(fmt::format("language pair '{}' is not SOURCE-TARGET", text), {},
                         "pass two ISO 639-1 codes, e.g. --languages en-es");
}

std::string language_name(std::string_view code) {
  static const std::map<std::string, std::string, std::less<>> names = {
      {"ar", "Arabic"},  {"de", "German"},     {"en", "English"},   {"es", "Spanish"},
      {"fi", "Finnish"}, {"fr", "French"},     {"it", "Italian"},   {"ja", "Japanese"},
      {"ko", "Korean"},  {"nl", "Dutch"},      {"pl", "Polish"},    {"pt", "Portuguese"},
      {"ru", "Russian"}, {"sv", "Swedish"},    {"tr", "Turkish"},   {"uk", "Ukrainian"},
      {"zh", "Chinese"}, {"ca", "Catalan"},    {"cs", "Czech"},     {"da", "Danish"},
      {"el", "Greek"},   {"hi", "Hindi"},      {"hu", "Hungarian"}, {"id", "Indonesian"},
      {"ro", "Romanian"}, {"vi", "Vietnamese"}};
  const auto it = names.find(code);
  return it == names.end() ? std::string(code) : it->second;
}

LibreRequest parse_libre_json(std::string_view body, const ServeLimits& limits) {
  const json j = parse_object(body);
  LibreRequest r;
  r.q = texts_field(j, "q", r.list, limits);
  r.source = string_field(j, "source", false, "auto");
  r.target = string_field(j, "target", true);
  r.format = string_field(j, "format", false, "text");
  check_format(r.format);
  if (j.contains("api_key") && !j["api_key"].is_null()) r.api_key = string_field(j, "api_key", true);
  return r;
}

LibreRequest parse_libre_form(const std::multimap<std::string, std::string>& fields,
                              const ServeLimits& limits) {
  // A JSON body's strings are checked by the parser; a form's bytes are not.
  for (const auto& [key, value] : fields)
    if (const auto at = find_invalid_utf8(value); at != std::string_view::npos)
      throw ApiError(
          400, fmt::format("field \"{}\" is not valid UTF-8 (byte {})",
                           find_invalid_utf8(key) == std::string_view::npos ? key : "?", at + 1));
  LibreRequest r;
  const auto [first, last] = fields.equal_range("q");
  for (auto it = first; it != last; ++it) r.q.push_back(it->second);
  if (r.q.empty()) throw ApiError(400, "missing field \"q\"");
  r.list = r.q.size() > 1;  // a form sends a list as repeated q fields
  if (r.q.size() > limits.max_texts)
    throw ApiError(400, fmt::format("{} texts in \"q\" exceed the limit of {} per request "
                                    "(--max-texts-per-request)",
                                    r.q.size(), limits.max_texts));
  auto get = [&](const char* key) -> std::optional<std::string> {
    const auto it = fields.find(key);
    if (it == fields.end()) return std::nullopt;
    return it->second;
  };
  r.source = get("source").value_or("auto");
  const auto target = get("target");
  if (!target) throw ApiError(400, "missing field \"target\"");
  r.target = *target;
  r.format = get("format").value_or("text");
  check_format(r.format);
  r.api_key = get("api_key");
  return r;
}

void check_pair(const LibreRequest& request, const LanguagePair& pair) {
  if ((request.source != "auto" && request.source != pair.source) || request.target != pair.target)
    throw ApiError(400, fmt::format("this server translates {} to {} ({}-{}); the request asks "
                                    "for {} to {}",
                                    language_name(pair.source), language_name(pair.target),
                                    pair.source, pair.target, request.source, request.target));
}

std::string libre_response(const LibreRequest& request, const std::vector<std::string>& texts,
                           const LanguagePair& pair) {
  json j;
  j["translatedText"] = request.list ? json(texts) : json(texts.empty() ? "" : texts.front());
  if (request.source == "auto") {
    // The model has one source language; LibreTranslate reports confidence 0-100.
    const json detected = {{"confidence", 100.0}, {"language", pair.source}};
    j["detectedLanguage"] = request.list ? json(std::vector<json>(texts.size(), detected)) : detected;
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string languages_json(const LanguagePair& pair) {
  json out = json::array();
  out.push_back({{"code", pair.source},
                 {"name", language_name(pair.source)},
                 {"targets", json::array({pair.target})}});
  out.push_back({{"code", pair.target},
                 {"name", language_name(pair.target)},
                 {"targets", json::array()}});
  return out.dump();
}

V1Request parse_v1(std::string_view body, const DecodeOptions& defaults, const ServeLimits& limits) {
  const json j = parse_object(body);
  V1Request r;
  bool list = false;
  r.text = texts_field(j, "text", list, limits);
  r.decode = defaults;
  r.decode.beam_size = number_field(j, "beam_size", defaults.beam_size, 1, 16);
  r.decode.max_length =
      number_field(j, "max_decoding_length", defaults.max_length, 1, limits.max_decoding_length);
  r.decode.min_length = number_field(j, "min_decoding_length", defaults.min_length, 0,
                                     r.decode.max_length);
  r.decode.length_penalty =
      number_field(j, "length_penalty", defaults.length_penalty, -10.f, 10.f);
  r.decode.max_length_factor =
      number_field(j, "max_length_factor", defaults.max_length_factor, 0.f, 1000.f);
  r.decode.no_repeat_ngram_size =
      number_field(j, "no_repeat_ngram_size", defaults.no_repeat_ngram_size, 0, 64);
  r.decode.repetition_penalty =
      number_field(j, "repetition_penalty", defaults.repetition_penalty, 1.f, 100.f);
  if (j.contains("api_key") && !j["api_key"].is_null()) r.api_key = string_field(j, "api_key", true);
  return r;
}

bool key_matches(const std::vector<std::string>& keys, std::string_view given) {
  bool any = false;
  for (const auto& key : keys) {
    // Every byte compared whatever the first difference, so timing does not reveal it.
    unsigned diff = key.size() != given.size();
    for (std::size_t i = 0; i < key.size(); ++i)
      diff |= static_cast<unsigned char>(key[i]) ^
              static_cast<unsigned char>(i < given.size() ? given[i] : 0);
    any |= diff == 0;
  }
  return any;
}

std::vector<std::string> read_api_keys(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw core::InputError(fmt::format("cannot read API key file {}", path), core::Location{path, 0, 0, {}},
                                  "pass a readable file with one key per line");
  std::vector<std::string> keys;
  for (std::string line; std::getline(in, line);) {
    const auto b = line.find_first_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    const auto e = line.find_last_not_of(" \t\r");
    keys.push_back(line.substr(b, e - b + 1));
  }
  if (keys.empty())
    throw core::InputError(fmt::format("API key file {} holds no key", path), core::Location{path, 0, 0, {}},
                           "write one key per line ('#' starts a comment)");
  return keys;
}

}  // namespace keel::nmt
