#include "keel/core/timeline.h"

#include "keel/core/checksum.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "keel/core/atomic_file.h"
#include "keel/core/error.h"

namespace keel::core {

namespace {
constexpr std::string_view kHeader = "rank,iteration,phase,start_s,end_s";

std::vector<std::string_view> split(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  for (;;) {
    std::size_t c = line.find(',', pos);
    out.push_back(line.substr(pos, c == std::string_view::npos ? std::string_view::npos : c - pos));
    if (c == std::string_view::npos) break;
    pos = c + 1;
  }
  return out;
}

template <typename T>
bool parse_num(std::string_view s, T& v) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r')) s.remove_suffix(1);
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
}  // namespace

std::vector<PhaseRecord> parse_timeline_csv(std::string_view text, const std::string& name) {
  std::vector<PhaseRecord> out;
  int line_no = 0;
  std::size_t pos = 0;
  bool header = false;
  auto fail = [&](const std::string& what, const std::string& hint = {}) {
    throw InputError(what, Location{name, line_no, 0, {}}, hint);
  };
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    if (!header) {
      if (line != kHeader) fail("not a keel timeline: header must be '" + std::string(kHeader) + "'");
      header = true;
      continue;
    }
    auto f = split(line);
    if (f.size() != 5) fail(fmt::format("expected 5 fields, found {}", f.size()));
    PhaseRecord r;
    if (!parse_num(f[0], r.rank) || r.rank < 0) fail("rank must be an integer >= 0");
    if (!parse_num(f[1], r.iteration) || r.iteration < 0) fail("iteration must be an integer >= 0");
    if (f[2] == "compute") r.phase = TimelinePhase::compute;
    else if (f[2] == "comm") r.phase = TimelinePhase::comm;
    else fail("unknown phase '" + std::string(f[2]) + "'", "use compute or comm");
    if (!parse_num(f[3], r.start_s) || !parse_num(f[4], r.end_s)) fail("start_s and end_s must be numbers");
    if (r.end_s < r.start_s) fail("end_s is before start_s");
    out.push_back(r);
  }
  if (!header) throw InputError("empty timeline", Location{name, 0, 0, {}}, "expected a header and rows");
  if (out.empty()) throw InputError("timeline has no rows", Location{name, line_no, 0, {}});
  // Overlapping intervals of one rank and phase mean a broken recorder: reject them.
  std::map<std::pair<int, int>, std::vector<std::pair<double, double>>> by;
  for (const auto& r : out) by[{r.rank, static_cast<int>(r.phase)}].push_back({r.start_s, r.end_s});
  for (auto& [key, iv] : by) {
    std::sort(iv.begin(), iv.end());
    for (std::size_t i = 1; i < iv.size(); ++i)
      if (iv[i].first < iv[i - 1].second - 1e-12)
        throw InputError(fmt::format("rank {} has overlapping {} phases at {} s", key.first,
                                     key.second == 0 ? "compute" : "comm", iv[i].first),
                         Location{name, 0, 0, {}});
  }
  return out;
}

std::vector<PhaseRecord> read_timeline_csv(const std::filesystem::path& file) {
  verify_listed(file);  // keel's own timelines are listed with a checksum beside them
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot open timeline", Location{file.string(), 0, 0, {}}, "check the path");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_timeline_csv(ss.str(), file.string());
}

void write_timeline_csv(const std::filesystem::path& file, const std::vector<PhaseRecord>& records) {
  AtomicFile f(file);
  f.stream() << kHeader << '\n';
  for (const auto& r : records)
    f.stream() << fmt::format("{},{},{},{:.6f},{:.6f}\n", r.rank, r.iteration,
                              r.phase == TimelinePhase::compute ? "compute" : "comm", r.start_s, r.end_s);
  f.commit();
  add_to_manifest(file);
}

}  // namespace keel::core
