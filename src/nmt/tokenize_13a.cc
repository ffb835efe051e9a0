// sacreBLEU's 13a tokenizer (mteval-v13a.pl as WMT runs it), written by hand: no C++ library
// implements it. tokenize_13a() is one pass per rule over bytes; tokenize_13a_reference() is the
// literal std::regex transcription of sacreBLEU's rules that tests compare it with.
//
// Working on bytes is exact although sacreBLEU works on code points: every character the rules
// look for is ASCII, and in UTF-8 no byte of a multi-byte character is ASCII, so a class like
// [^0-9] matching one byte of such a character leads to the same matches and the same output.
#include <regex>
#include <string>

#include "keel/nmt/bleu.h"

namespace keel::nmt {

namespace {

// Python's str.replace(): every non-overlapping occurrence, left to right, in one pass.
void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (s.find(from) == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out.append(to);
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

// The language-independent part, shared by both implementations: sequential replacements, so
// "&amp;lt;" becomes "<" (the &amp; pass makes "&lt;", the next pass unescapes it) as in sacreBLEU.
std::string unescape_13a(std::string_view line) {
  std::string s(line);
  replace_all(s, "<skipped>", "");
  replace_all(s, "-\n", "");
  replace_all(s, "\n", " ");
  if (s.find('&') != std::string::npos) {
    replace_all(s, "&quot;", "\"");
    replace_all(s, "&amp;", "&");
    replace_all(s, "&lt;", "<");
    replace_all(s, "&gt;", ">");
  }
  return " " + s + " ";
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_period_comma(char c) {
  return c == '.' || c == ',';
}

// Rule 1's class [{-~[-` -&(-+:-@/]: ASCII punctuation and symbols except ' , - .
constexpr bool in_rule1(unsigned char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') ||
         (c >= '(' && c <= '+') || (c >= ':' && c <= '@') || c == '/';
}

std::string join_tokens(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (auto t : split_whitespace(s)) {
    if (!out.empty()) out += ' ';
    out += t;
  }
  return out;
}

}  // namespace

std::string tokenize_13a(std::string_view line) {
  const std::string in = unescape_13a(line);
  std::string a, b;
  a.reserve(in.size() * 2);
  for (char c : in) {  // ([{-~[-` -&(-+:-@/]) -> " \1 "
    if (in_rule1(static_cast<unsigned char>(c))) {
      a += ' ';
      a += c;
      a += ' ';
    } else {
      a += c;
    }
  }
  // ([^0-9])([.,]) -> "\1 \2 "
  b.reserve(a.size() * 2);
  for (std::size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && !is_digit(a[i]) && is_period_comma(a[i + 1])) {
      b += a[i];
      b += ' ';
      b += a[i + 1];
      b += ' ';
      i += 2;
    } else {
      b += a[i++];
    }
  }
  // ([.,])([^0-9]) -> " \1 \2"
  a.clear();
  for (std::size_t i = 0; i < b.size();) {
    if (i + 1 < b.size() && is_period_comma(b[i]) && !is_digit(b[i + 1])) {
      a += ' ';
      a += b[i];
      a += ' ';
      a += b[i + 1];
      i += 2;
    } else {
      a += b[i++];
    }
  }
  // ([0-9])(-) -> "\1 \2 "
  b.clear();
  for (std::size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && is_digit(a[i]) && a[i + 1] == '-') {
      b += a[i];
      b += " - ";
      i += 2;
    } else {
      b += a[i++];
    }
  }
  return join_tokens(b);
}

std::string tokenize_13a_reference(std::string_view line) {
  // Compiled once (std::regex objects are safe to use from several threads once built).
  static const std::regex r1(R"(([{-~[-` -&(-+:-@/]))");
  static const std::regex r2(R"(([^0-9])([.,]))");
  static const std::regex r3(R"(([.,])([^0-9]))");
  static const std::regex r4(R"(([0-9])(-))");
  std::string s = unescape_13a(line);
  s = std::regex_replace(s, r1, " $1 ");
  s = std::regex_replace(s, r2, "$1 $2 ");
  s = std::regex_replace(s, r3, " $1 $2");
  s = std::regex_replace(s, r4, "$1 $2 ");
  return join_tokens(s);
}

}  // namespace keel::nmt
