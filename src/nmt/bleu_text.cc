// Unicode text handling for BLEU: UTF-8 decoding and validation, Python's whitespace, lowercasing
// and the intl / char tokenizers. ICU supplies the Unicode data (categories, case mappings); what
// is written here is only sacreBLEU's use of it, which no library reproduces.
#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <string>
#include <vector>

#include "keel/nmt/bleu.h"

namespace keel::nmt {

namespace {

// Python's str.isspace(): bidirectional class WS, B or S, or general category Zs. A fixed set,
// written out so that the split does not depend on the ICU version's bidi data.
bool is_py_space(UChar32 c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20);
  return c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
         c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// Next code point of `s` at byte `i` (advanced); an ill-formed byte yields -1 and is skipped as a
// unit of its own (only reachable when callers pass invalid text; corpus_bleu rejects it first).
UChar32 next_cp(std::string_view s, std::size_t& i) {
  UChar32 c;
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  auto len = static_cast<std::int32_t>(s.size());
  auto j = static_cast<std::int32_t>(i);
  U8_NEXT(p, j, len, c);
  i = static_cast<std::size_t>(j);
  return c;
}

std::vector<UChar32> decode(std::string_view s) {
  std::vector<UChar32> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) out.push_back(next_cp(s, i));
  return out;
}

void append_cp(std::string& out, UChar32 c) {
  if (c < 0) c = 0xfffd;
  char buf[U8_MAX_LENGTH];
  std::int32_t n = 0;
  U8_APPEND_UNSAFE(buf, n, c);
  out.append(buf, static_cast<std::size_t>(n));
}

bool is_cat(UChar32 c, std::uint32_t mask) {
  return c >= 0 && (U_GET_GC_MASK(c) & mask) != 0;
}
bool is_punct(UChar32 c) {
  return is_cat(c, U_GC_P_MASK);
}
bool is_symbol(UChar32 c) {
  return is_cat(c, U_GC_S_MASK);
}
bool is_number(UChar32 c) {
  return is_cat(c, U_GC_N_MASK);
}

// re.sub(r'(A)(B)', repl, s) for single-character classes A, B: scan left to right, replace each
// non-overlapping match and resume after it. `before`/`between`/`after` are what the replacement
// puts around the two captured characters (a space or nothing).
template <class A, class B>
std::vector<UChar32> sub_pair(const std::vector<UChar32>& s, A first, B second, bool before,
                              bool between, bool after) {
  std::vector<UChar32> out;
  out.reserve(s.size() + s.size() / 2);
  for (std::size_t i = 0; i < s.size();) {
    if (i + 1 < s.size() && first(s[i]) && second(s[i + 1])) {
      if (before) out.push_back(' ');
      out.push_back(s[i]);
      if (between) out.push_back(' ');
      out.push_back(s[i + 1]);
      if (after) out.push_back(' ');
      i += 2;
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

std::string join_tokens(std::string_view s) {
  std::string out;
  for (auto t : split_whitespace(s)) {
    if (!out.empty()) out += ' ';
    out += t;
  }
  return out;
}

}  // namespace

std::size_t find_invalid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t at = i;
    if (next_cp(s, i) < 0) return at;
  }
  return std::string_view::npos;
}

std::vector<std::string_view> split_whitespace(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t start = std::string_view::npos;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t at = i;
    // ASCII fast path: most text is ASCII and multi-byte sequences never contain ASCII bytes.
    const bool space =
        static_cast<unsigned char>(s[i]) < 0x80 ? is_py_space(s[i++]) : is_py_space(next_cp(s, i));
    if (space) {
      if (start != std::string_view::npos) out.push_back(s.substr(start, at - start));
      start = std::string_view::npos;
    } else if (start == std::string_view::npos) {
      start = at;
    }
  }
  if (start != std::string_view::npos) out.push_back(s.substr(start));
  return out;
}

std::string_view rstrip_whitespace(std::string_view s) {
  std::size_t end = 0;  // one past the last non-space code point
  for (std::size_t i = 0; i < s.size();) {
    if (!is_py_space(next_cp(s, i))) end = i;
  }
  return s.substr(0, end);
}

std::string lowercase_utf8(std::string_view s) {
  bool ascii = true;
  for (char c : s) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  std::string out;
  if (ascii) {  // the common case, without the round trip through UTF-16
    out.assign(s);
    for (char& c : out)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
  }
  auto u =
      icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<std::int32_t>(s.size())));
  u.toLower(icu::Locale::getRoot());
  u.toUTF8String(out);
  return out;
}

std::string tokenize_intl(std::string_view line) {
  auto s = decode(line);
  auto not_number = [](UChar32 c) { return !is_number(c); };
  s = sub_pair(s, not_number, is_punct, false, true, true);  // (\P{N})(\p{P}) -> "\1 \2 "
  s = sub_pair(s, is_punct, not_number, true, true, false);  // (\p{P})(\P{N}) -> " \1 \2"
  std::string spaced;
  spaced.reserve(s.size() * 2);
  for (UChar32 c : s) {  // (\p{S}) -> " \1 "
    if (is_symbol(c)) {
      spaced += ' ';
      append_cp(spaced, c);
      spaced += ' ';
    } else {
      append_cp(spaced, c);
    }
  }
  return join_tokens(spaced);
}

std::string tokenize_char(std::string_view line) {
  std::string out;
  for (std::size_t i = 0; i < line.size();) {
    const std::size_t at = i;
    if (is_py_space(next_cp(line, i))) continue;
    if (!out.empty()) out += ' ';
    out.append(line.substr(at, i - at));
  }
  return out;
}

}  // namespace keel::nmt
