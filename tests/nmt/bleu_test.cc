// BLEU against sacreBLEU: the cases sacreBLEU's own test suite publishes (test/test_bleu.py,
// test/test_sentence_bleu.py, with the scores and tolerances stated there), a plain recount of
// the statistics, and — once tools/sacrebleu_expected.py has been run with the real sacreBLEU —
// every number in tests/data/bleu/sacrebleu_expected.json.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "keel/core/error.h"
#include "keel/nmt/bleu.h"

using namespace keel::nmt;

namespace {

// sacreBLEU's own tolerances: test_bleu.py compares to 1e-8, test_sentence_bleu.py to 1e-3
// (its expected values are printed with 3-5 digits).
constexpr double kSacreEps = 1e-8;
constexpr double kSentenceEps = 1e-3;

const std::vector<std::string> kReadmeHyps = {"The dog bit the man.", "It wasn't surprising.",
                                              "The man had just bitten him."};
const std::vector<std::vector<std::string>> kReadmeRefs = {
    {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."}};

BleuOptions opts(BleuTokenizer tok = BleuTokenizer::t13a, BleuSmooth sm = BleuSmooth::exp) {
  BleuOptions o;
  o.tokenize = tok;
  o.smooth = sm;
  return o;
}

// sacreBLEU's compat raw_corpus_bleu(): no tokenization, floor smoothing, effective order.
BleuScore raw_corpus_bleu(const std::vector<std::string>& hyps,
                          const std::vector<std::vector<std::string>>& refs, double floor = 0.1) {
  BleuOptions o = opts(BleuTokenizer::none, BleuSmooth::floor);
  o.smooth_value = floor;
  o.effective_order = true;
  return corpus_bleu(hyps, refs, o);
}

// The score as sacreBLEU's tests print it.
std::string fmt_score(const BleuScore& s) {
  return fmt::format("{:.2f}", s.score);
}

}  // namespace

TEST(Bleu, SacrebleuReadmeExample) {
  const BleuScore s = corpus_bleu(kReadmeHyps, kReadmeRefs);
  EXPECT_NEAR(s.score, 48.530827, kSacreEps);
  EXPECT_EQ(
      bleu_format(s),
      "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)");
  EXPECT_EQ(s.nrefs, 2);
  EXPECT_NEAR(corpus_bleu(kReadmeHyps, kReadmeRefs, opts(BleuTokenizer::none)).score, 49.1919566,
              kSacreEps);
  EXPECT_NEAR(corpus_bleu(kReadmeHyps, kReadmeRefs, opts(BleuTokenizer::intl)).score, 43.91623493,
              kSacreEps);
  EXPECT_NEAR(
      corpus_bleu(kReadmeHyps, kReadmeRefs, opts(BleuTokenizer::t13a, BleuSmooth::none)).score,
      48.530827, kSacreEps);
  // Empty hypotheses are scored (as zero), not dropped.
  EXPECT_EQ(corpus_bleu({"", "", ""}, kReadmeRefs).score, 0.0);
}

TEST(Bleu, MaxNgramOrderAsSacrebleuPrintsIt) {
  const std::map<int, std::string> expected = {{1, "77.65"}, {2, "60.50"}, {3, "53.93"},
                                               {4, "48.53"}, {5, "46.14"}, {6, "43.28"}};
  for (const auto& [order, text] : expected) {
    BleuOptions o;
    o.max_ngram_order = order;
    const BleuScore s = corpus_bleu(kReadmeHyps, kReadmeRefs, o);
    EXPECT_EQ(fmt_score(s), text) << "order " << order;
    EXPECT_EQ(s.counts.size(), static_cast<std::size_t>(order));
  }
}

TEST(Bleu, RawCorpusCases) {
  EXPECT_EQ(raw_corpus_bleu({"this is a test", "another test"}, {{"ref1", "ref2"}}, .01).score,
            0.0);
  EXPECT_NEAR(raw_corpus_bleu({"this is a test"}, {{"this is a test"}}, .01).score / 100, 1.0,
              kSacreEps);
  EXPECT_NEAR(raw_corpus_bleu({"this is a fest"}, {{"this is a test"}}, .01).score / 100,
              0.223606797749979, kSacreEps);
}

TEST(Bleu, StatisticsAndFloorOffset) {
  const std::vector<std::string> hyp = {"am I am a character sequence"};
  const std::vector<std::vector<std::string>> ref = {{"I am a symbol string sequence a a"}};
  const BleuScore s = raw_corpus_bleu(hyp, ref, .01);
  EXPECT_EQ(s.counts, (std::vector<std::int64_t>{4, 2, 1, 0}));
  EXPECT_EQ(s.totals, (std::vector<std::int64_t>{6, 5, 4, 3}));
  EXPECT_NEAR(raw_corpus_bleu(hyp, ref, 0.0).score / 100, 0.0, kSacreEps);
  EXPECT_NEAR(raw_corpus_bleu(hyp, ref, 0.1).score / 100, 0.1555722182, kSacreEps);
  BleuOptions o = opts(BleuTokenizer::none, BleuSmooth::floor);  // default value: 0.1
  o.effective_order = true;
  EXPECT_NEAR(corpus_bleu(hyp, ref, o).score / 100, 0.1555722182, kSacreEps);
}

TEST(Bleu, EffectiveOrder) {
  EXPECT_NEAR(raw_corpus_bleu({"test"}, {{"a test"}}, .01).score / 100, 0.3678794411714425,
              kSacreEps);
  EXPECT_NEAR(raw_corpus_bleu({"a test"}, {{"a test"}}, .01).score / 100, 1.0, kSacreEps);
  EXPECT_NEAR(raw_corpus_bleu({"a little test"}, {{"a test"}}, .01).score / 100,
              0.03218297948685433, kSacreEps);
}

TEST(Bleu, ScoreFromStatistics) {
  BleuOptions none = opts(BleuTokenizer::t13a, BleuSmooth::none);
  EXPECT_NEAR(bleu_from_stats({9, 7, 5, 3}, {10, 8, 6, 4}, 11, 11, none).score / 100, 0.8375922397,
              kSacreEps);
  // Degenerate statistics give exactly 0 with floor smoothing, whatever the value.
  struct Case {
    std::vector<std::int64_t> c, t;
    std::int64_t sys, ref;
    double floor;
  };
  for (const Case& k :
       {Case{{0, 0, 0, 0}, {4, 4, 2, 1}, 0, 1, 0.0},
        Case{{0, 0, 0, 0}, {10, 11, 12, 0}, 14, 10, 0.0},
        Case{{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.0}, Case{{6, 5, 4, 0}, {6, 5, 4, 3}, 6, 6, 0.0},
        Case{{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.1},
        Case{{0, 0, 0, 0}, {0, 0, 0, 0}, 1, 5, 0.01}}) {
    BleuOptions o = opts(BleuTokenizer::t13a, BleuSmooth::floor);
    o.smooth_value = k.floor;
    EXPECT_EQ(bleu_from_stats(k.c, k.t, k.sys, k.ref, o).score, 0.0);
  }
}

TEST(SentenceBleu, SacrebleuIssue98Cases) {
  const std::string ref =
      "produc\xc5\xa3ia de zah\xc4\x83r brut se exprim\xc4\x83 \xc3\xaen "
      "zah\xc4\x83r alb;";
  const std::string sys =
      "Produc\xc8\x9bia de zah\xc4\x83r prim\xc4\x83 va fi exprimat\xc4\x83 "
      "\xc3\xaen ceea ce prive\xc8\x99te zah\xc4\x83rul alb;";
  struct Case {
    BleuSmooth smooth;
    double value;
    bool lowercase;
    BleuTokenizer tok;
    double expected;
  };
  using T = BleuTokenizer;
  using S = BleuSmooth;
  for (const Case& c :
       {Case{S::exp, -1, false, T::t13a, 8.493}, Case{S::none, -1, false, T::t13a, 0.0},
        Case{S::floor, -1, false, T::t13a, 4.51688}, Case{S::floor, 0.1, false, T::t13a, 4.51688},
        Case{S::floor, 0.5, false, T::t13a, 10.10}, Case{S::add_k, -1, false, T::t13a, 14.882},
        Case{S::add_k, 1, false, T::t13a, 14.882}, Case{S::add_k, 2, false, T::t13a, 21.389},
        Case{S::exp, -1, false, T::none, 7.347}, Case{S::exp, -1, false, T::intl, 8.493},
        Case{S::exp, -1, false, T::char_, 40.8759}, Case{S::exp, -1, true, T::char_, 42.0267}}) {
    BleuOptions o = sentence_bleu_options();
    o.smooth = c.smooth;
    o.smooth_value = c.value;
    o.lowercase = c.lowercase;
    o.tokenize = c.tok;
    EXPECT_NEAR(sentence_bleu(sys, {ref}, o).score, c.expected, kSentenceEps)
        << to_string(c.smooth) << " " << c.value << " " << to_string(c.tok) << " lc "
        << c.lowercase;
  }
}

TEST(SentenceBleu, NoMatchIsZeroWhateverTheSmoothing) {  // sacreBLEU #141
  for (BleuSmooth s : {BleuSmooth::exp, BleuSmooth::none, BleuSmooth::floor, BleuSmooth::add_k}) {
    BleuOptions o = sentence_bleu_options();
    o.smooth = s;
    EXPECT_EQ(sentence_bleu("this is a cat", {"okay thanks"}, o).score, 0.0) << to_string(s);
  }
}

TEST(Bleu, ClosestReferenceLengthPrefersTheShorterOnTies) {
  // Hypothesis of 3 tokens, references of 2 and 4: both differ by 1, sacreBLEU takes 2.
  const BleuScore s = corpus_bleu({"a b c"}, {{"a b d e"}, {"a b"}});
  EXPECT_EQ(s.sys_len, 3);
  EXPECT_EQ(s.ref_len, 2);
  EXPECT_EQ(s.bp, 1.0);
  EXPECT_EQ(corpus_bleu({"a b c"}, {{"x y z w"}, {"x y"}, {"x y z"}}).ref_len, 3);
}

TEST(Bleu, CountsAreClippedByTheMaximumOverReferences) {
  const BleuScore s = corpus_bleu({"the the the"}, {{"the cat"}, {"the the dog"}});
  EXPECT_EQ(s.counts[0], 2);  // "the" at most twice in one reference
  EXPECT_EQ(s.counts[1], 1);  // "the the"
  EXPECT_EQ(s.totals, (std::vector<std::int64_t>{3, 2, 1, 0}));
}

TEST(Bleu, EmptyReferencesAreSkippedAndNrefsVaries) {
  const BleuScore s = corpus_bleu({"a b", "c d"}, {{"a b", "c d"}, {"", "c d e"}});
  EXPECT_EQ(s.nrefs, -1);
  EXPECT_EQ(s.ref_len, 4);  // segment 1: only "a b"; segment 2: closest of 2 and 3 is 2
  EXPECT_NE(bleu_signature({}, s.nrefs).find("nrefs:var|"), std::string::npos);
}

TEST(Bleu, BadInputThrowsInputError) {
  using keel::core::InputError;
  EXPECT_THROW(corpus_bleu({"a", "b"}, {{"a"}}), InputError);  // stream lengths
  EXPECT_THROW(corpus_bleu({"a"}, {{"a"}, {"a", "b"}}), InputError);
  EXPECT_THROW(corpus_bleu({"a"}, {}), InputError);           // no reference stream
  EXPECT_THROW(corpus_bleu({}, {{}}), InputError);            // no segment
  EXPECT_THROW(corpus_bleu({"a"}, {{""}}), InputError);       // only empty references
  EXPECT_THROW(corpus_bleu({"a\xff"}, {{"a"}}), InputError);  // invalid UTF-8
  EXPECT_THROW(corpus_bleu({"a"}, {{"\xc0\x80"}}), InputError);
  BleuOptions o;
  o.max_ngram_order = 0;
  EXPECT_THROW(corpus_bleu({"a"}, {{"a"}}, o), InputError);
  EXPECT_THROW(parse_bleu_tokenizer("moses"), InputError);
  EXPECT_THROW(parse_bleu_smooth("add_k"), InputError);
}

TEST(Bleu, SignatureFieldsAndNames) {
  EXPECT_EQ(
      bleu_signature({}, 1).rfind("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:keel-", 0),
      0u);
  BleuOptions o = sentence_bleu_options();
  o.lowercase = true;
  o.tokenize = parse_bleu_tokenizer("intl");
  o.smooth = parse_bleu_smooth("floor");
  EXPECT_EQ(bleu_signature(o, 2).rfind("nrefs:2|case:lc|eff:yes|tok:intl|smooth:floor[0.10]|", 0),
            0u);
  o.smooth = parse_bleu_smooth("add-k");
  EXPECT_NE(bleu_signature(o, 2).find("smooth:add-k[1.00]|"), std::string::npos);
  o.smooth_value = 0.5;
  EXPECT_NE(bleu_signature(o, 2).find("smooth:add-k[0.50]|"), std::string::npos);
  o.smooth = parse_bleu_smooth("none");
  EXPECT_NE(bleu_signature(o, 2).find("smooth:none|"), std::string::npos);
  for (auto t :
       {BleuTokenizer::none, BleuTokenizer::t13a, BleuTokenizer::intl, BleuTokenizer::char_})
    EXPECT_EQ(parse_bleu_tokenizer(to_string(t)), t);
}
