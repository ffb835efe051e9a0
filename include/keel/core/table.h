#pragma once
// Plain-text tables for terminal output: a header row, aligned columns, numbers right-aligned.

#include <string>
#include <vector>

namespace keel::core {

class Table {
 public:
  enum class Align { left, right };

  explicit Table(std::vector<std::string> headers);
  // Column alignment; by default the first column is left-aligned and the rest right-aligned.
  void set_align(std::size_t column, Align align);
  // Throws std::invalid_argument when the row width differs from the header's.
  void add_row(std::vector<std::string> cells);
  std::size_t rows() const { return rows_.size(); }
  std::string render() const;

 private:
  std::vector<std::string> headers_;
  std::vector<Align> align_;
  std::vector<std::vector<std::string>> rows_;
};

// Display width of UTF-8 text (code points; keel prints no wide characters).
std::size_t display_width(const std::string& s);

}  // namespace keel::core
