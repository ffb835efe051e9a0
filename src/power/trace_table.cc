// Power logs as plain tables (trace_in.h): CSV exports in long form (one row per GPU sample, a
// GPU column) or wide form (one power column per GPU), and NVML loggers' whitespace columns under
// a '#' header. Columns are found by name where that is unambiguous, else named by flags.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <regex>

#include "keel/power/trace_in.h"
#include "trace_text.h"

namespace keel::power {

namespace tt = trace_text;

namespace {

constexpr const char* kFlags =
    "name the columns: --time-col and --power-col (with --gpu-col for one row per GPU sample) or "
    "--power-cols (one column per GPU)";

std::vector<std::string> split_ws(std::string_view line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.emplace_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

// "power_mW" / "power (mW)" / "power [mW]" -> ("power", 1e-3).
tt::HeaderCell header_cell(std::string_view cell) {
  std::string c(tt::trim(cell));
  if (auto open = c.rfind('('); open != std::string::npos && c.back() == ')')
    c = c.substr(0, open) + "[" + c.substr(open + 1, c.size() - open - 2) + "]";
  tt::HeaderCell h = tt::parse_header_cell(c);
  static const std::regex suffix(R"((.*[^_])_(w|mw|kw)$)");
  std::smatch m;
  if (!h.unit_scale && std::regex_match(h.name, m, suffix)) {
    h.unit_scale = tt::watts_per_unit(m[2].str() == "mw" ? "mW" : m[2].str() == "kw" ? "kW" : "W");
    h.name = m[1].str();
  }
  return h;
}

bool is_time_name(const std::string& n) {
  static const std::regex re(R"((time|timestamp|datetime|date_time|ts|t|elapsed|epoch)(_(s|ms|us|ns))?)");
  return std::regex_match(n, re);
}
bool is_gpu_name(const std::string& n) {
  static const std::regex re(R"(gpu|gpu_?(id|index|idx|uuid|name)|index|device|device_id|uuid|minor_number)");
  return std::regex_match(n, re);
}
bool is_power_name(const std::string& n) { return n.find("power") != std::string::npos || n == "watts" || n == "w"; }

struct Layout {
  int time = -1, gpu = -1;
  std::vector<int> power;      // one (long form) or one per GPU (wide form)
  std::vector<std::string> ids;  // wide form: the GPU of each power column
  std::vector<std::optional<double>> scale;  // per power column, to watts
  std::optional<double> time_scale;
};

int find_named(const std::vector<tt::HeaderCell>& h, const std::string& name, const std::string& file,
               int line, const char* flag) {
  const std::string want = tt::lower(name);
  for (std::size_t i = 0; i < h.size(); ++i)
    if (h[i].name == want || header_cell(want).name == h[i].name) return static_cast<int>(i);
  std::vector<std::string> names;
  for (const auto& c : h) names.push_back(c.name);
  tt::fail(file, line, fmt::format("{} '{}' is not a column (columns: {})", flag, name, fmt::join(names, ", ")),
           "pass one of the header's names");
}

Layout find_layout(const std::vector<std::string>& header, const TraceReadOptions& opt,
                   const std::string& file, int line) {
  std::vector<tt::HeaderCell> h;
  for (const auto& c : header) h.push_back(header_cell(c));
  Layout L;
  auto pick = [&](auto pred, const char* what) {
    int found = -1;
    for (std::size_t i = 0; i < h.size(); ++i)
      if (pred(h[i].name)) {
        if (found >= 0)
          tt::fail(file, line, fmt::format("ambiguous {} column: '{}' and '{}'", what,
                                           h[static_cast<std::size_t>(found)].name, h[i].name),
                   kFlags);
        found = static_cast<int>(i);
      }
    return found;
  };
  L.time = !opt.time_col.empty() ? find_named(h, opt.time_col, file, line, "--time-col")
                                 : pick(is_time_name, "time");
  if (L.time < 0) tt::fail(file, line, "no time column found", kFlags);
  L.time_scale = tt::time_unit_from_name(header[static_cast<std::size_t>(L.time)]);
  if (!opt.gpu_col.empty()) L.gpu = find_named(h, opt.gpu_col, file, line, "--gpu-col");
  else if (opt.power_cols.empty()) L.gpu = pick(is_gpu_name, "GPU");
  if (!opt.power_cols.empty()) {  // wide, named
    for (const auto& c : opt.power_cols) L.power.push_back(find_named(h, c, file, line, "--power-cols"));
  } else if (!opt.power_col.empty()) {
    L.power.push_back(find_named(h, opt.power_col, file, line, "--power-col"));
  } else if (L.gpu >= 0) {  // long form: the one power column
    const int p = pick(is_power_name, "power");
    if (p < 0) tt::fail(file, line, "no power column found (a GPU column is there)", kFlags);
    L.power.push_back(p);
  } else {  // wide form: the columns named like a GPU or a power
    static const std::regex per_gpu(R"((gpu[_ ]?)?\d+(_power)?|power_?\d+|.*power.*)");
    for (std::size_t i = 0; i < h.size(); ++i)
      if (static_cast<int>(i) != L.time && std::regex_match(h[i].name, per_gpu))
        L.power.push_back(static_cast<int>(i));
    if (L.power.empty()) tt::fail(file, line, "cannot tell which columns hold power", kFlags);
  }
  for (int p : L.power) {
    L.scale.push_back(h[static_cast<std::size_t>(p)].unit_scale);
    // A wide column's GPU: its name without "power" ("gpu1_power_mW" -> "gpu1").
    std::string id = h[static_cast<std::size_t>(p)].name;
    for (const char* cut : {"_power", "power_", "power"})
      if (auto at = id.find(cut); at != std::string::npos && id.size() > std::strlen(cut))
        id.erase(at, std::strlen(cut));
    if (L.gpu < 0) L.ids.push_back(L.power.size() == 1 ? "0" : id);
  }
  return L;
}

std::optional<double> unit_flag(const std::string& unit, bool power) {
  if (unit.empty()) return std::nullopt;
  if (power) return tt::watts_per_unit(unit);
  if (unit == "s") return 1.0;
  if (unit == "ms") return 1e-3;
  if (unit == "us") return 1e-6;
  if (unit == "ns") return 1e-9;
  return std::nullopt;
}

struct Cell {
  double t = 0;
  std::string id;
  tt::PowerValue p;
};

}  // namespace

bool looks_like_nvml_log(std::string_view text) {
  bool comment = false;
  for (const tt::Line& l : tt::split_lines(text)) {
    const auto s = tt::trim(l.text);
    if (s.empty()) continue;
    if (s.front() == '#') {
      comment = true;
      continue;
    }
    return comment && s.find(',') == std::string_view::npos && split_ws(s).size() >= 2;
  }
  return false;
}

ParsedTrace parse_table_trace(std::string_view text, const std::string& file,
                              const TraceReadOptions& opt, bool whitespace) {
  ParsedTrace out;
  out.file = file;
  out.format = whitespace ? "nvml log" : "csv table";
  const std::vector<tt::Line> lines = tt::split_lines(text);
  auto split = [&](std::string_view s) { return whitespace ? split_ws(s) : tt::split_csv(s); };
  // The header: the first line (csv), or the last '#' line before the data (nvml).
  std::size_t data_from = 0;
  std::vector<std::string> header;
  int header_line = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto s = tt::trim(lines[i].text);
    if (s.empty()) continue;
    if (whitespace && s.front() == '#') {
      header = split_ws(tt::trim(s.substr(1)));
      header_line = lines[i].number;
      continue;
    }
    if (!whitespace && header.empty()) {
      header = split(s);
      header_line = lines[i].number;
      continue;
    }
    data_from = i;
    break;
  }
  if (header.empty()) tt::fail(file, 1, "no header line naming the columns", kFlags);
  const Layout L = find_layout(header, opt, file, header_line);
  const auto power_flag = unit_flag(opt.power_unit, true);
  const auto time_flag = unit_flag(opt.time_unit, false);
  if (!opt.power_unit.empty() && !power_flag)
    tt::fail(file, 0, fmt::format("--power-unit '{}' is not W, mW or kW", opt.power_unit));
  if (!opt.time_unit.empty() && !time_flag)
    tt::fail(file, 0, fmt::format("--time-unit '{}' is not s, ms, us or ns", opt.time_unit));
  const auto time_scale = time_flag ? time_flag : L.time_scale;

  tt::Clock clock;
  bool absolute = false;
  std::vector<Cell> cells;
  auto parse_row = [&](const tt::Line& l, std::vector<Cell>& row) -> std::optional<std::string> {
    if (tt::has_nul(l.text)) return "NUL bytes in the line";
    const auto f = split(l.text);
    if (f.size() != header.size())
      return fmt::format("expected {} fields, found {}", header.size(), f.size());
    const std::string& tc = f[static_cast<std::size_t>(L.time)];
    const auto tp = tt::parse_time(tc, time_scale);
    if (!tp) return fmt::format("bad timestamp '{}'", tc);
    const bool date = tc.size() >= 10 && (tc[4] == '-' || tc[4] == '/');
    absolute = date || std::abs(static_cast<double>(tp->s)) > 1e8;
    const double t = clock.rel(*tp);
    for (std::size_t k = 0; k < L.power.size(); ++k) {
      const std::string& pc = f[static_cast<std::size_t>(L.power[k])];
      Cell c{t, L.gpu >= 0 ? f[static_cast<std::size_t>(L.gpu)] : L.ids[k],
             tt::parse_power(pc, power_flag ? power_flag : L.scale[k])};
      if (c.p.status == tt::ValueStatus::bad)
        return fmt::format("non-numeric power '{}' in column {}", pc, header[static_cast<std::size_t>(L.power[k])]);
      row.push_back(std::move(c));
    }
    return std::nullopt;
  };
  std::vector<int> row_line;
  for (std::size_t i = data_from; i < lines.size() && data_from > 0; ++i) {
    const tt::Line& l = lines[i];
    const auto s = tt::trim(l.text);
    if (s.empty() || (whitespace && s.front() == '#')) continue;
    std::vector<Cell> row;
    if (auto err = parse_row(l, row)) {
      core::InputError e(*err, core::Location{file, l.number, 0, {}});
      out.garbage = tt::garbage_tail_or_throw(text, lines, i, e, [&](const tt::Line& x) {
        std::vector<Cell> probe;
        return !parse_row(x, probe).has_value();
      });
      break;
    }
    ++out.rows;
    for (auto& c : row) {
      cells.push_back(std::move(c));
      row_line.push_back(l.number);
    }
  }
  if (cells.empty()) tt::fail(file, header_line, "no samples after the header");
  if (absolute) out.origin_s = clock.origin();

  std::map<std::string, std::size_t> slot;
  for (std::size_t i = 0; i < cells.size(); ++i) {
    const Cell& c = cells[i];
    auto [it, fresh] = slot.emplace(c.id, out.gpus.size());
    if (fresh) out.gpus.push_back({c.id, {}});
    GpuSeries& s = out.gpus[it->second];
    if (c.p.status == tt::ValueStatus::unavailable) {
      if (out.unavailable++ == 0) out.first_unavailable_line = row_line[i];
      continue;
    }
    if (!s.samples.empty() && c.t < s.samples.back().t_s)
      tt::fail(file, row_line[i], fmt::format("time goes backwards for GPU {}", c.id),
               "samples of each GPU must be in time order");
    s.samples.push_back({c.t, c.p.w, row_line[i]});
  }
  out.power_field = L.power.size() == 1 ? header[static_cast<std::size_t>(L.power[0])]
                                        : fmt::format("{} power columns", L.power.size());
  out.gpu_source = L.gpu >= 0 ? fmt::format("{} column", header[static_cast<std::size_t>(L.gpu)])
                   : L.power.size() > 1 ? "one power column per GPU"
                                        : "one GPU (no GPU column)";
  out.notes.push_back(fmt::format("columns: time '{}'{}, power {}", header[static_cast<std::size_t>(L.time)],
                                  L.gpu >= 0 ? fmt::format(", GPU '{}'", header[static_cast<std::size_t>(L.gpu)]) : "",
                                  out.power_field));
  return out;
}

}  // namespace keel::power
