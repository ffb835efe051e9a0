#pragma once
// Raw lines -> the segments the Translator decodes -> lines again: the one path `keel nmt
// translate` and `keel nmt serve` share, so a server answers exactly what offline translation
// writes. Each line is split into sentences (optional), encoded (SentencePiece for a model
// directory), and capped in length by policy; outputs are decoded and joined back per line.

#include <cstddef>
#include <string>
#include <vector>

#include "keel/nmt/segment.h"
#include "keel/nmt/sentencepiece.h"

namespace keel::nmt {

struct SegmentOptions {
  bool split_sentences = true;
  std::size_t max_input_length = 200;  // pieces per segment; 0 = no cap
  LengthPolicy policy = LengthPolicy::split;
};

struct SegmentedText {
  std::vector<std::string> segments;  // pre-tokenized (space-separated pieces)
  std::vector<std::size_t> per_line;  // how many segments each input line became
  std::size_t capped = 0;             // segments split or truncated by the length cap
};

// `source` and `first_line` name the lines in errors (LengthPolicy::refuse): "stdin:12".
SegmentedText segment_lines(const std::vector<std::string>& lines, const TextCodec& codec,
                            const SegmentOptions& options, const std::string& source,
                            std::size_t first_line);

// Each line's decoded segments joined by single spaces (empty outputs skipped).
std::vector<std::string> join_segments(const std::vector<std::string>& outputs,
                                       const std::vector<std::size_t>& per_line,
                                       const TextCodec& codec);

}  // namespace keel::nmt
