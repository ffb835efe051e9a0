#pragma once
// A parallel corpus from text Debian ships (`keel nmt corpus`):
//  - en-es: English sentences from `fortunes` and `wordnet-base` (glosses and their example
//    phrases), translated to Spanish by Apertium (`apertium eng-spa`);
//  - de-en: the sentence-like senses of the Ding German-English dictionary (`trans-de-en`).
// Cleaned, deduplicated on a normalized source, split train/dev/test by a seeded hash, and
// tokenized by one joint SentencePiece model (sentencepiece.h).

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace keel::nmt {

// ---- text cleaning (corpus_text.cc) ----

// Whitespace runs become one space, ends trimmed; typographic quotes and apostrophes become
// ASCII ones (’‘ -> ', “”„ -> "), so both sides of a pair spell them one way.
std::string normalize_text(std::string_view text);
// Words separated by spaces.
std::size_t word_count(std::string_view text);
// The key deduplication and the split hash use: normalized, ASCII letters lowercased, every
// character that is not a letter or digit dropped (so "Are you a turtle?" == "are you a turtle").
std::string dedup_key(std::string_view text);

// ---- Ding dictionary, `trans-de-en` (corpus_sources.cc) ----

struct DingSense {
  std::string de, en;
};
// One dictionary line "DE :: EN": senses split on " | ", aligned one-to-one by position.
// `aligned` is false (and `senses` empty) when the sides hold different numbers of senses;
// comment lines ('#') and lines without " :: " give no senses and aligned = true.
struct DingEntry {
  std::vector<DingSense> senses;
  bool aligned = true;
};
DingEntry parse_ding_line(std::string_view line);
// A sense's alternatives, split on ';' outside brackets, each trimmed.
std::vector<std::string> split_alternatives(std::string_view sense);
// Drops Ding's annotations: {f} {pl} {vt} (grammar), [Br.] [ugs.] [coll.] (usage), <...>
// (spelling variants and search keys) and (...) (optional words and explanations); then
// normalize_text and no space before , . ! ? ; :
std::string strip_ding_annotations(std::string_view text);
// A cleaned alternative that reads as a sentence: starts with an upper-case letter (after an
// opening quote), ends with . ! or ? (before a closing quote), has >= 3 words, and holds no
// placeholder (jdn. etw. sb. sth. ...), "/" or "..." shorthand and no leftover bracket.
bool ding_sentence_like(std::string_view text);
// Sentence pairs of one line: for each aligned sense, every sentence-like German alternative
// paired with the English one at the same position modulo their count (alternatives are
// synonyms, not aligned, so any English one is a translation of any German one).
std::vector<DingSense> ding_sentence_pairs(std::string_view line);

// ---- fortunes (corpus_sources.cc) ----

// The fortunes of one fortune(6) file (separated by lines holding only '%').
std::vector<std::string> split_fortunes(std::string_view file_text);
// Sentences of one fortune: overstrike (x\bx) removed, the attribution ("-- Author") and
// everything after it dropped, lines joined, split after . ! ? (not after Mr. Dr. e.g. or an
// initial) when the next word starts upper-case; each sentence normalized. Filtering by length
// and characters is the caller's (clean_sentence).
std::vector<std::string> fortune_sentences(std::string_view fortune);

// ---- WordNet, `wordnet-base` data.* files (corpus_sources.cc) ----

struct WordnetGloss {
  std::vector<std::string> definitions;  // the gloss split on ';', parentheses and labels dropped
  std::vector<std::string> examples;     // the quoted example phrases
};
// One synset line of data.noun/verb/adj/adv ("offset lex ... | gloss"); license header lines
// (two leading spaces) give an empty gloss.
WordnetGloss parse_wordnet_line(std::string_view line);

// ---- cleaning rules shared by the sources (corpus_text.cc) ----

struct CleanRules {
  std::size_t min_words = 4, max_words = 40;
  std::size_t max_chars = 300;
};
// Why a sentence is dropped, or "" when it is kept. Reasons: "too_short", "too_long",
// "bad_chars" (control characters, markup or art: | _ \ < > { } [ ] = ~ ^ # @ * `, or no letter),
// "unbalanced" (quotes or parentheses), "shouting" (more than half the words all upper-case).
std::string reject_reason(std::string_view sentence, const CleanRules& rules);

// ---- split (corpus_text.cc) ----

enum class Split : std::uint8_t { train, dev, test };
// Deterministic split of distinct keys: each key hashed with the seed (64-bit FNV-1a, then
// splitmix64), the `dev` smallest hashes go to dev, the next `test` to test, the rest to train.
// The result depends on the set of keys and the seed only (not on their order). Throws
// core::InputError when dev + test leave no training data.
std::vector<Split> assign_splits(const std::vector<std::string>& keys, std::uint64_t seed,
                                 std::size_t dev, std::size_t test);
std::uint64_t split_hash(std::string_view key, std::uint64_t seed);

// ---- Apertium (corpus_apertium.cc) ----

struct ApertiumOptions {
  std::string mode = "eng-spa";
  std::size_t batch_lines = 8000;  // lines per apertium process
  int jobs = 1;                    // apertium processes run at once
};
struct ApertiumLine {
  std::string text;             // translation, Apertium's marks removed
  int unknown = 0;              // words Apertium did not know ('*' marks; copied untranslated)
  int errors = 0;               // generation / transfer failures ('#' and '@' marks)
  bool failed = false;          // the line could not be aligned with its output (left empty)
  std::size_t first_known = 0;  // byte offset in `text` of the first word Apertium knew
};
// Translates one line per element. Lines are written separated by blank lines (so each is its
// own paragraph and keeps its capitalization context) to `apertium MODE`; a batch whose output
// does not have exactly one paragraph per line is bisected and retranslated. Throws
// core::InputError when apertium or the mode is not installed. `progress(done)` counts lines.
std::vector<ApertiumLine> translate_apertium(const std::vector<std::string>& lines,
                                             const ApertiumOptions& options,
                                             const std::function<void(std::size_t)>& progress = {});
// Parses one output line of `apertium MODE` (without -u): strips '*' (unknown word), '#' and
// '@' (generation / transfer failure) marks wherever they sit and counts them.
ApertiumLine parse_apertium_output(std::string_view line);
// The first word Apertium translated (at byte `first_known` of `target`, after any unknown
// words copied through) takes the case of the source's first letter: lower-cased for a
// lower-case source (wordnet phrases; Apertium capitalizes a paragraph's start), capitalized
// for a capitalized one when it is the target's first word ("There's no point" -> "no hay").
std::string match_initial_case(std::string_view source, std::string_view target,
                               std::size_t first_known = 0);

// ---- the corpus command (corpus_build.cc) ----

struct CorpusOptions {
  std::string pair = "en-es";  // en-es or de-en
  std::filesystem::path out;
  int vocab_size = 8000;
  std::uint64_t seed = 1;
  std::size_t limit = 0;  // > 0: at most this many sentences from each source (quick runs)
  std::size_t dev = 1000, test = 1000;
  int jobs = 1;         // apertium processes at once
  int max_unknown = 1;  // en-es: drop translations with more unknown words than this
  // Where Debian's data lives (tests point it elsewhere): fortunes under
  // <share>/games/fortunes, WordNet under <share>/wordnet, Ding under <share>/trans/de-en.
  std::filesystem::path share = "/usr/share";
};

// Counts of one source (or step): sentences read, kept, and dropped per reason.
struct CorpusCount {
  std::string name;
  std::size_t read = 0, kept = 0;
  std::map<std::string, std::size_t> dropped;
};

struct CorpusReport {
  std::string pair;
  std::filesystem::path out;
  std::vector<CorpusCount> sources;  // per source, after cleaning (and translation for en-es)
  std::size_t candidates = 0;        // pairs from all sources
  std::size_t duplicates = 0;        // dropped as duplicates of an earlier normalized source
  std::size_t train = 0, dev = 0, test = 0;
  int vocab_size = 0;
  std::uint64_t seed = 0;
  double translate_s = 0, spm_s = 0, total_s = 0;
  std::size_t train_src_pieces = 0, train_tgt_pieces = 0;
};

// Progress of the long steps: `step` names it, `done` of `total` items.
using CorpusProgress =
    std::function<void(const std::string& step, std::size_t done, std::size_t total)>;

// Builds the corpus into options.out (created if needed): {train,dev,test}.{src,tgt},
// spm.model, {train,dev,test}.{src,tgt}.sp and corpus.json. Each file is written atomically.
// Throws core::InputError for a bad pair, missing package data or an unwritable directory.
CorpusReport build_corpus(const CorpusOptions& options, const CorpusProgress& progress = {});
std::string corpus_report_json(const CorpusReport& report);
std::string corpus_report_table(const CorpusReport& report);

}  // namespace keel::nmt
