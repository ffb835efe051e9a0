#include "keel/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <array>
#include <cstdlib>

#include "keel/core/error.h"

namespace keel::core {
namespace {
constexpr std::array<std::string_view, 6> kNames = {"trace", "debug", "info", "warn", "error", "off"};
LogLevel g_level = LogLevel::info;

spdlog::level::level_enum to_spdlog(LogLevel l) {
  switch (l) {
    case LogLevel::trace: return spdlog::level::trace;
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
    case LogLevel::off: return spdlog::level::off;
  }
  return spdlog::level::info;
}
}  // namespace

LogLevel parse_log_level(std::string_view text) {
  for (std::size_t i = 0; i < kNames.size(); ++i)
    if (text == kNames[i]) return static_cast<LogLevel>(i);
  throw InputError("unknown log level '" + std::string(text) + "'",
                   Location{{}, 0, 0, "KEEL_LOG_LEVEL / --log-level"},
                   "use one of trace, debug, info, warn, error, off");
}

std::string_view to_string(LogLevel level) { return kNames[static_cast<std::size_t>(level)]; }

void init_logging(std::optional<LogLevel> level) {
  if (level) {
    g_level = *level;
  } else if (const char* env = std::getenv("KEEL_LOG_LEVEL"); env && *env) {
    g_level = parse_log_level(env);
  } else {
    g_level = LogLevel::info;
  }
  static auto logger = [] {
    auto l = spdlog::stderr_color_mt("keel");
    l->set_pattern("[%H:%M:%S.%e] %^%l%$ %v");
    return l;
  }();
  spdlog::set_default_logger(logger);
  spdlog::set_level(to_spdlog(g_level));
}

LogLevel log_level() { return g_level; }

}  // namespace keel::core
