#include "trace_text.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

namespace keel::power::trace_text {

std::vector<Line> split_lines(std::string_view text) {
  std::vector<Line> out;
  std::size_t pos = 0;
  int number = 1;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    out.push_back({l, number++, pos});
    pos = end + 1;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

std::vector<std::string> split_csv(std::string_view line) {
  std::vector<std::string> cells;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back(trim(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  cells.emplace_back(trim(cur));
  return cells;
}

std::optional<double> watts_per_unit(std::string_view unit) {
  unit = trim(unit);
  if (unit == "W" || unit == "w") return 1.0;
  if (unit == "mW") return 1e-3;
  if (unit == "kW") return 1e3;
  if (unit == "MW") return 1e6;
  return std::nullopt;
}

HeaderCell parse_header_cell(std::string_view cell) {
  cell = trim(cell);
  HeaderCell h;
  if (auto open = cell.rfind('['); open != std::string_view::npos && cell.back() == ']') {
    std::string_view unit = cell.substr(open + 1, cell.size() - open - 2);
    h.unit_scale = watts_per_unit(unit);
    cell = trim(cell.substr(0, open));
  }
  h.name = lower(cell);
  return h;
}

bool is_unavailable(std::string_view cell) {
  static const std::array<std::string_view, 11> kPlaceholders = {
      "", "n/a", "[n/a]", "-", "nan", "not supported", "[not supported]", "[unknown error]",
      "[insufficient permissions]", "[gpu is lost]", "[gpu requires reset]"};
  std::string c = lower(trim(cell));
  return std::find(kPlaceholders.begin(), kPlaceholders.end(), c) != kPlaceholders.end();
}

PowerValue parse_power(std::string_view cell, std::optional<double> header_scale) {
  cell = trim(cell);
  if (is_unavailable(cell)) return {ValueStatus::unavailable, 0};
  double v = 0;
  auto [p, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc() || !std::isfinite(v) || v < 0) return {};
  std::string_view rest = trim(cell.substr(static_cast<std::size_t>(p - cell.data())));
  double scale = header_scale.value_or(1.0);
  if (!rest.empty()) {
    auto s = watts_per_unit(rest);
    if (!s) return {};
    scale = *s;
  }
  return {ValueStatus::ok, v * scale};
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
long long days_from_civil(long long y, unsigned m, unsigned d) {
  y -= m <= 2;
  const long long era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<long long>(doe) - 719468;
}

bool read_int(std::string_view& s, std::size_t digits, int& out) {
  if (s.size() < digits) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + digits, out);
  if (ec != std::errc() || p != s.data() + digits) return false;
  s.remove_prefix(digits);
  return true;
}

bool eat(std::string_view& s, std::string_view chars) {
  if (s.empty() || chars.find(s.front()) == std::string_view::npos) return false;
  s.remove_prefix(1);
  return true;
}

std::optional<TimePoint> parse_date_time(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!read_int(s, 4, y) || !eat(s, "-/") || !read_int(s, 2, mo) || !eat(s, "-/") ||
      !read_int(s, 2, d))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  if (!eat(s, "T ")) return std::nullopt;
  s = trim(s);
  if (!read_int(s, 2, h) || !eat(s, ":") || !read_int(s, 2, mi) || !eat(s, ":") ||
      !read_int(s, 2, sec) || h > 23 || mi > 59 || sec > 60)
    return std::nullopt;
  double frac = 0;
  if (!s.empty() && s.front() == '.') {
    std::size_t n = 1;
    while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
    std::string f = "0" + std::string(s.substr(0, n));
    if (n == 1 || std::from_chars(f.data(), f.data() + f.size(), frac).ec != std::errc())
      return std::nullopt;
    s.remove_prefix(n);
  }
  s = trim(s);
  long long offset_s = 0;
  if (s == "Z" || s == "UTC" || s.empty()) {
  } else if (s.front() == '+' || s.front() == '-') {
    int sign = s.front() == '-' ? -1 : 1;
    s.remove_prefix(1);
    int oh = 0, om = 0;
    if (!read_int(s, 2, oh)) return std::nullopt;
    eat(s, ":");
    if (!s.empty() && !read_int(s, 2, om)) return std::nullopt;
    if (!s.empty()) return std::nullopt;
    offset_s = sign * (oh * 3600LL + om * 60LL);
  } else {
    return std::nullopt;
  }
  long long days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  return TimePoint{days * 86400 + h * 3600LL + mi * 60LL + sec - offset_s, frac};
}

// A plain number of seconds (times `scale`), split exactly when written as digits[.digits].
std::optional<TimePoint> parse_number_time(std::string_view cell, double scale) {
  long long whole = 0;
  auto [p, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), whole);
  const bool int_part = ec == std::errc() && cell.front() != '-';
  std::string_view rest = int_part ? cell.substr(static_cast<std::size_t>(p - cell.data())) : cell;
  if (int_part && rest.empty() && scale < 1.0) {
    const auto per_s = static_cast<long long>(std::llround(1.0 / scale));
    return TimePoint{whole / per_s, static_cast<double>(whole % per_s) * scale};
  }
  if (int_part && scale == 1.0 && (rest.empty() || rest.front() == '.')) {
    double frac = 0;
    if (!rest.empty()) {
      std::string f = "0" + std::string(rest);
      auto r = std::from_chars(f.data(), f.data() + f.size(), frac);
      if (r.ec != std::errc() || r.ptr != f.data() + f.size()) return std::nullopt;
    }
    return TimePoint{whole, frac};
  }
  double v = 0;
  auto [q, ec2] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec2 != std::errc() || q != cell.data() + cell.size() || !std::isfinite(v)) return std::nullopt;
  v *= scale;
  // Beyond ~292 billion years no clock is meant: not a time (and no UB converting it).
  if (!std::isfinite(v) || std::abs(v) > 9e18) return std::nullopt;
  const double whole_s = std::floor(v);
  return TimePoint{static_cast<long long>(whole_s), v - whole_s};
}

}  // namespace

std::optional<TimePoint> parse_time(std::string_view cell, std::optional<double> number_scale) {
  cell = trim(cell);
  if (cell.empty()) return std::nullopt;
  if (cell.size() >= 10 && (cell[4] == '-' || cell[4] == '/')) return parse_date_time(cell);
  double v = 0;
  auto [p, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), v);
  if (ec != std::errc() || p != cell.data() + cell.size() || !std::isfinite(v)) return std::nullopt;
  if (number_scale) return parse_number_time(cell, *number_scale);
  // Epoch numbers: seconds, ms, us or ns, told apart by magnitude.
  const double a = std::fabs(v);
  return parse_number_time(cell, a >= 1e17 ? 1e-9 : a >= 1e14 ? 1e-6 : a >= 1e11 ? 1e-3 : 1.0);
}

std::optional<double> time_unit_from_name(std::string_view name) {
  std::string n = lower(trim(name));
  auto ends = [&](std::string_view suf) {
    return n.size() > suf.size() && n.compare(n.size() - suf.size(), suf.size(), suf) == 0;
  };
  if (ends("_ms") || ends("[ms]")) return 1e-3;
  if (ends("_us") || ends("[us]")) return 1e-6;
  if (ends("_ns") || ends("[ns]")) return 1e-9;
  if (ends("_s") || ends("[s]")) return 1.0;
  return std::nullopt;
}

void fail(const std::string& file, int line, const std::string& what, const std::string& hint) {
  throw core::InputError(what, core::Location{file, line, 0, {}}, hint);
}

TrailingGarbage garbage_tail_or_throw(std::string_view text, const std::vector<Line>& lines,
                                      std::size_t bad, const core::InputError& error,
                                      const std::function<bool(const Line&)>& parses) {
  for (std::size_t i = bad + 1; i < lines.size(); ++i) {
    if (trim(lines[i].text).empty()) continue;
    if (parses(lines[i])) throw error;
  }
  TrailingGarbage g;
  g.line = lines[bad].number;
  std::string_view tail = text.substr(lines[bad].offset);
  g.bytes = tail.size();
  g.nul_bytes = static_cast<std::size_t>(std::count(tail.begin(), tail.end(), '\0'));
  // A killed logger leaves NUL bytes or a last line cut short (no newline after it). A complete
  // bad last line is a bad file, not a killed logger.
  std::size_t last = lines.size();
  while (last > bad + 1 && trim(lines[last - 1].text).empty()) --last;
  const bool cut_short = last == bad + 1 && text.back() != '\n';
  if (g.nul_bytes == 0 && !cut_short) throw error;
  return g;
}

std::size_t first_content_line(const std::vector<Line>& lines, const std::string& file) {
  std::size_t first = 0;
  while (first < lines.size() && trim(lines[first].text).empty()) ++first;
  if (first == lines.size()) fail(file, 1, "empty file: no header and no samples");
  return first;
}

}  // namespace keel::power::trace_text
