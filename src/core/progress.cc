#include "keel/core/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <iostream>

namespace keel::core {

bool progress_enabled(bool quiet) { return !quiet && isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label, std::uint64_t total, bool enabled, std::string unit)
    : Progress(std::move(label), total, enabled, std::move(unit), std::cerr) {}

Progress::Progress(std::string label, std::uint64_t total, bool enabled, std::string unit,
                   std::ostream& out)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      unit_(std::move(unit)),
      out_(&out),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (enabled_ && !finished_) *out_ << "\n" << std::flush;
}

namespace {
std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  auto total = static_cast<long>(s + 0.5);
  if (total >= 3600) return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
  return fmt::format("{:02}:{:02}", total / 60, total % 60);
}
}  // namespace

std::string Progress::render(const std::string& label, std::uint64_t done, std::uint64_t total,
                             double elapsed_s, const std::string& unit, int width) {
  double frac = total > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total))
                          : 0.0;
  int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<std::size_t>(filled), '#');
  bar.resize(static_cast<std::size_t>(width), '.');
  double rate = elapsed_s > 0 ? static_cast<double>(done) / elapsed_s : 0.0;
  double eta = rate > 0 ? static_cast<double>(total - std::min(done, total)) / rate : NAN;
  return fmt::format("{} [{}] {:3.0f}% {}/{} {:.1f} {}/s ETA {}", label, bar, frac * 100, done,
                     total, rate, unit, format_duration(eta));
}

void Progress::draw() {
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  *out_ << "\r\x1b[2K" << render(label_, done_, total_, el, unit_)
        << (note_.empty() ? "" : "  " + note_) << std::flush;
}

void Progress::update(std::uint64_t done) {
  done_ = done;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw();
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw();
  *out_ << "\n" << std::flush;
}

}  // namespace keel::core
