#pragma once
// Measured GPU power as users already have it: nvidia-smi CSV logs, `dcgmi dmon` text and CSV
// exports with DCGM field-name columns (and keel's own trace CSV, facility-level). Parsed as they are (quirks included), then resampled to a
// uniform grid so the same metrics as `simulate` apply. Problems in the data (gaps, duplicated
// timestamps, a killed logger's garbage tail) are reported, never silently fixed.

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace keel::power {

// csv: any comma-separated table (long form: one row per GPU sample with a GPU column; wide
// form: one power column per GPU); nvml: whitespace-separated columns under a '#' header line,
// as NVML-based loggers write them.
enum class TraceFormat { automatic, nvidia_smi, dcgm, csv, nvml };

struct TraceReadOptions {
  TraceFormat format = TraceFormat::automatic;
  // Column mapping for csv / nvml tables (header names, case-insensitive); empty: detected.
  std::string time_col, gpu_col, power_col;
  std::vector<std::string> power_cols;  // wide form: one column per GPU
  std::string power_unit;  // "W", "mW", "kW": overrides the header's
  std::string time_unit;   // "s", "ms", "us", "ns" for numeric times: overrides the header's
  // nvidia-smi files written with `noheader`: the --query-gpu list, in order.
  std::vector<std::string> columns;
  // `dcgmi dmon` prints no time: poll k is placed at k × the -d delay the user ran it with.
  std::optional<double> dmon_delay_ms;
};

struct PowerSample {
  double t_s = 0;  // seconds since the file's first timestamp (or first dmon poll)
  double w = 0;
  int line = 0;  // 1-based line in the file, for reports
};

struct GpuSeries {
  std::string id;  // "0", a UUID or bus id, "GPU 3", or "#2" when inferred from row order
  std::vector<PowerSample> samples;  // in file order (time non-decreasing: checked)
};

// Bytes after the last good line that do not parse (a logger killed mid-write): tolerated.
struct TrailingGarbage {
  int line = 0;  // first line of the tail
  std::size_t bytes = 0, nul_bytes = 0;
};

struct ParsedTrace {
  std::string file;
  std::string format;       // "nvidia-smi csv", "dcgmi dmon", "dcgm csv"
  std::string power_field;  // the column used, e.g. "power.draw.instant"
  bool averaged = false;    // only a ~1 s average was logged (power.draw, DCGM field 155)
  std::vector<GpuSeries> gpus;
  std::string gpu_source;   // how the GPUs were told apart (index column, inferred, ...)
  int rows = 0;             // data rows read
  int unavailable = 0;      // "N/A", "[Not Supported]", ... values skipped
  int first_unavailable_line = 0;
  std::optional<TrailingGarbage> garbage;
  // Absolute time of t_s = 0 in whole seconds since the epoch, when the timestamps were absolute
  // (epoch numbers or dates); what merging several files on their timestamps needs.
  std::optional<long long> origin_s;
  std::vector<std::string> notes;     // facts worth telling the user (not errors)
  std::vector<std::string> warnings;  // doubts about the parse itself (reported with the rest)
};

// Reads and parses `file`. Throws core::InputError (file:line) on malformed input.
ParsedTrace read_trace(const std::filesystem::path& file, const TraceReadOptions& opt = {});
// The same on text already in memory; `file` only names it in messages.
ParsedTrace parse_trace(std::string_view text, const std::string& file,
                        const TraceReadOptions& opt = {});

ParsedTrace parse_nvidia_smi(std::string_view text, const std::string& file,
                             const TraceReadOptions& opt);
ParsedTrace parse_dcgm_dmon(std::string_view text, const std::string& file,
                            const TraceReadOptions& opt);
ParsedTrace parse_dcgm_csv(std::string_view text, const std::string& file);
// A csv or nvml table (trace_table.cc); `whitespace` selects nvml's layout.
ParsedTrace parse_table_trace(std::string_view text, const std::string& file,
                              const TraceReadOptions& opt, bool whitespace);
// Whether the text looks like an NVML logger's output: '#' comment lines, then lines of
// whitespace-separated numbers.
bool looks_like_nvml_log(std::string_view text);

// Several logs of one job (one per node) as one trace: each file's GPUs (ids prefixed with the
// file's name), placed on a common clock by their absolute timestamps. Each file's clock offset
// against the first is estimated by cross-correlating their summed power (a synchronous job
// swings everywhere at once) and reported; with `align`, applied.
ParsedTrace merge_traces(std::vector<ParsedTrace> traces, bool align);
// keel's own `simulate --trace` / `compare --trace` CSV: one facility-level series (grid_mw, or
// the column opt.columns names).
bool is_keel_trace_header(std::string_view first_line);
ParsedTrace parse_keel_trace(std::string_view text, const std::string& file,
                             const TraceReadOptions& opt);

// An interval between two samples of one GPU longer than gap_factor × the median interval.
struct Gap {
  std::string gpu;
  double from_s = 0, to_s = 0;  // relative to the start of the resampled trace
  int line = 0;                 // line of the sample after the gap
};

// A sample whose timestamp equals the previous one of the same GPU (the values are averaged).
struct Duplicate {
  std::string gpu;
  double t_s = 0;  // relative to the start of the resampled trace
  int line = 0;
};

struct ResampleOptions {
  std::optional<double> step_s;  // default: the median sampling interval
  double gap_factor = 3.0;
};

struct Resampled {
  std::vector<double> total_w;  // sum over the file's GPUs on the grid
  double step_s = 0;
  double median_interval_s = 0;  // median of all GPUs' sample intervals
  double duration_s = 0;         // span of the grid
  double skipped_head_s = 0, skipped_tail_s = 0;  // cut so that every GPU has data
  std::vector<Gap> gaps;
  int duplicates = 0;
  std::vector<Duplicate> duplicate_sites;  // the first few, for the report
  double gap_fraction = 0;  // share of the grid lying inside gaps (interpolated across)
};

// Linear interpolation of every GPU onto one grid over the span all GPUs cover, then summed.
// Throws core::InputError when fewer than 2 distinct timestamps remain for some GPU.
Resampled resample(const ParsedTrace& trace, const ResampleOptions& opt = {});

}  // namespace keel::power
