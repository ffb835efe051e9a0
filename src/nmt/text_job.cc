// Segmenting raw lines for translation and joining the results (text_job.h).
#include "keel/nmt/text_job.h"

#include <fmt/format.h>

#include <cassert>

namespace keel::nmt {

SegmentedText segment_lines(const std::vector<std::string>& lines, const TextCodec& codec,
                            const SegmentOptions& options, const std::string& source,
                            std::size_t first_line) {
  SegmentedText out;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::vector<std::string> parts =
        options.split_sentences ? split_sentences(lines[i]) : std::vector{lines[i]};
    if (parts.empty()) parts.emplace_back();
    std::size_t n = 0;
    for (const auto& part : parts) {
      const std::string enc = codec.encode(part);
      auto capped = cap_length(enc, options.max_input_length, options.policy,
                               fmt::format("{}:{}", source, first_line + i));
      out.capped += capped.size() > 1 || capped[0].size() < enc.size();
      n += capped.size();
      for (auto& c : capped) out.segments.push_back(std::move(c));
    }
    out.per_line.push_back(n);
  }
  return out;
}

std::vector<std::string> join_segments(const std::vector<std::string>& outputs,
                                       const std::vector<std::size_t>& per_line,
                                       const TextCodec& codec) {
  std::vector<std::string> lines;
  std::size_t k = 0;
  for (const std::size_t n : per_line) {
    std::string text;
    for (std::size_t j = 0; j < n; ++j, ++k) {
      const std::string dec = codec.decode(outputs.at(k));
      if (!dec.empty()) text += (text.empty() ? "" : " ") + dec;
    }
    lines.push_back(std::move(text));
  }
  assert(k == outputs.size());
  return lines;
}

}  // namespace keel::nmt
