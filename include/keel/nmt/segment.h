#pragma once
// What keeps one long input line from stalling a batch or looping: paragraphs split into
// sentences before translation (joined back per line after it), and a cap on the pieces of one
// segment with a chosen policy. Plain rules, written here: sentence boundary detection is not in
// any Debian library keel already uses (ICU's BreakIterator splits after every "Mr.").

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace keel::nmt {

// Sentences of `text`, trimmed. A sentence ends at '.', '!', '?' or '…' (with closing quotes or
// brackets after it) followed by whitespace and an uppercase letter, a digit or an opening
// quote/bracket — except after a known abbreviation (Mr., Dr., e.g., etc.) or a single letter
// (an initial). Text without such a boundary is one sentence; blank text gives none.
std::vector<std::string> split_sentences(std::string_view text);

enum class LengthPolicy { split, truncate, refuse };
// "split" | "truncate" | "refuse"; throws core::InputError otherwise.
LengthPolicy parse_length_policy(std::string_view name);

// The space-separated pieces of `line` in segments of at most `max_pieces`: one segment when it
// fits; else, by policy, consecutive segments cut after the last punctuation piece of each window
// (else at the window's end), the first window only, or core::InputError (`where` names the
// line in the message). max_pieces 0 = no cap.
std::vector<std::string> cap_length(const std::string& line, std::size_t max_pieces,
                                    LengthPolicy policy, const std::string& where);

}  // namespace keel::nmt
