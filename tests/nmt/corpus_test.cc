// Corpus building blocks: Ding parsing and sense alignment on real lines, fortunes and WordNet
// parsing, the cleaning rules, Apertium output parsing and the deterministic split.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "keel/core/error.h"
#include "keel/nmt/corpus.h"

using namespace keel::nmt;

namespace {

// Real lines of /usr/share/trans/de-en (trans-de-en, Ding 2023-01-30).
constexpr const char* kDingOk =
    "in Ordnung; ok [ugs.] {adj} | In Ordnung!; Ist recht! | Es ist nicht in Ordnung, das zu "
    "einem Lehrer zu sagen. | Geht es in Ordnung, wenn ich meinen Hund mitbringe? | \xE2\x80\x9E"
    "Danke f\xC3\xBCr deine Hilfe!\xE2\x80\x9C \xE2\x80\x9E"
    "Das ist schon in Ordnung.\xE2\x80\x9C | Ist alles in Ordnung mit dir?; Geht es dir gut? | Es "
    "ist alles in Ordnung.; Es ist alles paletti. [ugs.] | Das geht schon in Ordnung. | Von mir "
    "aus geht das in Ordnung; Mir ist es recht.; Ich bin einverstanden. :: all right; okey /ok/ "
    "<alright> | All right!; Okey! | It\xE2\x80\x99s not OK to say that to a teacher. | Is it all "
    "right to bring my dog? | 'Thanks for your help.' 'That\xE2\x80\x99s quite all right.' | Are "
    "you all right?; Are you OK? | Everything is all right. | That\xE2\x80\x99s all right. | "
    "It\xE2\x80\x99s all right with me.; That\xE2\x80\x99s all right with me.";
constexpr const char* kDingNouns =
    "Aalbestand {m} | Aalbest\xC3\xA4nde {pl} :: eel stock | eel stocks";
constexpr const char* kDingVirgo =
    "Jungfraugeborener {m}; Jungfrau {f} [astrol.] | Er ist (vom Sternzeichen) Jungfrau. | Im "
    "Alltag sind viele Jungfraugeborene ruhig und unterw\xC3\xBCrfig. :: Virgo | He is a Virgo. | "
    "In their day to day lives, many Virgos are quiet and submissive.";

bool has_pair(const std::vector<DingSense>& pairs, const std::string& de, const std::string& en) {
  return std::any_of(pairs.begin(), pairs.end(),
                     [&](const DingSense& p) { return p.de == de && p.en == en; });
}

}  // namespace

TEST(Ding, SensesAlignByPosition) {
  auto e = parse_ding_line(kDingNouns);
  ASSERT_TRUE(e.aligned);
  ASSERT_EQ(e.senses.size(), 2u);
  EXPECT_EQ(e.senses[1].de, "Aalbest\xC3\xA4nde {pl}");
  EXPECT_EQ(e.senses[1].en, "eel stocks");
  EXPECT_EQ(parse_ding_line(kDingOk).senses.size(), 9u);
}

TEST(Ding, MismatchedSenseCountsAndCommentsGiveNothing) {
  auto e = parse_ding_line("Haus {n} | H\xC3\xA4user {pl} :: house");
  EXPECT_FALSE(e.aligned);
  EXPECT_TRUE(e.senses.empty());
  EXPECT_TRUE(parse_ding_line("# Version :: devel 2023-01-30").senses.empty());
  EXPECT_TRUE(parse_ding_line("no separator here").senses.empty());
}

TEST(Ding, AlternativesSplitOutsideBrackets) {
  auto a = split_alternatives("to fixate (on; upon); to fix  ;");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0], "to fixate (on; upon)");
  EXPECT_EQ(a[1], "to fix");
}

TEST(Ding, AnnotationsAreStripped) {
  EXPECT_EQ(strip_ding_annotations("Es ist alles paletti. [ugs.]"), "Es ist alles paletti.");
  EXPECT_EQ(strip_ding_annotations("Er ist (vom Sternzeichen) Jungfrau."), "Er ist Jungfrau.");
  EXPECT_EQ(strip_ding_annotations("storage battery [Am.] {f} <alright> (nested (x) y)"),
            "storage battery");
  EXPECT_EQ(strip_ding_annotations("It\xE2\x80\x99s \xE2\x80\x9Cok\xE2\x80\x9D ."), "It's \"ok\".");
}

TEST(Ding, SentenceLikeRules) {
  EXPECT_TRUE(ding_sentence_like("Das ist nur scheinbar paradox."));
  EXPECT_TRUE(
      ding_sentence_like("\xC3\x9C"
                         "ber Geschmack l\xC3\xA4sst sich streiten."));
  EXPECT_TRUE(ding_sentence_like("\"Are you OK?\""));
  EXPECT_FALSE(ding_sentence_like("eel stocks"));                       // no capital, no stop
  EXPECT_FALSE(ding_sentence_like("In Ordnung!"));                      // two words
  EXPECT_FALSE(ding_sentence_like("Von mir aus geht das in Ordnung"));  // no final stop
  EXPECT_FALSE(
      ding_sentence_like("Er gibt jdm. etw. zur\xC3\xBC"
                         "ck."));  // placeholders
  EXPECT_FALSE(ding_sentence_like("To release sb. from a promise."));
  EXPECT_FALSE(ding_sentence_like("My phone ran out / ran out of battery."));
  EXPECT_FALSE(ding_sentence_like("Well, I never..."));
}

TEST(Ding, SentencePairsOfARealEntry) {
  auto pairs = ding_sentence_pairs(kDingOk);
  EXPECT_EQ(pairs.size(), 10u);
  EXPECT_TRUE(has_pair(pairs, "Es ist nicht in Ordnung, das zu einem Lehrer zu sagen.",
                       "It's not OK to say that to a teacher."));
  EXPECT_TRUE(has_pair(pairs, "Geht es dir gut?", "Are you OK?"));
  // One English alternative serves every German one.
  EXPECT_TRUE(has_pair(pairs, "Es ist alles paletti.", "Everything is all right."));
  // The first sentence-like German alternative takes the first English one.
  EXPECT_TRUE(has_pair(pairs, "Mir ist es recht.", "It's all right with me."));
  EXPECT_TRUE(has_pair(pairs, "Ich bin einverstanden.", "That's all right with me."));
  auto virgo = ding_sentence_pairs(kDingVirgo);
  ASSERT_EQ(virgo.size(), 2u);
  EXPECT_EQ(virgo[0].de, "Er ist Jungfrau.");
  EXPECT_EQ(virgo[0].en, "He is a Virgo.");
  EXPECT_TRUE(ding_sentence_pairs(kDingNouns).empty());
}

TEST(Fortunes, SplitOnPercentLines) {
  auto f = split_fortunes("one\n%\ntwo\nlines\n%\n\n%\nthree");
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[1], "two\nlines\n");
  EXPECT_EQ(f[2], "three\n");
}

TEST(Fortunes, AttributionDroppedAndSentencesSplit) {
  // From /usr/share/games/fortunes/art.
  auto s = fortune_sentences(
      "A \"critic\" is a man who creates nothing and thereby feels qualified to\njudge the work of "
      "creative men. There is logic in this; he is unbiased\n-- he hates all creative people "
      "equally.\n\t\t-- Robert Heinlein\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0],
            "A \"critic\" is a man who creates nothing and thereby feels qualified to judge the "
            "work of creative men.");
  EXPECT_EQ(s[1],
            "There is logic in this; he is unbiased -- he hates all creative people equally.");
}

TEST(Fortunes, AbbreviationsInitialsOverstrikeAndQuotes) {
  auto s = fortune_sentences("Mr. Smith met J. R. Ewing.  \"Hi!\" he said.  Was it ``fun''?\n");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0], "Mr. Smith met J. R. Ewing.");
  EXPECT_EQ(s[1], "\"Hi!\" he said.");
  EXPECT_EQ(s[2], "Was it \"fun\"?");
  auto o = fortune_sentences("_\bB_\bo_\bl_\bd words stay.\n");
  ASSERT_EQ(o.size(), 1u);
  EXPECT_EQ(o[0], "Bold words stay.");
  // A last line starting "--" is an attribution even when not indented.
  EXPECT_EQ(fortune_sentences("Be cheerful while you are alive.\n-- Phathotep\n").size(), 1u);
}

TEST(Wordnet, GlossSplitIntoDefinitionsAndExamples) {
  auto g = parse_wordnet_line(
      "00560122 30 v 01 salt 1 001 @ 00559919 v 0000 01 + 08 00 | add zest or liveliness to; "
      "\"She salts her lectures with jokes\"   ");
  ASSERT_EQ(g.definitions.size(), 1u);
  EXPECT_EQ(g.definitions[0], "add zest or liveliness to");
  ASSERT_EQ(g.examples.size(), 1u);
  EXPECT_EQ(g.examples[0], "She salts her lectures with jokes");
  auto c = parse_wordnet_line(
      "00104976 04 n 01 bowling 2 005 @ 00104539 n 0000 | (cricket) the act of delivering a "
      "cricket ball to the batsman; printing: cancel it; \"a; b\" - Shakespeare  ");
  ASSERT_EQ(c.definitions.size(), 2u);
  EXPECT_EQ(c.definitions[0], "the act of delivering a cricket ball to the batsman");
  EXPECT_EQ(c.definitions[1], "cancel it");
  ASSERT_EQ(c.examples.size(), 1u);
  EXPECT_EQ(c.examples[0], "a; b");
  EXPECT_TRUE(
      parse_wordnet_line("  1 This software and database is being provided").definitions.empty());
}

TEST(Clean, NormalizeAndKeys) {
  EXPECT_EQ(normalize_text("  a \t b\n\xE2\x80\x9C"
                           "c\xE2\x80\x9D  d\xE2\x80\x99s "),
            "a b \"c\" d's");
  EXPECT_EQ(word_count(" a  b c "), 3u);
  EXPECT_EQ(dedup_key("Are you a  turtle?"), dedup_key("are you a turtle"));
  EXPECT_NE(dedup_key("Are you a turtle?"), dedup_key("Are you a tortoise?"));
  // Non-ASCII letters are kept as they are (not case-folded).
  EXPECT_EQ(dedup_key("\xC3\x9C"
                      "ber, alles!"),
            "\xC3\x9C"
            "ber alles");
}

TEST(Clean, RejectReasons) {
  CleanRules r;  // 4..40 words
  EXPECT_EQ(reject_reason("A gift of a flower will soon be made to you.", r), "");
  EXPECT_EQ(reject_reason("Chess tonight.", r), "too_short");
  EXPECT_EQ(reject_reason(std::string(200, 'a') + " b c d e", r), "");
  std::string many;
  for (int i = 0; i < 41; ++i) many += "word ";
  EXPECT_EQ(reject_reason(many, r), "too_long");
  EXPECT_EQ(reject_reason("see the | pipe here now", r), "bad_chars");
  EXPECT_EQ(reject_reason("print $x_1 and more text", r), "bad_chars");
  EXPECT_EQ(reject_reason("a tab\there is a control char", r), "bad_chars");
  EXPECT_EQ(reject_reason("12 34 56 78", r), "bad_chars");
  EXPECT_EQ(reject_reason("he said \"hi there and left", r), "unbalanced");
  EXPECT_EQ(reject_reason("a (b c) d) e", r), "unbalanced");
  EXPECT_EQ(reject_reason("A can of ASPARAGUS, LIVE AMMO and a FROZEN DAQUIRI!!", r), "");
  EXPECT_EQ(reject_reason("ALL OF THIS IS SHOUTED at you", r), "shouting");
}

TEST(Apertium, OutputMarksAreCountedAndStripped) {
  auto l = parse_apertium_output(" el *untreated herido #poner en *makeshift cots ");
  EXPECT_EQ(l.text, "el untreated herido poner en makeshift cots");
  EXPECT_EQ(l.unknown, 2);
  EXPECT_EQ(l.errors, 1);
  auto ok = parse_apertium_output("Tengo un perro. Es rojo!");
  EXPECT_EQ(ok.unknown + ok.errors, 0);
  EXPECT_EQ(match_initial_case("able to swim", "Capaz de nadar"), "capaz de nadar");
  EXPECT_EQ(match_initial_case("Able to swim", "Capaz de nadar"), "Capaz de nadar");
  EXPECT_EQ(match_initial_case("\"quoted\" thing", "\"Citado\" cosa"), "\"Citado\" cosa");
  // Marks inside words, and the first translated word after an unknown one.
  auto inner = parse_apertium_output("(*botany) Un altos-*ranking coger#prpers");
  EXPECT_EQ(inner.text, "(botany) Un altos-ranking cogerprpers");
  EXPECT_EQ(inner.unknown, 2);
  EXPECT_EQ(inner.errors, 1);
  EXPECT_EQ(inner.first_known, 9u);  // "Un"
  auto litmus = parse_apertium_output("*litmus El papel gira rojo");
  EXPECT_EQ(litmus.first_known, 7u);
  EXPECT_EQ(match_initial_case("litmus paper turns red", litmus.text, litmus.first_known),
            "litmus el papel gira rojo");
  EXPECT_EQ(match_initial_case("he was", "\xC3\x89l era"), "\xC3\xA9l era");  // É -> é
  EXPECT_EQ(parse_apertium_output("*qwzx").first_known, std::string::npos);
  EXPECT_EQ(match_initial_case("There's no point.", "no hay ning\xC3\xBAn punto."),
            "No hay ning\xC3\xBAn punto.");
  EXPECT_EQ(match_initial_case("Xzy went home.", "Xzy fue a casa.", 4), "Xzy fue a casa.");
}

TEST(Split, DeterministicDisjointAndSized) {
  std::vector<std::string> keys;
  for (int i = 0; i < 2000; ++i) keys.push_back("sentence " + std::to_string(i));
  auto a = assign_splits(keys, 7, 100, 150);
  auto b = assign_splits(keys, 7, 100, 150);
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::count(a.begin(), a.end(), Split::dev), 100);
  EXPECT_EQ(std::count(a.begin(), a.end(), Split::test), 150);
  // Order of the keys does not matter: the same key lands in the same split.
  auto rev = keys;
  std::reverse(rev.begin(), rev.end());
  auto c = assign_splits(rev, 7, 100, 150);
  for (std::size_t i = 0; i < keys.size(); ++i) EXPECT_EQ(a[i], c[keys.size() - 1 - i]);
  // Another seed gives another split.
  auto d = assign_splits(keys, 8, 100, 150);
  EXPECT_NE(a, d);
  // No overlap by construction (one split per key); every key is assigned.
  std::set<std::string> dev, train;
  for (std::size_t i = 0; i < keys.size(); ++i) (a[i] == Split::dev ? dev : train).insert(keys[i]);
  for (const auto& k : dev) EXPECT_EQ(train.count(k), 0u);
}

TEST(Split, TooSmallACorpusIsAnInputError) {
  std::vector<std::string> keys = {"a", "b", "c"};
  EXPECT_THROW(assign_splits(keys, 1, 2, 1), keel::core::InputError);
  EXPECT_NO_THROW(assign_splits(keys, 1, 1, 1));
}
