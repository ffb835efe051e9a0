// keel's own trace CSV (`simulate --trace`, `compare --trace`) read back for `analyze`: a header
// starting with time_s, then MW columns. The power is already the facility's or grid's, so it is
// one series, never scaled by GPU count.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>

#include "keel/power/trace_in.h"
#include "trace_text.h"

namespace keel::power {

namespace tt = trace_text;

bool is_keel_trace_header(std::string_view first_line) {
  // time_s first and grid power columns in MW: what keel writes, and no logger's layout.
  const auto cells = tt::split_csv(first_line);
  if (cells.size() < 2 || cells[0] != "time_s") return false;
  return std::any_of(cells.begin() + 1, cells.end(), [](const std::string& c) {
    return c == "grid_mw" || c.ends_with("_grid_mw");
  });
}

ParsedTrace parse_keel_trace(std::string_view text, const std::string& file,
                             const TraceReadOptions& opt) {
  const auto lines = tt::split_lines(text);
  const std::size_t h = tt::first_content_line(lines, file);
  const auto header = tt::split_csv(lines[h].text);
  // The column: --columns NAME, else grid_mw, else the only *_grid_mw column.
  std::vector<std::size_t> grid_cols;
  for (std::size_t i = 1; i < header.size(); ++i)
    if (header[i] == "grid_mw" || header[i].ends_with("_grid_mw")) grid_cols.push_back(i);
  std::size_t col = 0;
  if (!opt.columns.empty()) {
    auto it = std::find(header.begin(), header.end(), opt.columns.front());
    if (it == header.end() || it == header.begin())
      tt::fail(file, lines[h].number, "no column '" + opt.columns.front() + "' in this keel trace",
               "name one of its power columns with --columns");
    col = static_cast<std::size_t>(it - header.begin());
  } else if (auto g = std::find(header.begin(), header.end(), "grid_mw"); g != header.end()) {
    col = static_cast<std::size_t>(g - header.begin());
  } else if (grid_cols.size() == 1) {
    col = grid_cols[0];
  } else {
    std::string names;
    for (auto i : grid_cols) names += (names.empty() ? "" : ", ") + header[i];
    tt::fail(file, lines[h].number, "a keel compare trace holds several variants (" + names + ")",
             "pick one with --columns, e.g. --columns " +
                 (grid_cols.empty() ? std::string("grid_mw") : header[grid_cols[0]]));
  }
  // Power columns only, in their unit: *_mw, *_kw (rack traces); soc and time are not power.
  const std::string& cname = header[col];
  const double scale = cname == "grid_mw" || cname.ends_with("_mw") ? 1e6
                       : cname.ends_with("_kw")                     ? 1e3
                                                                    : 0.0;
  if (scale == 0.0)
    tt::fail(file, lines[h].number, "column '" + cname + "' is not a power in MW or kW",
             "choose a *_mw or *_kw column with --columns");
  ParsedTrace t;
  t.file = file;
  t.format = "keel trace csv";
  t.power_field = header[col];
  t.gpu_source = "facility power (not per GPU)";
  GpuSeries s;
  s.id = "facility";
  auto parse_line = [&](const tt::Line& l, PowerSample* out) {
    const auto cells = tt::split_csv(l.text);
    if (cells.size() != header.size()) return false;
    char* e = nullptr;
    const double ts = std::strtod(cells[0].c_str(), &e);
    if (e == cells[0].c_str() || *e) return false;
    const double v = std::strtod(cells[col].c_str(), &e);
    if (e == cells[col].c_str() || *e) return false;
    if (out) *out = {ts, v * scale, l.number};
    return true;
  };
  for (std::size_t i = h + 1; i < lines.size(); ++i) {
    if (tt::trim(lines[i].text).empty()) continue;
    PowerSample p;
    if (!parse_line(lines[i], &p)) {
      core::InputError err(fmt::format("not a row of {} numbers", header.size()),
                           core::Location{file, lines[i].number, 0, {}});
      t.garbage = tt::garbage_tail_or_throw(
          text, lines, i, err, [&](const tt::Line& l) { return parse_line(l, nullptr); });
      break;
    }
    if (!s.samples.empty() && p.t_s < s.samples.back().t_s)
      tt::fail(file, p.line, "time_s goes backwards", "a keel trace is written in time order");
    s.samples.push_back(p);
    ++t.rows;
  }
  t.gpus.push_back(std::move(s));
  return t;
}

}  // namespace keel::power
