#pragma once
// Private: the CSV reading shared by the BBBC021 tables and plate manifests. Hand-written (no
// Debian package parses RFC 4180 with line numbers for error messages): quoted fields with ""
// escapes, LF/CRLF/CR record ends, a UTF-8 BOM skipped.

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace keel::mcnn::csv {

struct Record {
  std::vector<std::string> fields;
  int line = 0;  // 1-based line where the record starts
};

// Records of `text`; blank lines are dropped. Throws InputError naming `name` for an unterminated
// quoted field.
std::vector<Record> parse(const std::string& text, const std::string& name);
// The whole file; InputError naming it (with `hint`) when it cannot be read.
std::string read_text(const std::filesystem::path& file, const std::string& hint);

// Header names -> column index; missing names are InputErrors at file:1.
class Columns {
 public:
  Columns(const Record& header, std::string file);
  std::size_t operator[](const std::string& name) const;
  std::optional<std::size_t> find(const std::string& name) const;

 private:
  std::map<std::string, std::size_t> index_;
  std::string file_;
};

// Field `col` of `r`; InputError naming file:line and column `name` when the row is short.
const std::string& get(const Record& r, std::size_t col, const std::string& file,
                       const std::string& name);
double parse_number(const std::string& s, const std::string& file, int line,
                    const std::string& name);
int parse_int(const std::string& s, const std::string& file, int line, const std::string& name);
// A field as the Broad writes strings: double-quoted, quotes doubled.
std::string quoted(const std::string& s);

}  // namespace keel::mcnn::csv
