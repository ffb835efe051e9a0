// DCGM power logs: `dcgmi dmon -e 155,157 -d MS` text, and CSV exports with a time column and
// DCGM field-name columns (DCGM_FI_DEV_POWER_USAGE = field 155, a ~1 s average on A100/H100;
// DCGM_FI_DEV_POWER_USAGE_INSTANT = field 157).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <sstream>

#include "keel/power/trace_in.h"
#include "trace_text.h"

namespace keel::power {

namespace tt = trace_text;

namespace {

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream in{std::string(s)};
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

void add_sample(ParsedTrace& out, std::map<std::string, std::size_t>& slot, const std::string& id,
                const tt::PowerValue& v, double t, int line) {
  auto [it, fresh] = slot.emplace(id, out.gpus.size());
  if (fresh) out.gpus.push_back({id, {}});
  GpuSeries& s = out.gpus[it->second];
  if (v.status == tt::ValueStatus::unavailable) {
    if (out.unavailable++ == 0) out.first_unavailable_line = line;
    return;
  }
  if (!s.samples.empty() && t < s.samples.back().t_s)
    tt::fail(out.file, line,
             fmt::format("time goes backwards for GPU {} ({:.3f} s before line {})", id,
                         s.samples.back().t_s - t, s.samples.back().line),
             "samples of each GPU must be in time order");
  s.samples.push_back({t, v.w, line});
}

bool is_dmon_footer(std::string_view l) {
  return l.find("dmon was stopped") != std::string_view::npos;
}

}  // namespace

// dcgmi dmon prints "#Entity  POWER  POWINST" and a units line ("ID  W  W"), repeated every
// 15 polls, then one row per entity per poll ("GPU 0  61.234  63.100"); blank values are "N/A".
ParsedTrace parse_dcgm_dmon(std::string_view text, const std::string& file,
                            const TraceReadOptions& opt) {
  ParsedTrace out;
  out.file = file;
  out.format = "dcgmi dmon";
  std::vector<tt::Line> lines = tt::split_lines(text);
  const std::size_t first = tt::first_content_line(lines, file);
  std::vector<std::string> head = words(lines[first].text);
  if (head.empty() || head[0] != "#Entity")
    tt::fail(file, lines[first].number, "not dcgmi dmon output (no '#Entity' header)");
  const std::size_t nfields = head.size() - 1;
  int col = -1;
  for (const char* name : {"POWINST", "POWER"}) {
    auto it = std::find(head.begin() + 1, head.end(), name);
    if (it != head.end()) {
      col = static_cast<int>(it - head.begin()) - 1;
      out.power_field = std::string(name) + (std::string(name) == "POWER" ? " (DCGM field 155)"
                                                                          : " (DCGM field 157)");
      out.averaged = std::string(name) == "POWER";
      break;
    }
  }
  if (col < 0)
    tt::fail(file, lines[first].number, "no POWINST (field 157) or POWER (field 155) column",
             "log with dcgmi dmon -e 155,157 -d MS");
  if (!opt.dmon_delay_ms)
    tt::fail(file, lines[first].number, "dcgmi dmon output carries no time stamps",
             "pass --dmon-delay-ms with the -d value dcgmi dmon ran with");
  const double dt = *opt.dmon_delay_ms * 1e-3;
  const std::string header_text(tt::trim(lines[first].text));
  out.gpu_source = "entity rows (GPU N)";
  out.notes.push_back(fmt::format(
      "dcgmi dmon has no time column: poll k is placed at k x {:g} ms (dmon sleeps the delay "
      "after each poll, so the true period is slightly longer)",
      *opt.dmon_delay_ms));

  std::map<std::string, std::size_t> slot;
  std::vector<std::string> in_poll;
  long poll = 0;
  int other_entities = 0;
  bool seen_rows = false;
  auto parse_row = [&](const tt::Line& l, std::string& id, tt::PowerValue& v) -> std::optional<std::string> {
    if (tt::has_nul(l.text)) return "NUL bytes in the line";
    std::vector<std::string> w = words(l.text);
    if (w.size() != nfields + 2)
      return fmt::format("expected an entity and {} values, found {} words", nfields, w.size());
    id = w[0] + " " + w[1];
    v = tt::parse_power(w[2 + static_cast<std::size_t>(col)], std::nullopt);
    if (v.status == tt::ValueStatus::bad)
      return fmt::format("non-numeric power '{}'", w[2 + static_cast<std::size_t>(col)]);
    return std::nullopt;
  };
  for (std::size_t i = first + 1; i < lines.size(); ++i) {
    const tt::Line& l = lines[i];
    std::string_view s = tt::trim(l.text);
    if (s.empty()) continue;
    if (s == header_text || s.rfind("#Entity", 0) == 0) {
      if (s != header_text) tt::fail(file, l.number, "the dmon header changed mid-file");
      continue;
    }
    if (s.rfind("ID", 0) == 0 && !tt::has_nul(s)) continue;  // the units line
    if (is_dmon_footer(s)) break;
    std::string id;
    tt::PowerValue v;
    if (auto err = parse_row(l, id, v)) {
      core::InputError e(*err, core::Location{file, l.number, 0, {}});
      out.garbage = tt::garbage_tail_or_throw(text, lines, i, e, [&](const tt::Line& x) {
        std::string xi;
        tt::PowerValue xv;
        return is_dmon_footer(x.text) || !parse_row(x, xi, xv).has_value();
      });
      break;
    }
    ++out.rows;
    if (std::find(in_poll.begin(), in_poll.end(), id) != in_poll.end()) {
      ++poll;  // an entity seen again starts the next poll
      in_poll.clear();
    }
    in_poll.push_back(id);
    seen_rows = true;
    if (id.rfind("GPU ", 0) != 0) {  // MIG instances, NVSwitches: not whole-GPU power
      ++other_entities;
      continue;
    }
    add_sample(out, slot, id, v, static_cast<double>(poll) * dt, l.number);
  }
  if (!seen_rows || out.gpus.empty()) tt::fail(file, lines[first].number, "no GPU rows after the header");
  if (other_entities > 0)
    out.notes.push_back(fmt::format("{} rows of non-GPU entities (MIG, switches) ignored", other_entities));
  return out;
}

// A CSV with a time column and DCGM field-name columns, in one of two layouts: long (a gpu column,
// one row per GPU per sample, as scripts scraping dcgm-exporter write) or wide (one column per
// GPU, e.g. `DCGM_FI_DEV_POWER_USAGE_INSTANT{gpu="0",...}` as Grafana/Prometheus exports write).
ParsedTrace parse_dcgm_csv(std::string_view text, const std::string& file) {
  ParsedTrace out;
  out.file = file;
  out.format = "dcgm csv";
  std::vector<tt::Line> lines = tt::split_lines(text);
  const std::size_t first = tt::first_content_line(lines, file);
  const std::vector<std::string> header = tt::split_csv(lines[first].text);
  const int hl = lines[first].number;

  int time_col = -1, gpu_col = -1;
  std::optional<double> time_scale;
  struct PowerCol {
    std::size_t col;
    bool instant;
    std::string gpu;  // from a {gpu="N"} label, if any
    std::optional<double> scale;
  };
  std::vector<PowerCol> power;
  for (std::size_t i = 0; i < header.size(); ++i) {
    const std::string& raw = header[i];
    std::string name = tt::lower(raw);
    std::string base = name.substr(0, name.find('{'));
    tt::HeaderCell hc = tt::parse_header_cell(base);
    if (time_col < 0 && (hc.name == "timestamp" || hc.name == "time" || hc.name == "ts" ||
                         hc.name == "datetime" || hc.name == "date" ||
                         hc.name.rfind("time", 0) == 0 || hc.name.rfind("timestamp", 0) == 0 ||
                         hc.name == "utc_ts")) {
      time_col = static_cast<int>(i);
      time_scale = tt::time_unit_from_name(raw);
    } else if (gpu_col < 0 && (hc.name == "gpu" || hc.name == "gpu_id" || hc.name == "gpu_index" ||
                               hc.name == "index" || hc.name == "entity" || hc.name == "entity_id" ||
                               hc.name == "entityid" || hc.name == "device")) {
      gpu_col = static_cast<int>(i);
    } else if (hc.name.rfind("dcgm_fi_dev_power_usage", 0) == 0 &&
               (hc.name == "dcgm_fi_dev_power_usage" || hc.name == "dcgm_fi_dev_power_usage_instant")) {
      PowerCol p{i, hc.name.ends_with("_instant"), {}, hc.unit_scale};
      if (auto at = raw.find("gpu=\""); at != std::string::npos) {
        auto end = raw.find('"', at + 5);
        p.gpu = raw.substr(at + 5, end == std::string::npos ? std::string::npos : end - at - 5);
      }
      power.push_back(p);
    }
  }
  if (time_col < 0)
    tt::fail(file, hl, "no time column (timestamp, time, ts, ...)");
  if (power.empty())
    tt::fail(file, hl, "no DCGM_FI_DEV_POWER_USAGE_INSTANT or DCGM_FI_DEV_POWER_USAGE column");
  const bool instant = std::any_of(power.begin(), power.end(), [](auto& p) { return p.instant; });
  std::erase_if(power, [&](const PowerCol& p) { return p.instant != instant; });
  out.power_field = instant ? "DCGM_FI_DEV_POWER_USAGE_INSTANT" : "DCGM_FI_DEV_POWER_USAGE";
  out.averaged = !instant;
  const bool long_layout = gpu_col >= 0 && power.size() == 1;
  if (gpu_col >= 0 && power.size() > 1)
    tt::fail(file, hl, fmt::format("a gpu column and {} {} columns: one layout at a time",
                                   power.size(), out.power_field));
  out.gpu_source = long_layout ? fmt::format("{} column", header[static_cast<std::size_t>(gpu_col)])
                               : power.size() > 1 ? "one power column per GPU" : "one GPU";

  std::map<std::string, std::size_t> slot;
  tt::Clock clock;
  struct Cell {
    std::string id;
    tt::PowerValue v;
  };
  auto parse_row = [&](const tt::Line& l, double& t, std::vector<Cell>& cells) -> std::optional<std::string> {
    if (tt::has_nul(l.text)) return "NUL bytes in the line";
    std::vector<std::string> c = tt::split_csv(l.text);
    if (c.size() != header.size())
      return fmt::format("expected {} comma-separated fields, found {}", header.size(), c.size());
    auto tv = tt::parse_time(c[static_cast<std::size_t>(time_col)], time_scale);
    if (!tv) return fmt::format("bad timestamp '{}'", c[static_cast<std::size_t>(time_col)]);
    t = clock.rel(*tv);
    cells.clear();
    for (std::size_t k = 0; k < power.size(); ++k) {
      Cell cell;
      cell.v = tt::parse_power(c[power[k].col], power[k].scale);
      if (cell.v.status == tt::ValueStatus::bad)
        return fmt::format("non-numeric power '{}' in column {}", c[power[k].col], out.power_field);
      cell.id = long_layout ? c[static_cast<std::size_t>(gpu_col)]
                : !power[k].gpu.empty() ? power[k].gpu
                                        : header[power[k].col];
      cells.push_back(std::move(cell));
    }
    return std::nullopt;
  };
  std::vector<Cell> cells;
  for (std::size_t i = first + 1; i < lines.size(); ++i) {
    const tt::Line& l = lines[i];
    if (tt::trim(l.text).empty()) continue;
    double t = 0;
    if (auto err = parse_row(l, t, cells)) {
      core::InputError e(*err, core::Location{file, l.number, 0, {}});
      out.garbage = tt::garbage_tail_or_throw(text, lines, i, e, [&](const tt::Line& x) {
        double xt = 0;
        std::vector<Cell> xc;
        return !parse_row(x, xt, xc).has_value();
      });
      break;
    }
    ++out.rows;
    for (const Cell& c : cells) add_sample(out, slot, c.id, c.v, t, l.number);
  }
  if (out.rows == 0) tt::fail(file, hl, "no samples after the header");
  return out;
}

}  // namespace keel::power
