#include "keel/power/watch.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "keel/core/error.h"

namespace keel::power {

Watcher::Watcher(WatchOptions opt) : opt_(std::move(opt)) {
  if (!(opt_.window_s > 0) || !(opt_.every_s > 0))
    throw core::InputError("window and interval must be positive", {"", 0, 0, "--window-s"});
  if (opt_.alert_after < 1)
    throw core::InputError("--alert-after must be at least 1", {"", 0, 0, "--alert-after"});
  opt_.spec.exclude_start_s = 0;
  opt_.spec.from_s.reset();
  opt_.spec.to_s.reset();
}

std::vector<WatchWindow> Watcher::feed(std::string_view bytes) {
  partial_.append(bytes);
  std::size_t start = 0;
  for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = partial_.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (header_known_) lines_.push_back(std::move(line));
    else header_.push_back(std::move(line));
    ++pending_;
  }
  partial_.erase(0, start);
  // Parsing and resampling the retained window costs as much for one new line as for many: wait
  // until the lines the next window end needs have (about) arrived.
  if (pending_ == 0 || (header_known_ && pending_ < lines_needed_)) return {};
  return advance();
}

std::vector<WatchWindow> Watcher::finish() {
  if (!partial_.empty()) {
    ++pending_;
    if (header_known_) lines_.push_back(std::move(partial_));
    else header_.push_back(std::move(partial_));
    partial_.clear();
  }
  std::vector<WatchWindow> out = pending_ > 0 ? advance() : std::vector<WatchWindow>{};
  if (!header_known_) {
    // The stream ended before any sample parsed: the parser's own error says why.
    std::string text;
    for (const auto& l : header_) text += l + '\n';
    const ParsedTrace t = parse_trace(text, opt_.name, opt_.read);
    if (t.gpus.empty()) throw core::InputError("no power samples in the log", {opt_.name, 0, 0, {}});
  }
  return out;
}

std::vector<WatchWindow> Watcher::advance() {
  pending_ = 0;
  std::vector<WatchWindow> out;
  // The retained text: header lines, then the data lines kept.
  std::string text;
  for (const auto& l : header_) text += l + '\n';
  for (const auto& l : lines_) text += l + '\n';
  ParsedTrace trace;
  try {
    trace = parse_trace(text, opt_.name, opt_.read);
  } catch (const core::InputError&) {
    // Before the first data lines a log is only a header: wait for more (a header-only parse
    // fails); later, or past a generous header, the error is the data's.
    if (!header_known_ && header_.size() < 64) return out;
    throw;
  }
  if (trace.gpus.empty()) return out;
  const auto hdr = static_cast<long long>(header_.size());
  if (!header_known_) {
    // The lines before the first sample are the header; the rest become data lines.
    int first_data = std::numeric_limits<int>::max();
    for (const auto& g : trace.gpus)
      if (!g.samples.empty()) first_data = std::min(first_data, g.samples.front().line);
    const auto keep = static_cast<std::size_t>(std::max(0, first_data - 1));
    for (std::size_t i = keep; i < header_.size(); ++i) lines_.push_back(header_[i]);
    header_.resize(std::min(keep, header_.size()));
    header_known_ = true;
  }
  Resampled grid;
  try {
    grid = resample(trace, opt_.analyze.resample);
  } catch (const core::InputError&) {
    return out;  // fewer than two samples per GPU so far
  }
  double first = std::numeric_limits<double>::infinity();
  for (const auto& g : trace.gpus)
    if (!g.samples.empty()) first = std::min(first, g.samples.front().t_s);
  // The parser counts time from its own zero (the first timestamp's whole second, or the first
  // sample): log time is anchored on the earliest retained sample instead, 0 at the first grid
  // point of the first parse.
  const double grid0 = first + grid.skipped_head_s;  // retained-text time of grid point 0
  if (!started_) {
    started_ = true;
    anchor_s_ = -grid.skipped_head_s;
    next_end_s_ = opt_.window_s;
  }
  base_s_ = anchor_s_ - first;
  const double last = base_s_ + grid0 + grid.duration_s;
  const double eps = 1e-9 * std::max(1.0, last);
  while (next_end_s_ <= last + eps) {
    Spec spec = opt_.spec;
    spec.from_s = std::max(0.0, next_end_s_ - opt_.window_s - base_s_ - grid0);
    spec.to_s = next_end_s_ - base_s_ - grid0;
    const TraceAnalysis a = analyze_trace(trace, spec, opt_.analyze);
    WatchWindow w;
    w.from_s = next_end_s_ - opt_.window_s;
    w.to_s = next_end_s_;
    w.metrics = a.metrics;
    w.clauses = a.clauses;
    w.pass = all_pass(a.clauses);
    streak_ = w.pass ? 0 : streak_ + 1;
    w.failing_streak = streak_;
    w.alert = streak_ >= opt_.alert_after;
    out.push_back(std::move(w));
    next_end_s_ += opt_.every_s;
  }
  // Drop the data lines the next window no longer needs (a few samples of margin for the
  // interpolation at its start). Per GPU the first sample it needs; the earliest of their lines
  // is the first line kept.
  const double keep_from = next_end_s_ - opt_.window_s - 3 * std::max(grid.step_s, grid.median_interval_s);
  int keep_line = std::numeric_limits<int>::max();
  for (const auto& g : trace.gpus) {
    auto it = std::find_if(g.samples.begin(), g.samples.end(),
                           [&](const PowerSample& s) { return base_s_ + s.t_s >= keep_from; });
    if (it == g.samples.end()) it = g.samples.end() - 1;
    keep_line = std::min(keep_line, it->line);
  }
  const long long drop = std::max(0LL, static_cast<long long>(keep_line) - hdr - 1);
  if (drop > 0 && static_cast<std::size_t>(drop) < lines_.size()) {
    // The earliest sample on a kept line anchors the next parse's times.
    double zero = std::numeric_limits<double>::infinity();
    for (const auto& g : trace.gpus)
      for (const auto& s : g.samples)
        if (s.line >= keep_line) {
          zero = std::min(zero, s.t_s);
          break;
        }
    if (zero < std::numeric_limits<double>::infinity()) {
      lines_.erase(lines_.begin(), lines_.begin() + drop);
      anchor_s_ = base_s_ + zero;
    }
  }
  // Lines per second of log time in what is retained: how many more the next window end needs
  // (90 % of the estimate, so a window is never judged late by a rate that drifts).
  const double span = last - anchor_s_;
  if (span > 0 && !lines_.empty()) {
    const double rate = static_cast<double>(lines_.size()) / span;
    lines_needed_ = static_cast<std::size_t>(std::max(0.0, 0.9 * (next_end_s_ - last) * rate));
  }
  return out;
}

}  // namespace keel::power
