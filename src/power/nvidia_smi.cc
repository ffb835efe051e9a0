// nvidia-smi --query-gpu=... --format=csv[,nounits][,noheader] logs, as real loggers leave them.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "keel/power/trace_in.h"
#include "trace_text.h"

namespace keel::power {

namespace tt = trace_text;

namespace {

constexpr int kMaxInferredGpus = 64;

struct Row {
  double t = 0;
  tt::PowerValue power;
  std::string id;
  int line = 0;
};

struct Columns {
  int time = -1, id = -1, power = -1;
  std::string id_name, power_name;
  std::optional<double> power_scale;
  bool averaged = false;
  std::size_t count = 0;
};

bool looks_like_header(const std::vector<std::string>& cells) {
  return std::any_of(cells.begin(), cells.end(), [](const std::string& c) {
    return tt::parse_header_cell(c).name.rfind("power.draw", 0) == 0 ||
           tt::parse_header_cell(c).name == "timestamp";
  });
}

Columns find_columns(const std::vector<std::string>& header, const std::string& file, int line) {
  Columns c;
  c.count = header.size();
  std::map<std::string, int> at;
  std::map<std::string, std::optional<double>> scale;
  for (std::size_t i = 0; i < header.size(); ++i) {
    tt::HeaderCell h = tt::parse_header_cell(header[i]);
    at.emplace(h.name, static_cast<int>(i));
    scale.emplace(h.name, h.unit_scale);
  }
  auto pick = [&](std::initializer_list<const char*> names, int& idx, std::string* name) {
    for (const char* n : names)
      if (auto it = at.find(n); it != at.end()) {
        idx = it->second;
        if (name) *name = n;
        return;
      }
  };
  pick({"timestamp"}, c.time, nullptr);
  pick({"index", "uuid", "gpu_uuid", "pci.bus_id", "gpu_bus_id", "serial", "gpu_serial"}, c.id,
       &c.id_name);
  // power.draw is a ~1 s average on A100/H100; power.draw.instant keeps the swings.
  pick({"power.draw.instant", "power.draw", "power.draw.average"}, c.power, &c.power_name);
  if (c.power < 0)
    tt::fail(file, line, "no power column (expected power.draw.instant or power.draw)",
             "log with nvidia-smi --query-gpu=timestamp,index,power.draw.instant");
  if (c.time < 0)
    tt::fail(file, line, "no timestamp column",
             "log with nvidia-smi --query-gpu=timestamp,index,power.draw.instant");
  c.power_scale = scale[c.power_name];
  c.averaged = c.power_name != "power.draw.instant";
  return c;
}

// Parses one data row; returns an error message instead of throwing (used to probe tails too).
std::optional<std::string> parse_row(const tt::Line& l, const Columns& c, tt::Clock& clock,
                                     Row& row) {
  if (tt::has_nul(l.text)) return "NUL bytes in the line";
  std::vector<std::string> cells = tt::split_csv(l.text);
  if (cells.size() != c.count)
    return fmt::format("expected {} comma-separated fields, found {}", c.count, cells.size());
  auto t = tt::parse_time(cells[static_cast<std::size_t>(c.time)], std::nullopt);
  if (!t) return fmt::format("bad timestamp '{}'", cells[static_cast<std::size_t>(c.time)]);
  row.t = clock.rel(*t);
  row.power = tt::parse_power(cells[static_cast<std::size_t>(c.power)], c.power_scale);
  if (row.power.status == tt::ValueStatus::bad)
    return fmt::format("non-numeric power '{}' in column {}",
                       cells[static_cast<std::size_t>(c.power)], c.power_name);
  if (c.id >= 0) row.id = cells[static_cast<std::size_t>(c.id)];
  row.line = l.number;
  return std::nullopt;
}

// Without an id column each poll writes one row per GPU in index order, a few ms apart, and polls
// are an interval apart. A step longer than half the 99th-percentile step starts a poll (with at
// most 64 GPUs, more than 1 % of the steps are poll boundaries); the GPU count is the most
// common number of rows per poll, and a row's GPU is its position inside its poll.
struct Inference {
  int gpus = 1;
  double within_max_s = 0, between_min_s = 0;
  std::vector<int> slot;  // GPU of each row
  int odd_polls = 0, first_odd_line = 0;  // complete polls with another row count
};

Inference infer_gpu_count(const std::vector<Row>& rows) {
  Inference inf;
  const std::size_t n = rows.size();
  inf.slot.assign(n, 0);
  if (n < 3) return inf;
  std::vector<double> d(n - 1);
  for (std::size_t i = 1; i < n; ++i) d[i - 1] = rows[i].t - rows[i - 1].t;
  std::vector<double> sorted = d;
  auto p99 = sorted.begin() + static_cast<long>(0.99 * static_cast<double>(sorted.size() - 1));
  std::nth_element(sorted.begin(), p99, sorted.end());
  const double threshold = 0.5 * *p99;
  if (!(threshold > 0)) return inf;
  std::vector<std::size_t> starts{0};  // first row of each poll
  for (std::size_t i = 1; i < n; ++i)
    if (d[i - 1] > threshold) starts.push_back(i);
  starts.push_back(n);
  const std::size_t polls = starts.size() - 1;
  std::map<std::size_t, int> count;  // rows per complete poll (the last may be cut short)
  for (std::size_t p = 0; p + 1 < polls; ++p) ++count[starts[p + 1] - starts[p]];
  if (polls < 3) return inf;
  auto mode = std::max_element(count.begin(), count.end(),
                               [](auto& x, auto& y) { return x.second < y.second; });
  if (mode->first < 2 || mode->first > static_cast<std::size_t>(kMaxInferredGpus)) return inf;
  inf.gpus = static_cast<int>(mode->first);
  inf.within_max_s = 0;
  inf.between_min_s = 1e300;
  for (std::size_t i = 1; i < n; ++i) {
    if (d[i - 1] > threshold) inf.between_min_s = std::min(inf.between_min_s, d[i - 1]);
    else inf.within_max_s = std::max(inf.within_max_s, d[i - 1]);
  }
  for (std::size_t p = 0; p < polls; ++p) {
    const std::size_t len = starts[p + 1] - starts[p];
    if (len != mode->first && (p + 1 < polls || len > mode->first) && inf.odd_polls++ == 0)
      inf.first_odd_line = rows[starts[p]].line;
    for (std::size_t i = starts[p]; i < starts[p + 1]; ++i)
      inf.slot[i] = static_cast<int>((i - starts[p]) % mode->first);
  }
  return inf;
}

}  // namespace

ParsedTrace parse_nvidia_smi(std::string_view text, const std::string& file,
                             const TraceReadOptions& opt) {
  ParsedTrace out;
  out.file = file;
  out.format = "nvidia-smi csv";
  std::vector<tt::Line> lines = tt::split_lines(text);
  const std::size_t first = tt::first_content_line(lines, file);

  std::vector<std::string> header = tt::split_csv(lines[first].text);
  std::size_t data_from = first + 1;
  int header_line = lines[first].number;
  if (!looks_like_header(header)) {
    if (opt.columns.empty())
      tt::fail(file, lines[first].number,
               "no header line (a log written with --format=csv,noheader?)",
               "pass --columns with the --query-gpu list it was logged with, e.g. "
               "--columns timestamp,index,power.draw.instant");
    header = opt.columns;
    data_from = first;
    header_line = 0;
    out.notes.push_back(fmt::format("no header: columns taken from --columns ({})",
                                    fmt::join(opt.columns, ",")));
  } else if (!opt.columns.empty()) {
    out.notes.push_back("the file has a header; --columns was ignored");
  }
  const Columns cols = find_columns(header, file, header_line);
  out.power_field = cols.power_name;
  out.averaged = cols.averaged;
  const std::string header_text(tt::trim(lines[first].text));

  std::vector<Row> rows;
  tt::Clock clock;
  for (std::size_t i = data_from; i < lines.size(); ++i) {
    const tt::Line& l = lines[i];
    if (tt::trim(l.text).empty()) continue;
    if (header_line > 0 && tt::trim(l.text) == header_text) {
      out.notes.push_back(fmt::format("header repeated at line {} (logger restarted?)", l.number));
      continue;
    }
    Row row;
    if (auto err = parse_row(l, cols, clock, row)) {
      core::InputError e(*err, core::Location{file, l.number, 0, {}});
      Row probe;
      out.garbage = tt::garbage_tail_or_throw(text, lines, i, e, [&](const tt::Line& x) {
        return !parse_row(x, cols, clock, probe).has_value();
      });
      break;
    }
    rows.push_back(std::move(row));
  }
  out.rows = static_cast<int>(rows.size());
  if (rows.empty()) tt::fail(file, header_line > 0 ? header_line : 1, "no samples after the header");

  if (cols.id >= 0) {
    std::map<std::string, std::size_t> slot;
    for (const Row& r : rows)
      if (slot.emplace(r.id, out.gpus.size()).second) out.gpus.push_back({r.id, {}});
    out.gpu_source = fmt::format("{} column", cols.id_name);
  } else {
    Inference inf = infer_gpu_count(rows);
    for (int g = 0; g < inf.gpus; ++g) out.gpus.push_back({fmt::format("#{}", g), {}});
    for (std::size_t i = 0; i < rows.size(); ++i)
      rows[i].id = out.gpus[static_cast<std::size_t>(inf.slot[i])].id;
    if (inf.gpus > 1) {
      out.gpu_source = fmt::format(
          "inferred: no index column; rows come in polls of {} (rows within a poll at most "
          "{:.0f} ms apart, polls at least {:.0f} ms apart), taken as GPUs #0..#{} in index order",
          inf.gpus, inf.within_max_s * 1e3, inf.between_min_s * 1e3, inf.gpus - 1);
      if (inf.odd_polls > 0)
        out.warnings.push_back(fmt::format(
            "{} poll(s) do not have {} rows, the first at line {}: a GPU dropped out or the logger "
            "stalled, and rows of those polls may be given to the wrong GPU (log the index column "
            "to be sure)",
            inf.odd_polls, inf.gpus, inf.first_odd_line));
    } else {
      out.gpu_source = "inferred: no index column and no repeating poll pattern: one GPU";
    }
  }

  std::map<std::string, std::size_t> index;
  for (std::size_t g = 0; g < out.gpus.size(); ++g) index[out.gpus[g].id] = g;
  for (const Row& r : rows) {
    GpuSeries& s = out.gpus[index[r.id]];
    if (r.power.status == tt::ValueStatus::unavailable) {
      if (out.unavailable++ == 0) out.first_unavailable_line = r.line;
      continue;
    }
    if (!s.samples.empty() && r.t < s.samples.back().t_s)
      tt::fail(file, r.line,
               fmt::format("time goes backwards for GPU {} ({:.3f} s before line {})", r.id,
                           s.samples.back().t_s - r.t, s.samples.back().line),
               "samples of each GPU must be in time order");
    s.samples.push_back({r.t, r.power.w, r.line});
  }
  return out;
}

}  // namespace keel::power
