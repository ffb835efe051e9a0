#pragma once
// `keel power watch`: the fast telemetry backstop of the seed paper (datacenter-wide spectral
// monitoring with a tiered response) as a tool. A live power log (nvidia-smi / DCGM / the other
// formats `analyze` reads) arrives in pieces; every `every_s` seconds of log time the last
// `window_s` seconds are judged exactly as `keel power analyze --from-s A --to-s B` judges them
// (the same parser, resampling, scaling, metrics and spec clauses). Memory stays bounded: lines
// older than the next window are dropped (the header lines are kept).

#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "keel/power/analysis.h"
#include "keel/power/spec.h"
#include "keel/power/trace_in.h"
#include "keel/power/trace_report.h"

namespace keel::power {

struct WatchOptions {
  TraceReadOptions read;
  AnalyzeOptions analyze;
  Spec spec;  // its exclude_start_s and from/to are ignored: the windows are the watch's
  double window_s = 60, every_s = 10;
  int alert_after = 1;  // consecutive failing windows before an alert
  std::string name = "stdin";  // for messages
};

struct WatchWindow {
  double from_s = 0, to_s = 0;  // log time: seconds since the log's first sample
  Metrics metrics;
  std::vector<Clause> clauses;
  bool pass = true;
  int failing_streak = 0;  // consecutive failing windows up to this one
  bool alert = false;      // failing_streak reached alert_after
};

class Watcher {
 public:
  explicit Watcher(WatchOptions opt);
  // Bytes as they arrive (any split, lines may be cut anywhere); the windows they complete.
  // Throws core::InputError (naming the log's line) for data the parser refuses.
  std::vector<WatchWindow> feed(std::string_view bytes);
  // End of the stream: a last unterminated line is taken; windows it completes are returned.
  std::vector<WatchWindow> finish();
  std::size_t retained_lines() const { return lines_.size(); }

 private:
  std::vector<WatchWindow> advance();
  WatchOptions opt_;
  std::string partial_;                 // an incomplete last line
  std::vector<std::string> header_;     // lines before the first data line, kept
  std::deque<std::string> lines_;       // data lines retained
  bool header_known_ = false;
  std::size_t pending_ = 0;       // lines since the last evaluation
  std::size_t lines_needed_ = 0;  // estimated lines until the next window can end
  bool started_ = false;                // the first grid point fixed log time's zero
  double base_s_ = 0;                   // log time of the retained text's time zero
  double anchor_s_ = 0;                 // log time of the earliest retained sample
  double next_end_s_ = 0;               // end of the next window to judge
  int streak_ = 0;
};

}  // namespace keel::power
