#pragma once
// BLEU exactly as sacreBLEU 2.x defines it (tokenizers, clipped counts over several references,
// closest reference length, brevity penalty, smoothings, effective order, signature), so a score
// printed by keel can be compared with one printed by `sacrebleu`. docs/nmt.md ("BLEU") lists
// what is matched and how it was checked.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace keel::nmt {

// 13a: mteval-v13a (WMT's default); none: split on whitespace only; intl: mteval-v14's Unicode
// punctuation/symbol rules; char_: every non-space character is a token.
enum class BleuTokenizer { none, t13a, intl, char_ };
enum class BleuSmooth { none, floor, add_k, exp };

struct BleuOptions {
  BleuTokenizer tokenize = BleuTokenizer::t13a;
  bool lowercase = false;  // Unicode lowercasing (Python's str.lower()) before tokenizing
  BleuSmooth smooth = BleuSmooth::exp;
  double smooth_value = -1;  // < 0: sacreBLEU's default (floor 0.1, add-k 1); unused by exp/none
  int max_ngram_order = 4;
  bool effective_order = false;  // leave out orders with no hypothesis n-grams (sentence level)
};

struct BleuScore {
  double score = 0, bp = 0, ratio = 0;  // score in [0, 100]; ratio = sys_len / ref_len (0 if none)
  // Per order n = 1..max: clipped matches and hypothesis n-grams. Raw counts: sacreBLEU's add-k
  // reports them with k added for n >= 2; the precisions and the score are the same.
  std::vector<std::int64_t> counts, totals;
  std::vector<double> precisions;  // percent
  std::int64_t sys_len = 0, ref_len = 0;
  int nrefs = 0;  // non-empty references per segment; -1 when it varies ("var" in the signature)
};

// Options of sentence_bleu(): sacreBLEU's defaults with effective order on, as it advises (and its
// compat sentence_bleu() does) for single sentences.
inline BleuOptions sentence_bleu_options() {
  BleuOptions o;
  o.effective_order = true;
  return o;
}

// refs[k] is the k-th reference stream, refs[k][i] the reference of segment i (sacreBLEU's order).
// Empty references are skipped per segment (fewer references for it, as in sacreBLEU).
// Throws core::InputError when the streams differ in length, there are no segments or reference
// streams, a segment has no non-empty reference, a line is not valid UTF-8 or an option is out of
// range.
BleuScore corpus_bleu(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs,
                      const BleuOptions& options = {});
BleuScore sentence_bleu(const std::string& hyp, const std::vector<std::string>& refs,
                        BleuOptions options = sentence_bleu_options());

// sacreBLEU's compute_bleu(): the score from summed statistics (counts/totals of length
// max_ngram_order).
BleuScore bleu_from_stats(std::vector<std::int64_t> counts, std::vector<std::int64_t> totals,
                          std::int64_t sys_len, std::int64_t ref_len, const BleuOptions& options);

// "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:keel-0.1.0" (sacreBLEU's field order;
// nrefs -1 prints "var"; floor/add-k print their value as "floor[0.10]").
std::string bleu_signature(const BleuOptions& options, int nrefs);
// sacreBLEU's text line: "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17
// ref_len = 18)".
std::string bleu_format(const BleuScore& score);

const char* to_string(BleuTokenizer t);  // "13a", "none", "intl", "char"
const char* to_string(BleuSmooth s);     // "exp", "floor", "add-k", "none"
// Parse sacreBLEU's names; throw core::InputError on others.
BleuTokenizer parse_bleu_tokenizer(std::string_view name);
BleuSmooth parse_bleu_smooth(std::string_view name);

// --- Text processing, exposed for tests and other metrics. Inputs are UTF-8. ---

// mteval-v13a as sacreBLEU runs it: drop "<skipped>", join "-\n", newlines to spaces, unescape
// &quot; &amp; &lt; &gt; (in that order, one pass each), split off punctuation and symbols,
// periods and commas unless inside a number, dashes after digits; tokens joined by one space.
std::string tokenize_13a(std::string_view line);
// The same rules as a plain transcription of sacreBLEU's regular expressions into std::regex:
// slow, kept as the reference the fast tokenizer is tested against.
std::string tokenize_13a_reference(std::string_view line);
// mteval-v14 "international": punctuation (\p{P}) split off unless between digits, symbols (\p{S})
// always; ICU supplies the Unicode categories.
std::string tokenize_intl(std::string_view line);
// Every non-whitespace code point a token.
std::string tokenize_char(std::string_view line);
// Lowercase (optional), strip trailing whitespace, tokenize, split: the tokens BLEU counts.
std::vector<std::string> bleu_tokens(std::string_view line, const BleuOptions& options);

// Python's str.split() / str.rstrip(): whitespace is what Python's str.isspace() accepts (ASCII
// \t\n\v\f\r, \x1c-\x1f, space, U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028, U+2029, U+202F,
// U+205F, U+3000).
std::vector<std::string_view> split_whitespace(std::string_view s);
std::string_view rstrip_whitespace(std::string_view s);
// Python's str.lower() (full Unicode case mapping, final sigma) through ICU's root locale.
std::string lowercase_utf8(std::string_view s);
// Byte offset of the first ill-formed UTF-8 sequence (overlong forms, surrogates and code points
// above U+10FFFF included, as Python's decoder rejects them), or npos when `s` is valid.
std::size_t find_invalid_utf8(std::string_view s);

}  // namespace keel::nmt
