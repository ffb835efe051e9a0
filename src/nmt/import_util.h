#pragma once
// Shared by the importers (import_marian, import_ct2, import_onmt): their one-line errors, the
// tensors they add to the keel model, and the summary + model directory they finish with.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "keel/core/error.h"
#include "keel/nmt/decoding_file.h"
#include "keel/nmt/import.h"
#include "keel/nmt/layers.h"

namespace keel::nmt::detail {

inline core::InputError import_error(const std::filesystem::path& file, const std::string& key,
                                     const std::string& what, const std::string& fix) {
  return core::InputError(what, core::Location{file.string(), 0, 0, key}, fix);
}

inline void put_tensor(Model& m, const std::string& name, std::vector<std::int64_t> shape, std::vector<float> data) {
  Tensor t;
  t.shape = std::move(shape);
  t.f32 = std::move(data);
  m.tensors[name] = std::move(t);
}

// Which of `candidates` a stored position table [rows, d] is (its first 512 rows within `tol`),
// or nullopt: anything else was learned, which keel does not run.
inline std::optional<PositionLayout> sinusoid_layout(const std::vector<float>& table, std::int64_t rows,
                                                     std::int64_t d, std::initializer_list<PositionLayout> candidates,
                                                     float tol) {
  std::vector<float> row(static_cast<std::size_t>(d));
  for (auto layout : candidates) {
    bool ok = true;
    for (std::int64_t p = 0; p < std::min<std::int64_t>(rows, 512) && ok; ++p) {
      sinusoidal_position(p, d, row.data(), layout);
      for (std::int64_t k = 0; k < d && ok; ++k)
        ok = std::abs(table[static_cast<std::size_t>(p * d + k)] - row[static_cast<std::size_t>(k)]) <= tol;
    }
    if (ok) return layout;
  }
  return std::nullopt;
}

// Validates the config, writes the model directory (decoding defaults: `decoding`) and says what
// was imported.
inline ImportSummary finish_import(Model& m, const ModelConfig& c, const DecodeOptions& decoding,
                                   const std::filesystem::path& weights,
                                   const std::filesystem::path& source_spm,
                                   const std::filesystem::path& target_spm,
                                   const std::filesystem::path& out) {
  c.validate(weights.string());
  m.config = c;
  ImportSummary s;
  s.config = c;
  s.decoding = decoding;
  s.tensors = m.tensors.size();
  for (const auto& [name, t] : m.tensors) s.parameters += t.numel();
  s.weights_file = weights.string();
  write_model_directory(m, s.decoding, source_spm, target_spm, out);
  return s;
}

}  // namespace keel::nmt::detail
