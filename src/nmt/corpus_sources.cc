// Parsers for the three Debian text sources: the Ding dictionary (trans-de-en), fortune(6) files
// and WordNet's data.* files. Written by hand: no Debian library reads these formats.
#include <array>
#include <string>

#include "keel/nmt/corpus.h"

namespace keel::nmt {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

std::vector<std::string> split_on(std::string_view s, std::string_view sep) {
  std::vector<std::string> out;
  for (;;) {
    auto p = s.find(sep);
    out.emplace_back(trim(s.substr(0, p)));
    if (p == std::string_view::npos) break;
    s.remove_prefix(p + sep.size());
  }
  return out;
}

bool starts_with_upper(std::string_view s) {
  while (!s.empty() && (s.front() == '"' || s.front() == '\'')) s.remove_prefix(1);
  if (s.empty()) return false;
  if (s[0] >= 'A' && s[0] <= 'Z') return true;
  // Ä Ö Ü in UTF-8 (German nouns and sentences may start with them).
  return s.size() >= 2 && s[0] == '\xC3' && (s[1] == '\x84' || s[1] == '\x96' || s[1] == '\x9C');
}

bool ends_sentence(std::string_view s) {
  while (!s.empty() && (s.back() == '"' || s.back() == '\'')) s.remove_suffix(1);
  return !s.empty() && (s.back() == '.' || s.back() == '!' || s.back() == '?');
}

// Removes bracketed groups of the given kinds, innermost first; unbalanced brackets are left
// for the caller's checks to reject.
std::string strip_groups(std::string_view text, std::string_view open, std::string_view close) {
  std::string s(text);
  for (bool changed = true; changed;) {
    changed = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
      const auto kind = close.find(s[i]);
      if (kind == std::string_view::npos) continue;
      const auto start = s.rfind(open[kind], i);
      if (start == std::string::npos) continue;
      // Only innermost: no other opening bracket of any kind between start and i.
      if (s.substr(start + 1, i - start - 1).find_first_of(open) != std::string::npos) continue;
      s.erase(start, i - start + 1);
      changed = true;
      break;
    }
  }
  return s;
}

// "word ." -> "word." after annotations between them were removed.
std::string tidy_punctuation(const std::string& s) {
  std::string out;
  for (char c : s) {
    if ((c == ',' || c == '.' || c == '!' || c == '?' || c == ';' || c == ':') && !out.empty() &&
        out.back() == ' ')
      out.pop_back();
    out += c;
  }
  return out;
}

}  // namespace

// ---- Ding ----

DingEntry parse_ding_line(std::string_view line) {
  DingEntry e;
  line = trim(line);
  if (line.empty() || line.front() == '#') return e;
  const auto sep = line.find(" :: ");
  if (sep == std::string_view::npos) return e;
  auto de = split_on(line.substr(0, sep), "|");
  auto en = split_on(line.substr(sep + 4), "|");
  if (de.size() != en.size()) {
    e.aligned = false;
    return e;
  }
  for (std::size_t i = 0; i < de.size(); ++i) e.senses.push_back({de[i], en[i]});
  return e;
}

std::vector<std::string> split_alternatives(std::string_view sense) {
  std::vector<std::string> out;
  int depth = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= sense.size(); ++i) {
    const char c = i < sense.size() ? sense[i] : ';';
    if (c == '(' || c == '[' || c == '{' || c == '<') ++depth;
    if ((c == ')' || c == ']' || c == '}' || c == '>') && depth > 0) --depth;
    if (c == ';' && (depth == 0 || i == sense.size())) {
      auto alt = trim(sense.substr(start, i - start));
      if (!alt.empty()) out.emplace_back(alt);
      start = i + 1;
    }
  }
  return out;
}

std::string strip_ding_annotations(std::string_view text) {
  return tidy_punctuation(normalize_text(strip_groups(text, "{[<(", "}]>)")));
}

bool ding_sentence_like(std::string_view s) {
  if (s.find_first_of("{}[]<>()/~") != std::string_view::npos) return false;
  if (s.find("...") != std::string_view::npos || s.find("\xE2\x80\xA6") != std::string_view::npos)
    return false;
  if (!starts_with_upper(s) || !ends_sentence(s) || word_count(s) < 3) return false;
  // Dictionary placeholders ("jdm. etw. geben", "to give sb. sth.") mark phrases, not sentences.
  static constexpr std::array<std::string_view, 10> kPlaceholders = {
      "jd.", "jdn.", "jdm.", "jds.", "etw.", "sb.", "sth.", "sb's", "sth's", "sb./sth."};
  for (std::size_t i = 0; i < s.size();) {
    auto j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    auto word = s.substr(i, j - i);
    while (!word.empty() && (word.front() == '"' || word.front() == '\'')) word.remove_prefix(1);
    for (auto p : kPlaceholders)
      if (word == p || (word.size() > p.size() && word.substr(0, p.size()) == p &&
                        (word[p.size()] == ',' || word[p.size()] == '?')))
        return false;
    i = j + 1;
  }
  return true;
}

std::vector<DingSense> ding_sentence_pairs(std::string_view line) {
  std::vector<DingSense> out;
  for (const auto& sense : parse_ding_line(line).senses) {
    std::vector<std::string> de, en;
    for (const auto& a : split_alternatives(sense.de))
      if (auto c = strip_ding_annotations(a); ding_sentence_like(c)) de.push_back(std::move(c));
    for (const auto& a : split_alternatives(sense.en))
      if (auto c = strip_ding_annotations(a); ding_sentence_like(c)) en.push_back(std::move(c));
    if (de.empty() || en.empty()) continue;
    for (std::size_t i = 0; i < de.size(); ++i) out.push_back({de[i], en[i % en.size()]});
  }
  return out;
}

// ---- fortunes ----

std::vector<std::string> split_fortunes(std::string_view text) {
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < text.size();) {
    auto j = text.find('\n', i);
    if (j == std::string_view::npos) j = text.size();
    auto line = text.substr(i, j - i);
    if (trim(line) == "%") {
      if (!trim(cur).empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.append(line);
      cur += '\n';
    }
    i = j + 1;
  }
  if (!trim(cur).empty()) out.push_back(cur);
  return out;
}

namespace {

// "Mr. Smith", "e.g. Paris", "J. R. R. Tolkien": a period after these ends no sentence.
bool is_abbreviation(std::string_view word) {
  while (!word.empty() && (word.front() == '"' || word.front() == '\'' || word.front() == '('))
    word.remove_prefix(1);
  if (word.size() == 1) return true;  // an initial
  static constexpr std::array<std::string_view, 22> kAbbrev = {
      "Mr",   "Mrs", "Ms",  "Dr", "St", "Jr",  "Sr",  "Prof", "Rev", "Gen", "Col",
      "Capt", "Lt",  "Sgt", "Mt", "vs", "e.g", "i.e", "U.S",  "No",  "Inc", "Ltd"};
  for (auto a : kAbbrev)
    if (word == a) return true;
  return false;
}

bool is_closer(char c) {
  return c == '"' || c == '\'' || c == ')';
}

}  // namespace

std::vector<std::string> fortune_sentences(std::string_view fortune) {
  // Overstrike: "_\bx" or "x\bx" prints one character.
  std::string plain;
  for (char c : fortune) {
    if (c == '\b') {
      if (!plain.empty()) plain.pop_back();
    } else {
      plain += c;
    }
  }
  // Attribution: an indented "-- Author" line (or a last line starting "--") and what follows.
  std::string joined;
  std::vector<std::string_view> lines;
  for (std::size_t i = 0; i < plain.size();) {
    auto j = plain.find('\n', i);
    if (j == std::string::npos) j = plain.size();
    lines.push_back(std::string_view(plain).substr(i, j - i));
    i = j + 1;
  }
  while (!lines.empty() && trim(lines.back()).empty()) lines.pop_back();
  for (std::size_t k = 0; k < lines.size(); ++k) {
    auto t = trim(lines[k]);
    const bool dash = t.substr(0, 2) == "--" || t.substr(0, 3) == "\xE2\x80\x94";
    const bool indented = !lines[k].empty() && (lines[k][0] == ' ' || lines[k][0] == '\t');
    if (dash && (indented || k + 1 == lines.size())) break;
    joined.append(lines[k]);
    joined += ' ';
  }
  std::string s = normalize_text(joined);
  // TeX-style quotes: ``x'' -> "x", `x' -> 'x'.
  std::string q;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if ((s[i] == '`' || s[i] == '\'') && i + 1 < s.size() && s[i + 1] == s[i]) {
      q += '"';
      ++i;
    } else {
      q += s[i] == '`' ? '\'' : s[i];
    }
  }
  s = std::move(q);

  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '.' && s[i] != '!' && s[i] != '?') continue;
    std::size_t j = i;
    while (j + 1 < s.size() && (s[j + 1] == '.' || s[j + 1] == '!' || s[j + 1] == '?')) ++j;
    while (j + 1 < s.size() && is_closer(s[j + 1])) ++j;
    const bool at_end = j + 1 == s.size();
    if (!at_end && !(s[j + 1] == ' ' && starts_with_upper(std::string_view(s).substr(j + 2)))) {
      i = j;
      continue;
    }
    if (s[i] == '.' && j == i) {
      const auto w = s.rfind(' ', i);
      const auto ws = w == std::string::npos ? 0 : w + 1;
      if (is_abbreviation(std::string_view(s).substr(ws, i - ws))) continue;
    }
    out.emplace_back(trim(std::string_view(s).substr(start, j + 1 - start)));
    start = j + 1;
    i = j;
  }
  if (auto rest = trim(std::string_view(s).substr(std::min(start, s.size()))); !rest.empty())
    out.emplace_back(rest);
  return out;
}

// ---- WordNet ----

WordnetGloss parse_wordnet_line(std::string_view line) {
  WordnetGloss g;
  if (line.substr(0, 2) == "  ") return g;  // license header
  const auto bar = line.find(" | ");
  if (bar == std::string_view::npos) return g;
  const auto gloss = trim(line.substr(bar + 3));
  // Parts split on ';' outside double quotes: definitions, then "quoted examples".
  std::vector<std::string_view> parts;
  bool quoted = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= gloss.size(); ++i) {
    if (i < gloss.size() && gloss[i] == '"') quoted = !quoted;
    if (i == gloss.size() || (gloss[i] == ';' && !quoted)) {
      if (auto p = trim(gloss.substr(start, i - start)); !p.empty()) parts.push_back(p);
      start = i + 1;
    }
  }
  for (auto p : parts) {
    if (p.front() == '"') {
      // "example" possibly followed by an attribution (- Shakespeare): keep the quote only.
      const auto end = p.find('"', 1);
      auto ex = end == std::string_view::npos ? p.substr(1) : p.substr(1, end - 1);
      if (auto t = normalize_text(ex); !t.empty()) g.examples.push_back(std::move(t));
      continue;
    }
    std::string d = tidy_punctuation(normalize_text(strip_groups(p, "(", ")")));
    // A leading domain label ("printing: cancel ...") is not part of the definition.
    if (auto colon = d.find(": "); colon != std::string::npos && colon < 20 &&
                                   d.substr(0, colon).find(' ') == std::string::npos)
      d = d.substr(colon + 2);
    if (!d.empty()) g.definitions.push_back(std::move(d));
  }
  return g;
}

}  // namespace keel::nmt
