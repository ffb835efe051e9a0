#include "keel/core/table.h"

#include <algorithm>
#include <stdexcept>

namespace keel::core {

std::size_t display_width(const std::string& s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

Table::Table(std::vector<std::string> headers)
    : headers_(std::move(headers)), align_(headers_.size(), Align::right) {
  if (!align_.empty()) align_[0] = Align::left;
}

void Table::set_align(std::size_t column, Align align) { align_.at(column) = align; }

void Table::add_row(std::vector<std::string> cells) {
  if (cells.size() != headers_.size())
    throw std::invalid_argument("table row has " + std::to_string(cells.size()) +
                                " cells, header has " + std::to_string(headers_.size()));
  rows_.push_back(std::move(cells));
}

std::string Table::render() const {
  std::vector<std::size_t> w(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) {
    w[c] = display_width(headers_[c]);
    for (const auto& r : rows_) w[c] = std::max(w[c], display_width(r[c]));
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      std::string pad(w[c] - display_width(cells[c]), ' ');
      if (c) out += "  ";
      out += align_[c] == Align::left ? cells[c] + (c + 1 < cells.size() ? pad : "") : pad + cells[c];
    }
    return out + "\n";
  };
  std::string out = line(headers_);
  std::string rule;
  for (std::size_t c = 0; c < w.size(); ++c) rule += (c ? "  " : "") + std::string(w[c], '-');
  out += rule + "\n";
  for (const auto& r : rows_) out += line(r);
  return out;
}

}  // namespace keel::core
