#pragma once
// Shared by the import tests: run a fixture writer, translate its reference sources with an
// imported model file, compare teacher-forced logits with the reference's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>

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

// fp32 logits of keel against the reference forward of each imported format.
inline constexpr float kImportLogitTol = 1e-4f;

// Runs tests/nmt/import/<script> for each variant into dir/<variant> (Debian's python3-torch).
// Each variant is written once per build tree and version of the scripts, into
// KEEL_FIXTURE_CACHE/<script>-<variant>-<hash of every script> under a lock, and copied from
// there: every test case runs in its own process, and writing one takes python3-torch ~5-10 s.
// (Delete that folder to write them again, e.g. after upgrading python3-torch.)
inline void write_fixtures(const std::string& script, const std::filesystem::path& dir,
                           const std::vector<std::string>& variants) {
  namespace fs = std::filesystem;
  const fs::path scripts = KEEL_SOURCE_DIR "/tests/nmt/import";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(scripts))
    if (e.path().extension() == ".py") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::string all;
  for (const auto& f : files) all += f.filename().string() + '\n' + read_all(f);
  std::ostringstream key;
  key << std::hex << std::hash<std::string>{}(all);
  const fs::path cache = KEEL_FIXTURE_CACHE;
  fs::create_directories(cache);
  for (const auto& v : variants) {
    const std::string name = fs::path(script).stem().string() + "-" + v;
    const fs::path cached = cache / (name + "-" + key.str());
    struct Lock {  // one per variant, released on every return (ASSERT's too)
      int fd;
      ~Lock() {
        if (fd >= 0) ::close(fd);
      }
    } lock{::open((cache / (name + ".lock")).c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644)};
    ASSERT_GE(lock.fd, 0) << "cannot open a lock file in " << cache;
    ASSERT_EQ(::flock(lock.fd, LOCK_EX), 0);
    if (!fs::exists(cached)) {
      const fs::path tmp = cache / (".writing-" + name);
      fs::remove_all(tmp);
      const auto r = run_shell("/usr/bin/python3 " + (scripts / script).string() + " " +
                               tmp.string() + " " + v);
      ASSERT_EQ(r.rc, 0) << "the fixture writer " << script << " failed (install-deps.sh installs "
                         << "python3-torch and sentencepiece): " << r.err;
      fs::rename(tmp, cached);
    }
    fs::copy(cached, dir / v, fs::copy_options::recursive);
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
                     "--max-decoding-length 20 --beam-size " +
                     std::to_string(beam) + " --model " + model_file.string() + " < " +
                     (fixture / "reference" / "sources.txt").string() + ")");
  EXPECT_EQ(t.rc, 0) << t.err;
  return lines_of(t.out);
}

// The fixture's greedy.txt and beam4.txt against keel's, line by line; returns whether the
// reference's beam and greedy outputs differ anywhere (so that the search itself was tested).
inline bool expect_reference_outputs(const std::filesystem::path& model_file,
                                     const std::filesystem::path& fixture,
                                     const std::string& label) {
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
    if (logits.size() != rows * vocab || (at + rows * vocab) * sizeof(float) > raw.size())
      return checked;
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
