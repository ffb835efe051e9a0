// Reading a measured trace: the file, and which of the supported formats it is.
#include "keel/power/trace_in.h"

#include <fstream>
#include <sstream>

#include "keel/core/checksum.h"
#include "trace_text.h"

namespace keel::power {

namespace tt = trace_text;

ParsedTrace parse_trace(std::string_view text, const std::string& file,
                        const TraceReadOptions& opt) {
  std::string first;
  for (const tt::Line& l : tt::split_lines(text))
    if (!tt::trim(l.text).empty()) {
      first = std::string(tt::trim(l.text));
      break;
    }
  if (opt.format == TraceFormat::automatic && is_keel_trace_header(first))
    return parse_keel_trace(text, file, opt);
  const bool mapped = !opt.time_col.empty() || !opt.power_col.empty() || !opt.power_cols.empty();
  if (opt.format == TraceFormat::nvml ||
      (opt.format == TraceFormat::automatic && first.rfind("#Entity", 0) != 0 &&
       looks_like_nvml_log(text)))
    return parse_table_trace(text, file, opt, true);
  if (opt.format == TraceFormat::csv) return parse_table_trace(text, file, opt, false);
  if (opt.format == TraceFormat::automatic && !first.empty() && first.front() != '#' &&
      opt.columns.empty()) {
    // Not nvidia-smi's (power.draw columns, or a headerless log) nor DCGM's: a plain table.
    const std::string low = tt::lower(first);
    const auto cells = tt::split_csv(first);
    const bool headerless = !cells.empty() && tt::parse_time(cells[0], std::nullopt).has_value();
    const bool smi = low.find("power.draw") != std::string::npos || headerless;
    const bool dcgm = low.find("dcgm_fi_dev_power_usage") != std::string::npos;
    if (mapped || (!smi && !dcgm)) return parse_table_trace(text, file, opt, false);
  }
  const bool dmon = first.rfind("#Entity", 0) == 0;
  const bool dcgm_csv = tt::lower(first).find("dcgm_fi_dev_power_usage") != std::string::npos;
  TraceFormat f = opt.format;
  if (f == TraceFormat::automatic) f = (dmon || dcgm_csv) && opt.columns.empty() ? TraceFormat::dcgm : TraceFormat::nvidia_smi;
  if (f == TraceFormat::nvidia_smi) return parse_nvidia_smi(text, file, opt);
  if (dmon) return parse_dcgm_dmon(text, file, opt);
  if (!dcgm_csv && !first.empty())
    tt::fail(file, 1, "not a DCGM log: neither dcgmi dmon output ('#Entity' header) nor a CSV "
                      "with a DCGM_FI_DEV_POWER_USAGE[_INSTANT] column");
  return parse_dcgm_csv(text, file);
}

ParsedTrace read_trace(const std::filesystem::path& file, const TraceReadOptions& opt) {
  core::verify_listed(file);  // a trace keel wrote is listed with its checksum
  std::ifstream in(file, std::ios::binary);
  if (!in) throw core::InputError("cannot open the trace", core::Location{file.string(), 0, 0, {}});
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse_trace(ss.str(), file.string(), opt);
}

}  // namespace keel::power
