// Text normalization, the cleaning rules and the deterministic split of the corpus builder.
// Written by hand: these are a few byte loops over ASCII-delimited text, for which no Debian
// library offers the exact rules (ICU would only add a dependency for the quote mapping).
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "keel/core/error.h"
#include "keel/nmt/corpus.h"

namespace keel::nmt {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
bool is_ascii_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Typographic characters mapped to ASCII (UTF-8 byte sequences).
struct Mapping {
  std::string_view from, to;
};
constexpr Mapping kMappings[] = {
    {"\xE2\x80\x99", "'"},   // ’
    {"\xE2\x80\x98", "'"},   // ‘
    {"\xE2\x80\x9A", "'"},   // ‚
    {"\xE2\x80\x9C", "\""},  // “
    {"\xE2\x80\x9D", "\""},  // ”
    {"\xE2\x80\x9E", "\""},  // „
    {"\xC2\xA0", " "},       // no-break space
};

}  // namespace

std::string normalize_text(std::string_view text) {
  std::string mapped;
  mapped.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    bool hit = false;
    if (static_cast<unsigned char>(text[i]) >= 0x80) {
      for (const auto& m : kMappings) {
        if (text.substr(i, m.from.size()) == m.from) {
          mapped += m.to;
          i += m.from.size();
          hit = true;
          break;
        }
      }
    }
    if (!hit) mapped += text[i++];
  }
  std::string out;
  out.reserve(mapped.size());
  bool space = false;
  for (char c : mapped) {
    if (is_space(c)) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::size_t word_count(std::string_view text) {
  std::size_t n = 0;
  bool in_word = false;
  for (char c : text) {
    if (is_space(c))
      in_word = false;
    else if (!in_word)
      in_word = true, ++n;
  }
  return n;
}

std::string dedup_key(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : normalize_text(text)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == ' ') {
      space = !out.empty();
    } else if (is_ascii_letter(c) || is_digit(c) || u >= 0x80) {
      if (space) out += ' ';
      space = false;
      out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
  }
  return out;
}

std::string reject_reason(std::string_view s, const CleanRules& rules) {
  const std::size_t words = word_count(s);
  if (words < rules.min_words) return "too_short";
  if (words > rules.max_words || s.size() > rules.max_chars) return "too_long";
  bool letter = false;
  int quotes = 0, parens = 0;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return "bad_chars";
    if (std::string_view("|_\\<>{}[]=~^#@*`").find(c) != std::string_view::npos) return "bad_chars";
    letter = letter || is_ascii_letter(c) || u >= 0x80;
    quotes += c == '"';
    if (c == '(') ++parens;
    if (c == ')' && --parens < 0) return "unbalanced";
  }
  if (!letter) return "bad_chars";
  if (quotes % 2 != 0 || parens != 0) return "unbalanced";
  // Words written all in capitals (zippy, headlines) read as shouting, not as sentences.
  std::size_t caps = 0;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    int upper = 0, lower = 0;
    for (std::size_t k = i; k < j; ++k) {
      upper += s[k] >= 'A' && s[k] <= 'Z';
      lower += s[k] >= 'a' && s[k] <= 'z';
    }
    caps += upper >= 2 && lower == 0;
    i = j + 1;
  }
  if (2 * caps > words) return "shouting";
  return {};
}

std::uint64_t split_hash(std::string_view key, std::uint64_t seed) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a 64
  for (char c : key) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  // splitmix64 finalizer over (hash, seed): every seed reshuffles every key.
  std::uint64_t z = h ^ (seed * 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::vector<Split> assign_splits(const std::vector<std::string>& keys, std::uint64_t seed,
                                 std::size_t dev, std::size_t test) {
  if (dev >= keys.size() || test >= keys.size() - dev)  // dev + test could wrap
    throw core::InputError(
        fmt::format("--dev {} and --test {} leave no training data from {} sentence pairs", dev,
                    test, keys.size()),
        {}, "lower --dev/--test or raise --limit");
  std::vector<std::uint64_t> hash(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) hash[i] = split_hash(keys[i], seed);
  std::vector<std::size_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  // Ties (equal hashes) are broken by the key, so the order of `keys` never matters.
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return hash[a] != hash[b] ? hash[a] < hash[b] : keys[a] < keys[b];
  });
  std::vector<Split> split(keys.size(), Split::train);
  for (std::size_t r = 0; r < dev + test; ++r) split[order[r]] = r < dev ? Split::dev : Split::test;
  return split;
}

}  // namespace keel::nmt
