#pragma once
// TOML configuration over toml++ with errors a user can act on: every error names file:line:col
// and the key, and keys the program never asked for are rejected (typos must not pass silently).

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/core/error.h"

namespace toml {
inline namespace v3 {
class table;
}
}  // namespace toml

namespace keel::core {

namespace detail {
struct ConfigState;
}

// Allowed interval for a number; open ends exclude the bound.
struct Range {
  double lo = -1e308, hi = 1e308;
  bool lo_open = false, hi_open = false;
  bool contains(double v) const;
  std::string describe() const;  // "> 0", "in [0, 100]", ...
};

// A view of one TOML table. Every accessor records the key as known, for reject_unknown_keys().
class ConfigSection {
 public:
  ConfigSection(std::shared_ptr<detail::ConfigState> state, const toml::table* table,
                std::string path);

  bool has(std::string_view key) const;

  double number(std::string_view key) const;  // required; integers are accepted
  double number_or(std::string_view key, double fallback) const;
  std::optional<double> optional_number(std::string_view key) const;
  // Number that must lie in `range`; required when `fallback` is nullopt.
  double number_in(std::string_view key, std::optional<double> fallback, Range range) const;
  std::optional<double> optional_number_in(std::string_view key, Range range) const;
  std::int64_t integer(std::string_view key) const;
  std::int64_t integer_or(std::string_view key, std::int64_t fallback) const;
  bool boolean_or(std::string_view key, bool fallback) const;
  std::string string(std::string_view key) const;
  std::string string_or(std::string_view key, std::string_view fallback) const;

  // Sub-table `key`, or nullopt when absent.
  std::optional<ConfigSection> table(std::string_view key) const;
  // Array of tables `[[key]]`; empty when absent.
  std::vector<ConfigSection> table_array(std::string_view key) const;

  // Keys of this table in file order (each marked as asked for).
  std::vector<std::string> keys() const;
  // Array `key` of numbers, booleans or strings, each element as a TOML literal ("50", "true",
  // "\"rack\""); throws InputError unless it is such a non-empty array.
  std::vector<std::string> scalar_literals(std::string_view key) const;

  // Throws InputError located at `key` (or at this table when the key is absent) unless ok.
  void check(bool ok, std::string_view key, std::string_view message,
             std::string_view hint = {}) const;
  [[noreturn]] void fail(std::string_view key, std::string_view message,
                         std::string_view hint = {}) const;
  Location location_of(std::string_view key) const;
  // Dotted path of this table, "" for the root.
  const std::string& path() const { return path_; }

 private:
  std::string key_path(std::string_view key) const;
  const void* lookup(std::string_view key) const;  // toml::node*, marked as used

  std::shared_ptr<detail::ConfigState> state_;
  const toml::table* table_;
  std::string path_;
};

// A parsed TOML document.
class ConfigDoc {
 public:
  // Throws InputError for a missing file or a syntax error, located at file:line:col.
  static ConfigDoc load_file(const std::filesystem::path& file);
  static ConfigDoc parse(std::string_view text, std::string source_name);

  ConfigSection root() const;
  // A copy with the value at dotted `key` set to `toml_literal` ("job[1].gpus" indexes an array
  // of tables; missing tables are created). Throws InputError when the path crosses a value or
  // an index past the array's end, or the literal is not TOML.
  ConfigDoc with_value(std::string_view key, std::string_view toml_literal) const;
  // Throws InputError naming the first key (in file order) that no accessor asked for.
  void reject_unknown_keys() const;
  const std::string& source_name() const;

 private:
  explicit ConfigDoc(std::shared_ptr<detail::ConfigState> state);
  std::shared_ptr<detail::ConfigState> state_;
};

// Parses a whole document with `parse(ConfigSection)` and rejects keys it did not ask for.
template <typename Parse>
auto parse_config(const ConfigDoc& doc, Parse&& parse) {
  auto value = parse(doc.root());
  doc.reject_unknown_keys();
  return value;
}
template <typename Parse>
auto load_config(const std::filesystem::path& file, Parse&& parse) {
  return parse_config(ConfigDoc::load_file(file), parse);
}

// Levenshtein distance, used for "did you mean" hints.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace keel::core
