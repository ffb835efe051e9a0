#pragma once
// A progress bar for long work: label, bar, count, rate and ETA on one redrawn stderr line.
// Drawn only when the stream is a terminal and not --quiet; otherwise it stays silent.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <string>

namespace keel::core {

class Progress {
 public:
  // `enabled` false draws nothing (use progress_enabled() to decide from TTY and --quiet).
  Progress(std::string label, std::uint64_t total, bool enabled, std::string unit = "it");
  Progress(std::string label, std::uint64_t total, bool enabled, std::string unit,
           std::ostream& out);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Sets the count done; redraws at most every 100 ms.
  void update(std::uint64_t done);
  void add(std::uint64_t n = 1) { update(done_ + n); }
  // Text shown after the ETA (e.g. "loss 0.693"); drawn with the next update.
  void set_note(std::string note) { note_ = std::move(note); }
  // Draws the final state and ends the line.
  void finish();

  // The line as drawn for `done` items after `elapsed_s` seconds (pure; used by tests).
  static std::string render(const std::string& label, std::uint64_t done, std::uint64_t total,
                            double elapsed_s, const std::string& unit, int width = 30);

 private:
  void draw();
  std::string label_;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::string unit_, note_;
  std::ostream* out_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// True when stderr is a terminal and quiet is false.
bool progress_enabled(bool quiet);

}  // namespace keel::core
