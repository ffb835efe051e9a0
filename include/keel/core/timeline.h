#pragma once
// The compute/communication timeline a trainer records and the power simulator replays.
// CSV, header `rank,iteration,phase,start_s,end_s`, one row per phase per rank per iteration;
// phase is `compute` or `comm`; times in seconds from any common origin. Documented in
// docs/ARCHITECTURE.md ("Timeline format").

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <vector>

namespace keel::core {

enum class TimelinePhase { compute, comm };

struct PhaseRecord {
  int rank = 0;
  std::int64_t iteration = 0;
  TimelinePhase phase = TimelinePhase::compute;
  double start_s = 0, end_s = 0;
};

// Reads and validates (header, numbers, end >= start, ranks >= 0, phases known, per rank and
// phase no overlapping intervals). Throws InputError naming file:line.
std::vector<PhaseRecord> read_timeline_csv(const std::filesystem::path& file);
// Same, from text (`name` is used in error messages).
std::vector<PhaseRecord> parse_timeline_csv(std::string_view text, const std::string& name);
// Writes atomically.
void write_timeline_csv(const std::filesystem::path& file, const std::vector<PhaseRecord>& records);

}  // namespace keel::core
