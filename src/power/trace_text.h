#pragma once
// Text helpers shared by the measured-trace parsers (private to src/power). The CSV dialects here
// (unit suffixes in cells, "N/A" placeholders, NUL tails) are quirky enough that a general CSV
// library would not help, so they are parsed by hand.

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/core/error.h"
#include "keel/power/trace_in.h"

namespace keel::power::trace_text {

struct Line {
  std::string_view text;  // without the line ending
  int number = 0;         // 1-based
  std::size_t offset = 0; // byte offset of the line in the file
};

// Splits on \n (a trailing \r is dropped); a missing final newline is fine.
std::vector<Line> split_lines(std::string_view text);

std::string_view trim(std::string_view s);
std::string lower(std::string_view s);
bool has_nul(std::string_view s);

// Comma-separated cells, trimmed, double quotes removed ("a,b" stays one cell).
std::vector<std::string> split_csv(std::string_view line);

// "W", "mW", "kW", "MW" -> factor to watts.
std::optional<double> watts_per_unit(std::string_view unit);

// "power.draw [W]" -> {"power.draw", 1}; "power.draw" -> {"power.draw", nullopt}.
struct HeaderCell {
  std::string name;                  // lower-case, unit removed
  std::optional<double> unit_scale;  // factor to watts when the header names a unit
};
HeaderCell parse_header_cell(std::string_view cell);

// The placeholders loggers print instead of a value ("N/A", "[Not Supported]", "nan", ...).
bool is_unavailable(std::string_view cell);

enum class ValueStatus { ok, unavailable, bad };
struct PowerValue {
  ValueStatus status = ValueStatus::bad;
  double w = 0;
};
// "312.45 W", "312.45", "312450 mW": the cell's own unit wins, then the header's, then watts.
PowerValue parse_power(std::string_view cell, std::optional<double> header_scale);

// A timestamp split into whole seconds and a fraction: epoch-sized doubles would carry ~1e-7 s of
// rounding noise into every interval.
struct TimePoint {
  long long s = 0;
  double frac = 0;
};

// Seconds since the first timestamp it was given, computed without epoch-sized rounding.
class Clock {
 public:
  double rel(const TimePoint& p) {
    if (!origin_) origin_ = p.s;
    // In doubles: exact for any real clock (|s| < 2^53), and no signed overflow on absurd ones.
    return static_cast<double>(p.s) - static_cast<double>(*origin_) + p.frac;
  }
  std::optional<long long> origin() const { return origin_; }

 private:
  std::optional<long long> origin_;
};

// Timestamps as the tools write them: "2025/08/21 14:03:07.123", ISO 8601 ("2025-08-21T14:03:07Z",
// with an optional UTC offset), or a number. Numbers are multiplied by `number_scale` when given
// (a column named time_ms), else read as epoch seconds, ms, us or ns by magnitude.
std::optional<TimePoint> parse_time(std::string_view cell, std::optional<double> number_scale);
// Factor to seconds implied by a time column's name suffix (_s, _ms, _us, _ns), if any.
std::optional<double> time_unit_from_name(std::string_view name);

// Index of the first non-blank line (the header); throws InputError for a file with none.
std::size_t first_content_line(const std::vector<Line>& lines, const std::string& file);

// Throws core::InputError naming file:line.
[[noreturn]] void fail(const std::string& file, int line, const std::string& what,
                       const std::string& hint = {});

// A line at index `bad` failed with `error`. When no later line parses (`parses` says whether a
// line would) and the tail holds NUL bytes or is one line cut short (no final newline), the rest
// of the file is a killed logger's tail: returns it. Otherwise rethrows: garbage in the middle of
// a file, or a complete bad line, is an error.
TrailingGarbage garbage_tail_or_throw(std::string_view text, const std::vector<Line>& lines,
                                      std::size_t bad, const core::InputError& error,
                                      const std::function<bool(const Line&)>& parses);

}  // namespace keel::power::trace_text
