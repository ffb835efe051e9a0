#include "keel/nmt/segment.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <sstream>

#include "keel/core/error.h"

namespace keel::nmt {

namespace {

// Lowercase, without the final period.
constexpr std::string_view kAbbreviations[] = {
    "mr",  "mrs", "ms",     "dr", "prof", "sr",  "jr",  "st", "vs",   "etc", "e.g", "i.e",
    "fig", "vol", "approx", "ca", "cf",   "inc", "ltd", "co", "dept", "mt",  "gen", "no"};

bool is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && is_space(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Does a sentence start at s[i]? Uppercase ASCII, a digit, an opening quote/bracket, or any
// non-ASCII lead byte (accented capitals, ¿, ¡: lowercase non-ASCII starts are rare enough).
bool starts_sentence(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  return std::isupper(c) || std::isdigit(c) || c == '"' || c == '\'' || c == '(' || c == '[' ||
         c >= 0xC0;
}

// The word before the terminator at `end` (exclusive), lowercased.
std::string word_before(std::string_view s, std::size_t end) {
  std::size_t b = end;
  while (b > 0 && !is_space(static_cast<unsigned char>(s[b - 1]))) --b;
  std::string w(s.substr(b, end - b));
  while (!w.empty() && (w.front() == '(' || w.front() == '"' || w.front() == '\'')) w.erase(0, 1);
  for (auto& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return w;
}

bool is_punctuation_piece(const std::string& p) {
  // SentencePiece marks a preceding space with U+2581 ("▁", 3 bytes): "▁," and "," alike.
  std::string_view v = p;
  if (v.starts_with("\xE2\x96\x81")) v.remove_prefix(3);
  return v == "," || v == ";" || v == ":" || v == "." || v == "!" || v == "?" || v == ")" ||
         v == "-" || v == "—";
}

}  // namespace

std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    std::size_t term_len = 0;
    if (c == '.' || c == '!' || c == '?')
      term_len = 1;
    else if (text.substr(i).starts_with("\xE2\x80\xA6"))
      term_len = 3;  // …
    if (!term_len) continue;
    std::size_t j = i + term_len;
    // Repeated terminators ("?!", "...") and closing quotes/brackets stay with the sentence.
    while (j < text.size() &&
           (text[j] == '.' || text[j] == '!' || text[j] == '?' || text[j] == '"' ||
            text[j] == '\'' || text[j] == ')' || text[j] == ']'))
      ++j;
    if (text.substr(j).starts_with("\xE2\x80\x9D")) j += 3;  // ”
    if (j >= text.size() || !is_space(static_cast<unsigned char>(text[j]))) {
      i = j - 1;
      continue;
    }
    std::size_t k = j;
    while (k < text.size() && is_space(static_cast<unsigned char>(text[k]))) ++k;
    if (k >= text.size()) break;  // trailing whitespace: the rest is one sentence
    if (!starts_sentence(text, k)) {
      i = j - 1;
      continue;
    }
    if (c == '.' && term_len == 1 && j == i + 1) {
      const std::string w = word_before(text, i);
      const bool initial = w.size() == 1 && std::isalpha(static_cast<unsigned char>(w[0]));
      if (initial || std::find(std::begin(kAbbreviations), std::end(kAbbreviations), w) !=
                         std::end(kAbbreviations)) {
        i = j - 1;
        continue;
      }
    }
    if (auto s = trim(text.substr(start, j - start)); !s.empty()) out.push_back(std::move(s));
    start = k;
    i = k - 1;
  }
  if (auto s = trim(text.substr(start)); !s.empty()) out.push_back(std::move(s));
  return out;
}

LengthPolicy parse_length_policy(std::string_view name) {
  if (name == "split") return LengthPolicy::split;
  if (name == "truncate") return LengthPolicy::truncate;
  if (name == "refuse") return LengthPolicy::refuse;
  throw core::InputError(fmt::format("unknown length policy '{}'", name),
                         {"", 0, 0, "--long-input"}, "use split, truncate or refuse");
}

std::vector<std::string> cap_length(const std::string& line, std::size_t max_pieces,
                                    LengthPolicy policy, const std::string& where) {
  std::vector<std::string> pieces;
  {
    std::istringstream in(line);
    for (std::string p; in >> p;) pieces.push_back(std::move(p));
  }
  if (max_pieces == 0 || pieces.size() <= max_pieces) return {line};
  if (policy == LengthPolicy::refuse)
    throw core::InputError(
        fmt::format("{}: a sentence of {} pieces exceeds the limit of {}", where, pieces.size(),
                    max_pieces),
        {"", 0, 0, "--max-input-length"},
        "split the line, raise --max-input-length, or use --long-input split|truncate");
  auto join = [&](std::size_t b, std::size_t e) {
    std::string s;
    for (std::size_t i = b; i < e; ++i) s += (i > b ? " " : "") + pieces[i];
    return s;
  };
  if (policy == LengthPolicy::truncate) return {join(0, max_pieces)};
  std::vector<std::string> out;
  for (std::size_t b = 0; b < pieces.size();) {
    std::size_t e = std::min(pieces.size(), b + max_pieces);
    if (e < pieces.size()) {
      // Cut after the last punctuation piece in the second half of the window, if any.
      for (std::size_t k = e; k > b + max_pieces / 2; --k)
        if (is_punctuation_piece(pieces[k - 1])) {
          e = k;
          break;
        }
    }
    out.push_back(join(b, e));
    b = e;
  }
  return out;
}

}  // namespace keel::nmt
