#include "csv.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "keel/core/error.h"

namespace keel::mcnn::csv {

// RFC-4180-style records: quoted fields with "" escapes; LF, CRLF and CR all end a record.
std::vector<Record> parse(const std::string& text, const std::string& name) {
  std::vector<Record> out;
  Record rec;
  std::string field;
  bool quoted = false, in_quotes = false, any = false;
  int line = 1;
  rec.line = 1;
  std::size_t i = text.starts_with("\xEF\xBB\xBF") ? 3 : 0;
  auto end_field = [&] {
    rec.fields.push_back(field);
    field.clear();
    quoted = false;
  };
  auto end_record = [&] {
    end_field();
    if (!(rec.fields.size() == 1 && rec.fields[0].empty())) out.push_back(rec);
    rec = Record{};
    any = false;
  };
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (!any) rec.line = line;
    any = true;
    if (c == '"' && field.empty() && !quoted) {
      in_quotes = quoted = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_record();
      ++line;
    } else {
      field += c;
    }
  }
  if (in_quotes) throw core::InputError("unterminated quoted field", {name, line, 0, {}});
  if (any) end_record();
  return out;
}

std::string read_text(const std::filesystem::path& file, const std::string& hint) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw core::InputError("cannot read file", {file.string(), 0, 0, {}}, hint);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Columns::Columns(const Record& header, std::string file) : file_(std::move(file)) {
  for (std::size_t i = 0; i < header.fields.size(); ++i) index_[header.fields[i]] = i;
}

std::size_t Columns::operator[](const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw core::InputError("missing column '" + name + "'", {file_, 1, 0, {}});
  return it->second;
}

std::optional<std::size_t> Columns::find(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

const std::string& get(const Record& r, std::size_t col, const std::string& file,
                       const std::string& name) {
  if (col >= r.fields.size())
    throw core::InputError(fmt::format("row has {} fields, column '{}' is missing",
                                       r.fields.size(), name),
                           {file, r.line, 0, {}});
  return r.fields[col];
}

double parse_number(const std::string& s, const std::string& file, int line,
                    const std::string& name) {
  const char* b = s.c_str();
  char* e = nullptr;
  double v = std::strtod(b, &e);
  if (s.empty() || e != b + s.size() || !std::isfinite(v))
    throw core::InputError(fmt::format("column '{}': '{}' is not a number", name, s),
                           {file, line, 0, {}});
  return v;
}

int parse_int(const std::string& s, const std::string& file, int line, const std::string& name) {
  double v = parse_number(s, file, line, name);
  if (v != std::floor(v) || v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
    throw core::InputError(fmt::format("column '{}': '{}' is not an integer of a usual size", name, s),
                           {file, line, 0, {}});
  return static_cast<int>(v);
}

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace keel::mcnn::csv
