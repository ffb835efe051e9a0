// Sentence splitting of paragraph input and the per-segment length cap (keel/nmt/segment.h).
#include <gtest/gtest.h>

#include "keel/core/error.h"
#include "keel/nmt/segment.h"

namespace keel::nmt {
namespace {

using V = std::vector<std::string>;

TEST(SplitSentences, EndsAtTerminatorsBeforeACapitalOrDigit) {
  EXPECT_EQ(split_sentences("Mitosis has four stages. The second is metaphase."),
            (V{"Mitosis has four stages.", "The second is metaphase."}));
  EXPECT_EQ(split_sentences("Is it?  Yes! 3 more."), (V{"Is it?", "Yes!", "3 more."}));
  EXPECT_EQ(split_sentences("He said \"Stop.\" Then he left."),
            (V{"He said \"Stop.\"", "Then he left."}));
  EXPECT_EQ(split_sentences("Wait... What?! No."), (V{"Wait...", "What?!", "No."}));
  EXPECT_EQ(split_sentences("Es tarde. ¿Vienes?"), (V{"Es tarde.", "¿Vienes?"}));
}

TEST(SplitSentences, KeepsAbbreviationsInitialsNumbersAndLowercaseContinuations) {
  EXPECT_EQ(split_sentences("Dr. Smith arrived. He sat."), (V{"Dr. Smith arrived.", "He sat."}));
  EXPECT_EQ(split_sentences("Cells, e.g. HeLa, divide."), (V{"Cells, e.g. HeLa, divide."}));
  EXPECT_EQ(split_sentences("J. R. R. Tolkien wrote it."), (V{"J. R. R. Tolkien wrote it."}));
  EXPECT_EQ(split_sentences("Pi is 3.14 or so."), (V{"Pi is 3.14 or so."}));
  EXPECT_EQ(split_sentences("version 2.0 is out. see the notes"),
            (V{"version 2.0 is out. see the notes"}));
}

TEST(SplitSentences, BlankTextHasNoSentencesAndSpaceIsTrimmed) {
  EXPECT_TRUE(split_sentences("").empty());
  EXPECT_TRUE(split_sentences(" \t ").empty());
  EXPECT_EQ(split_sentences("  one  "), (V{"one"}));
  EXPECT_EQ(split_sentences("no final stop"), (V{"no final stop"}));
}

TEST(CapLength, SplitsAtPunctuationTruncatesOrRefuses) {
  const std::string line = "a b \xE2\x96\x81, c d e f g";  // 8 pieces, "▁," is the 3rd
  EXPECT_EQ(cap_length(line, 0, LengthPolicy::refuse, "x"), (V{line}));
  EXPECT_EQ(cap_length(line, 8, LengthPolicy::refuse, "x"), (V{line}));
  // Window of 4: cut after "▁," (in the window's second half), then windows of 4.
  EXPECT_EQ(cap_length(line, 4, LengthPolicy::split, "x"),
            (V{"a b \xE2\x96\x81,", "c d e f", "g"}));
  EXPECT_EQ(cap_length("a b c d e", 2, LengthPolicy::split, "x"), (V{"a b", "c d", "e"}));
  EXPECT_EQ(cap_length(line, 3, LengthPolicy::truncate, "x"), (V{"a b \xE2\x96\x81,"}));
  try {
    cap_length(line, 4, LengthPolicy::refuse, "stdin:7");
    FAIL();
  } catch (const core::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("stdin:7"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("8 pieces"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_length_policy("drop"), core::InputError);
}

}  // namespace
}  // namespace keel::nmt
