#pragma once
// Logging over spdlog, to stderr, with keel's levels. The level comes from --log-level, else from
// the KEEL_LOG_LEVEL environment variable, else "info".

#include <spdlog/spdlog.h>

#include <optional>
#include <string_view>

namespace keel::core {

enum class LogLevel { trace, debug, info, warn, error, off };

// Parses "trace|debug|info|warn|error|off"; throws InputError for anything else.
LogLevel parse_log_level(std::string_view text);
std::string_view to_string(LogLevel level);

// Sets up the stderr logger. `level` overrides KEEL_LOG_LEVEL when given.
void init_logging(std::optional<LogLevel> level = std::nullopt);
LogLevel log_level();

template <typename... Args>
void log_debug(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::debug(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void log_info(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::info(fmt, std::forward<Args>(args)...);
}
template <typename... Args>
void log_warn(spdlog::format_string_t<Args...> fmt, Args&&... args) {
  spdlog::warn(fmt, std::forward<Args>(args)...);
}

}  // namespace keel::core
