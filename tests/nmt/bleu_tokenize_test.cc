// BLEU's text processing: the 13a tokenizer rule by rule and against its std::regex reference,
// intl and char, Python's whitespace and lowercasing, UTF-8 validation.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../support/source_paths.h"
#include "keel/nmt/bleu.h"

using namespace keel::nmt;

namespace {
using keel::testing::kBleuTestData;
using keel::testing::read_lines;

}  // namespace

TEST(Tokenize13a, SkippedMarkersAndLineJoins) {
  EXPECT_EQ(tokenize_13a("a <skipped> b"), "a b");
  EXPECT_EQ(tokenize_13a("<skip<skipped>ped>"), "< skipped >");  // one pass, like str.replace
  EXPECT_EQ(tokenize_13a("co-\noperate"), "cooperate");
  EXPECT_EQ(tokenize_13a("two\nlines"), "two lines");
}

TEST(Tokenize13a, EntitiesAreUnescapedInOrderOnePassEach) {
  EXPECT_EQ(tokenize_13a("&quot;x&quot;"), "\" x \"");
  EXPECT_EQ(tokenize_13a("a &amp; b"), "a & b");
  EXPECT_EQ(tokenize_13a("x&lt;y&gt;z"), "x < y > z");
  EXPECT_EQ(tokenize_13a("&amp;lt;"), "<");           // &amp; makes &lt;, which the next pass sees
  EXPECT_EQ(tokenize_13a("&amp;quot;"), "& quot ;");  // &quot; ran before &amp; made it
  EXPECT_EQ(tokenize_13a("&apos; &nbsp;"), "& apos ; & nbsp ;");  // not unescaped by 13a
}

TEST(Tokenize13a, PunctuationAndSymbolsAreSplitOff) {
  EXPECT_EQ(tokenize_13a("a+b=c"), "a + b = c");
  EXPECT_EQ(tokenize_13a("(x)[y]{z}"), "( x ) [ y ] { z }");
  EXPECT_EQ(tokenize_13a("x/y\\z|w"), "x / y \\ z | w");
  EXPECT_EQ(tokenize_13a("$5 100% #1 @me ~a ^b _c `d` *e !f ?g :h ;i"),
            "$ 5 100 % # 1 @ me ~ a ^ b _ c ` d ` * e ! f ? g : h ; i");
  // Not in the class: apostrophe and dash between letters stay inside the word.
  EXPECT_EQ(tokenize_13a("Don't over-think it"), "Don't over-think it");
}

TEST(Tokenize13a, PeriodsAndCommasStayInsideNumbersOnly) {
  EXPECT_EQ(tokenize_13a("It ends."), "It ends .");
  EXPECT_EQ(tokenize_13a("1,000 and 3.5"), "1,000 and 3.5");
  EXPECT_EQ(tokenize_13a("a,b.c"), "a , b . c");
  EXPECT_EQ(tokenize_13a("in 2021."), "in 2021 .");  // the padding space follows the period
  EXPECT_EQ(tokenize_13a("5,a"), "5 , a");           // followed by a non-digit
  EXPECT_EQ(tokenize_13a(".5"), ". 5");              // preceded by a non-digit (the pad)
  EXPECT_EQ(tokenize_13a("Wait..."), "Wait . . .");
  EXPECT_EQ(tokenize_13a("1.5, 2.25"), "1.5 , 2.25");
}

TEST(Tokenize13a, DashesAreSplitAfterDigitsOnly) {
  EXPECT_EQ(tokenize_13a("5-10 km"), "5 - 10 km");
  EXPECT_EQ(tokenize_13a("-4.5 degrees"), "-4.5 degrees");
  EXPECT_EQ(tokenize_13a("x-5"), "x-5");
  EXPECT_EQ(tokenize_13a("1,000-year"), "1,000 - year");
}

TEST(Tokenize13a, UnicodeTextAndWhitespace) {
  EXPECT_EQ(tokenize_13a("caf\xc3\xa9."), "caf\xc3\xa9 .");
  // Python's str.split() splits on U+00A0, U+3000 and U+2028, not on U+200B (zero width space).
  EXPECT_EQ(tokenize_13a("a\xc2\xa0"
                         "b\xe3\x80\x80"
                         "c\xe2\x80\xa8"
                         "d\xe2\x80\x8b"
                         "e"),
            "a b c d\xe2\x80\x8b"
            "e");
  EXPECT_EQ(tokenize_13a("  \t  "), "");
  EXPECT_EQ(tokenize_13a(""), "");
}

TEST(Tokenize13a, MatchesTheRegexReferenceOnTestVectorsAndRandomText) {
  std::size_t n = 0;
  for (const char* f : {"hyp.txt", "ref1.txt", "ref2.txt"})
    for (const auto& line : read_lines(kBleuTestData + f)) {
      ASSERT_EQ(tokenize_13a(line), tokenize_13a_reference(line)) << line;
      ++n;
    }
  EXPECT_GE(n, 3u * 149u);
  // Random strings over the characters the rules care about (fixed seed: reproducible).
  const std::vector<std::string> alphabet = {
      "a",   "Z", "0",  "7", ".",  ",",  "-",        "&",        ";",    "<",
      ">",   "'", "\"", " ", "\t", "\n", "&amp;",    "&quot;",   "&lt;", "<skipped>",
      "-\n", "$", "%",  "(", "]",  "/",  "\xc3\xa9", "\xc2\xa0", "~",    "\xe2\x80\x94",
      "`",   "?", "9."};
  std::mt19937 rng(20261127);
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1), len(0, 40);
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    for (std::size_t k = len(rng); k > 0; --k) s += alphabet[pick(rng)];
    ASSERT_EQ(tokenize_13a(s), tokenize_13a_reference(s)) << "input: " << s;
  }
}

TEST(TokenizeIntl, UnicodePunctuationAndSymbols) {
  EXPECT_EQ(tokenize_intl("Hello, world!"), "Hello , world !");
  EXPECT_EQ(tokenize_intl("1,000.5 and $5"), "1,000.5 and $ 5");
  EXPECT_EQ(tokenize_intl("a\xe2\x80\x93"
                          "b"),
            "a \xe2\x80\x93 b");  // en dash (Pd)
  EXPECT_EQ(tokenize_intl("\xc2\xab"
                          "Ja\xc2\xbb"),
            "\xc2\xab Ja \xc2\xbb");                            // guillemets (Pi/Pf)
  EXPECT_EQ(tokenize_intl("5\xe2\x82\xac"), "5 \xe2\x82\xac");  // euro sign (Sc)
  // mteval-v14's quirk, kept by sacreBLEU: a number's final period stays attached.
  EXPECT_EQ(tokenize_intl("in 2021."), "in 2021.");
  EXPECT_EQ(tokenize_intl("&amp;"), "& amp ;");  // no entity unescaping
}

TEST(TokenizeChar, EveryNonSpaceCodePoint) {
  EXPECT_EQ(tokenize_char("ab c"), "a b c");
  EXPECT_EQ(tokenize_char(" \xc5\xbc\xc3\xb3\xc5\x82w "), "\xc5\xbc \xc3\xb3 \xc5\x82 w");
}

TEST(PythonText, SplitAndRstripUsePythonsWhitespace) {
  auto t = split_whitespace(
      "\x1f"
      "a\x0b"
      "b\xc2\x85"
      "c  d\xe2\x80\x8a");
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0], "a");
  EXPECT_EQ(t[2], "c");
  EXPECT_EQ(t[3], "d");
  EXPECT_EQ(rstrip_whitespace("a b \r\n\xe3\x80\x80"), "a b");
  EXPECT_EQ(rstrip_whitespace("\xc3\xa9"), "\xc3\xa9");
  EXPECT_EQ(rstrip_whitespace(" \t"), "");
}

TEST(PythonText, LowercaseLikeStrLower) {
  EXPECT_EQ(lowercase_utf8("The DOG, 42!"), "the dog, 42!");
  EXPECT_EQ(lowercase_utf8("\xc3\x84\xc3\x96\xc3\x9c"), "\xc3\xa4\xc3\xb6\xc3\xbc");  // ÄÖÜ
  EXPECT_EQ(lowercase_utf8("\xc4\xb0"), "i\xcc\x87");  // İ -> i + combining dot, as Python
  // Final sigma: ΟΔΟΣ -> οδος (ς at the end of a word).
  EXPECT_EQ(lowercase_utf8("\xce\x9f\xce\x94\xce\x9f\xce\xa3"), "\xce\xbf\xce\xb4\xce\xbf\xcf\x82");
}

TEST(PythonText, InvalidUtf8IsFoundWhereItStarts) {
  constexpr auto npos = std::string_view::npos;
  EXPECT_EQ(find_invalid_utf8("plain \xc3\xa9 \xf0\x9f\x98\x80"), npos);
  EXPECT_EQ(find_invalid_utf8("ab\xff"), 2u);
  EXPECT_EQ(find_invalid_utf8("a\x80"), 1u);             // lone continuation byte
  EXPECT_EQ(find_invalid_utf8("\xc0\x80"), 0u);          // overlong NUL
  EXPECT_EQ(find_invalid_utf8("x\xed\xa0\x80"), 1u);     // UTF-16 surrogate
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("abc\xe2\x82"), 3u);       // truncated
}
