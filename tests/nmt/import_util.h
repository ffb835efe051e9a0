#pragma once
// Shared by the import tests: run a fixture writer, translate its reference sources with an
// imported model file, compare teacher-forced logits with the reference's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "../support/run_keel.h"
#include "keel/nmt/model.h"
#include "keel/nmt/transformer.h"

namespace keel::testing {

// Runs tests/nmt/import/<script> for each variant into dir/<variant> (Debian's python3-torch).
inline void write_fixtures(const std::string& script, const std::filesystem::path& dir,
                           const std::vector<std::string>& variants) {
  for (const auto& v : variants) {
    const auto r = run_shell("/usr/bin/python3 " KEEL_SOURCE_DIR "/tests/nmt/import/" + script + " " +
                             (dir / v).string() + " " + v);
    ASSERT_EQ(r.rc, 0) << "the fixture writer " << script << " failed (install-deps.sh installs "
                       << "python3-torch and sentencepiece): " << r.err;
  }
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// keel's greedy (beam 1) or beam output for the fixture's reference/sources.txt through the
// imported model file, at the reference's length bound (20 pieces, no factor).
inline std::vector<std::string> translate_sources(const std::filesystem::path& model_file,
                                                  const std::filesystem::path& fixture, int beam) {
  // (In a subshell: run_shell's own stdin redirection must not replace this one.)
  auto t = run_shell(std::string("(") + KEEL_BINARY +
                     " nmt translate --quiet --compute fp32 --max-length-factor 0 "
                     "--max-decoding-length 20 --beam-size " + std::to_string(beam) + " --model " +
                     model_file.string() + " < " + (fixture / "reference" / "sources.txt").string() + ")");
  EXPECT_EQ(t.rc, 0) << t.err;
  return lines_of(t.out);
}

// The fixture's greedy.txt and beam4.txt against keel's, line by line; returns whether the
// reference's beam and greedy outputs differ anywhere (so that the search itself was tested).
inline bool expect_reference_outputs(const std::filesystem::path& model_file,
                                     const std::filesystem::path& fixture, const std::string& label) {
  std::vector<std::string> ref[2];
  for (auto [i, beam, file] : {std::tuple{0, 1, "greedy.txt"}, {1, 4, "beam4.txt"}}) {
    ref[i] = lines_of(read_all(fixture / "reference" / file));
    const auto got = translate_sources(model_file, fixture, beam);
    EXPECT_EQ(ref[i].size(), 60u) << label;
    EXPECT_EQ(got.size(), ref[i].size()) << label;
    for (std::size_t s = 0; s < std::min(got.size(), ref[i].size()); ++s)
      EXPECT_EQ(got[s], ref[i][s]) << label << ", beam " << beam << ", sentence " << s;
  }
  return ref[0] != ref[1];
}

// keel's fp32 teacher-forced logits against the fixture's reference/logits.f32; returns how many
// sentences were compared. `tol` is absolute.
inline std::size_t expect_reference_logits(const std::filesystem::path& model_file,
                                           const std::filesystem::path& fixture, float tol,
                                           const std::string& label) {
  nmt::Transformer t(nmt::load_model(model_file), nmt::Compute::fp32);
  const auto shapes = nlohmann::json::parse(read_all(fixture / "reference" / "logits.json"));
  const std::string raw = read_all(fixture / "reference" / "logits.f32");
  std::size_t at = 0, checked = 0;
  for (const auto& s : shapes) {
    const nmt::Ids src = s["source"].get<nmt::Ids>(), tgt = s["target"].get<nmt::Ids>();
    const auto rows = s["rows"].get<std::size_t>(), vocab = s["vocab"].get<std::size_t>();
    const auto logits = t.forced_logits({src}, {tgt})[0];
    EXPECT_EQ(logits.size(), rows * vocab) << label;
    if (logits.size() != rows * vocab || (at + rows * vocab) * sizeof(float) > raw.size()) return checked;
    float worst = 0;
    for (std::size_t i = 0; i < rows * vocab; ++i) {
      float want;
      std::memcpy(&want, raw.data() + (at + i) * sizeof(float), sizeof want);
      worst = std::max(worst, std::abs(logits[i] - want));
    }
    EXPECT_LE(worst, tol) << label << ", source of " << src.size() << " ids";
    at += rows * vocab;
    ++checked;
  }
  EXPECT_EQ(at * sizeof(float), raw.size()) << label;
  return checked;
}

}  // namespace keel::testing
