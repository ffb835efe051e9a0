// Reading line-aligned piece files, the vocabulary and token-budget batching.
#include "keel/nmt_train/data.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <numeric>
#include <random>
#include <unordered_map>

#include "keel/core/checksum.h"
#include "keel/core/error.h"

namespace keel::nmt {

std::vector<std::string> read_lines(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec))
    throw core::InputError("file not found", {file.string(), 0, 0, {}},
                           "check the path");
  core::verify_listed(file);  // a corpus directory lists its files with checksums
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw core::InputError("cannot read file", {file.string(), 0, 0, {}}, "check permissions");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
  }
  if (in.bad()) throw core::InputError("read error", {file.string(), 0, 0, {}});
  return lines;
}

ParallelText read_parallel(const std::filesystem::path& src_file,
                           const std::filesystem::path& tgt_file) {
  ParallelText t;
  t.src = read_lines(src_file);
  t.tgt = read_lines(tgt_file);
  for (const auto& [lines, file] : {std::pair{&t.src, &src_file}, std::pair{&t.tgt, &tgt_file}})
    if (lines->empty())
      throw core::InputError("file is empty", {file->string(), 0, 0, {}},
                             "it needs one sentence of space-separated pieces per line");
  if (t.src.size() != t.tgt.size())
    throw core::InputError(
        fmt::format("{} lines here but {} in {}", t.src.size(), t.tgt.size(), tgt_file.string()),
        {src_file.string(), 0, 0, {}},
        "source and target must be line-aligned: line i of one translates line i of the other");
  return t;
}

std::vector<std::string_view> split_pieces(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t j = i;
    while (j < line.size() && line[j] != ' ' && line[j] != '\t') ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

Vocabulary build_vocabulary(const ParallelText& text, const ModelConfig& c) {
  std::vector<std::string> tokens(4);
  const std::uint32_t ids[4] = {c.pad_id, c.bos_id, c.eos_id, c.unk_id};
  const char* names[4] = {"<pad>", "<s>", "</s>", "<unk>"};
  for (int i = 0; i < 4; ++i) {
    if (ids[i] >= 4) throw core::Error("special token ids must be 0..3");
    tokens[ids[i]] = names[i];
  }
  std::unordered_map<std::string, std::uint64_t> count;
  for (const auto* side : {&text.src, &text.tgt})
    for (const auto& line : *side)
      for (auto piece : split_pieces(line)) ++count[std::string(piece)];
  for (const char* name : names) count.erase(name);  // a literal "<unk>" piece is the special
  std::vector<std::pair<std::string, std::uint64_t>> sorted(count.begin(), count.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  for (auto& [piece, n] : sorted) tokens.push_back(piece);
  return Vocabulary(std::move(tokens));
}

Vocabulary vocabulary_from_pieces(std::vector<std::string> pieces, const ModelConfig& c,
                                  const std::string& source) {
  const std::pair<std::uint32_t, const char*> specials[] = {
      {c.pad_id, "<pad>"}, {c.bos_id, "<s>"}, {c.eos_id, "</s>"}, {c.unk_id, "<unk>"}};
  for (const auto& [id, name] : specials)
    if (id >= pieces.size() || pieces[id] != name)
      throw core::InputError(
          fmt::format("piece {} is '{}', the model needs '{}' there", id,
                      id < pieces.size() ? pieces[id] : std::string("(none)"), name),
          {source, 0, 0, {}},
          "train SentencePiece with pad 0, bos 1, eos 2, unk 3 (keel nmt corpus does)");
  return Vocabulary(std::move(pieces));
}

Ids to_ids(std::string_view line, const Vocabulary& vocab, const ModelConfig& c, bool append_eos) {
  Ids ids;
  for (auto piece : split_pieces(line)) ids.push_back(vocab.id(piece, c.unk_id));
  if (append_eos) ids.push_back(c.eos_id);
  return ids;
}

IdPairs to_id_pairs(const ParallelText& text, const Vocabulary& vocab, const ModelConfig& c,
                    std::size_t max_length, bool drop_empty) {
  IdPairs p;
  for (std::size_t i = 0; i < text.src.size(); ++i) {
    Ids s = to_ids(text.src[i], vocab, c, false), t = to_ids(text.tgt[i], vocab, c, false);
    if ((drop_empty && (s.empty() || t.empty())) ||
        (max_length > 0 && (s.size() > max_length || t.size() > max_length))) {
      ++p.skipped;
      continue;
    }
    s.push_back(c.eos_id);
    p.src.push_back(std::move(s));
    p.tgt.push_back(std::move(t));
  }
  return p;
}

std::vector<std::vector<std::size_t>> token_batches(const IdPairs& pairs, std::int64_t max_tokens,
                                                    std::uint64_t seed, std::int64_t epoch) {
  const std::size_t n = pairs.src.size();
  // Padded length of a pair: the decoder sees BOS + target (and predicts target + EOS).
  auto len = [&](std::size_t i) {
    return static_cast<std::int64_t>(std::max(pairs.src[i].size(), pairs.tgt[i].size() + 1));
  };
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  // std::shuffle's algorithm is the library's, but it is fixed for one build: the same binary
  // gives the same order on every run and after a resume.
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(epoch));
  std::shuffle(order.begin(), order.end(), rng);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return len(a) < len(b); });
  std::vector<std::vector<std::size_t>> batches;
  std::vector<std::size_t> cur;
  for (std::size_t i : order) {  // ascending, so pair i is the longest of the batch it joins
    if (!cur.empty() && static_cast<std::int64_t>(cur.size() + 1) * len(i) > max_tokens) {
      batches.push_back(std::move(cur));
      cur.clear();
    }
    cur.push_back(i);
  }
  if (!cur.empty()) batches.push_back(std::move(cur));
  std::shuffle(batches.begin(), batches.end(), rng);
  return batches;
}

std::string detokenize_pieces(std::string_view pieces) {
  static constexpr std::string_view kSpace = "\xe2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK
  std::string out;
  for (auto piece : split_pieces(pieces)) {
    for (std::size_t i = 0; i < piece.size();) {
      if (piece.compare(i, kSpace.size(), kSpace) == 0) {
        out += ' ';
        i += kSpace.size();
      } else {
        out += piece[i++];
      }
    }
  }
  const auto first = out.find_first_not_of(' ');
  if (first == std::string::npos) return {};
  const auto last = out.find_last_not_of(' ');
  return out.substr(first, last - first + 1);
}

std::uint64_t vocabulary_hash(const Vocabulary& vocab) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& t : vocab.tokens()) {
    for (unsigned char ch : t) h = (h ^ ch) * 0x100000001b3ull;
    h = (h ^ 0xffu) * 0x100000001b3ull;  // separator: "ab","c" differs from "a","bc"
  }
  return h;
}

}  // namespace keel::nmt
