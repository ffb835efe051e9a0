// decoding.json of a model directory (decoding_file.h).
#include "keel/nmt/decoding_file.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "keel/core/atomic_file.h"
#include "keel/core/error.h"

namespace keel::nmt {

DecodeOptions keel_decoding_defaults() {
  DecodeOptions o;
  o.max_length = 256;
  o.max_length_factor = 3.f;
  return o;
}

namespace {

using nlohmann::json;

template <typename T>
T field(const json& j, const std::string& key, const std::filesystem::path& file) {
  const json& v = j.at(key);
  const bool ok = std::is_integral_v<T> ? v.is_number_integer() : v.is_number();
  if (!ok)
    throw core::InputError(fmt::format("'{}' must be {}", key, std::is_integral_v<T> ? "an integer" : "a number"),
                           core::Location{file.string(), 0, 0, key}, "fix the value in decoding.json");
  return v.get<T>();
}

}  // namespace

DecodeOptions load_decoding_file(const std::filesystem::path& file, DecodeOptions o) {
  std::ifstream in(file);
  if (!in)
    throw core::InputError("cannot read the decoding settings", core::Location{file.string(), 0, 0, {}},
                           "check the file's permissions, or remove it to use keel's defaults");
  json j;
  try {
    j = json::parse(in);
  } catch (const json::parse_error& e) {
    throw core::InputError(fmt::format("not valid JSON ({})", e.what()),
                           core::Location{file.string(), 0, 0, {}}, "fix or remove decoding.json");
  }
  if (!j.is_object())
    throw core::InputError("decoding settings must be a JSON object", core::Location{file.string(), 0, 0, {}},
                           "write {\"beam_size\": 4, ...}");
  for (const auto& [key, value] : j.items()) {
    if (key == "beam_size") o.beam_size = field<int>(j, key, file);
    else if (key == "length_penalty") o.length_penalty = field<float>(j, key, file);
    else if (key == "max_decoding_length") o.max_length = field<int>(j, key, file);
    else if (key == "min_decoding_length") o.min_length = field<int>(j, key, file);
    else if (key == "max_length_factor") o.max_length_factor = field<float>(j, key, file);
    else if (key == "no_repeat_ngram_size") o.no_repeat_ngram_size = field<int>(j, key, file);
    else if (key == "repetition_penalty") o.repetition_penalty = field<float>(j, key, file);
    else
      throw core::InputError(fmt::format("unknown decoding setting '{}'", key),
                             core::Location{file.string(), 0, 0, key},
                             "known: beam_size, length_penalty, max_decoding_length, "
                             "min_decoding_length, max_length_factor, no_repeat_ngram_size, "
                             "repetition_penalty");
  }
  try {
    check_decode_options(o);
  } catch (const core::Error& e) {
    throw core::InputError(e.bare_message(), core::Location{file.string(), 0, 0, {}},
                           "fix the value in decoding.json");
  }
  return o;
}

void save_decoding_file(const DecodeOptions& o, const std::filesystem::path& file) {
  const DecodeOptions d = keel_decoding_defaults();
  json j = json::object();
  if (o.beam_size != d.beam_size) j["beam_size"] = o.beam_size;
  if (o.length_penalty != d.length_penalty) j["length_penalty"] = o.length_penalty;
  if (o.max_length != d.max_length) j["max_decoding_length"] = o.max_length;
  if (o.min_length != d.min_length) j["min_decoding_length"] = o.min_length;
  if (o.max_length_factor != d.max_length_factor) j["max_length_factor"] = o.max_length_factor;
  if (o.no_repeat_ngram_size != d.no_repeat_ngram_size) j["no_repeat_ngram_size"] = o.no_repeat_ngram_size;
  if (o.repetition_penalty != d.repetition_penalty) j["repetition_penalty"] = o.repetition_penalty;
  core::AtomicFile f(file);
  f.stream() << j.dump(2) << "\n";
  f.commit();
}

}  // namespace keel::nmt
