#pragma once
// A toy translation task for trainer tests: random strings of 16 letter pieces and their
// reversal, written as line-aligned piece files.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "keel/nmt/sentencepiece.h"

namespace keel::testing {

inline std::filesystem::path nmt_temp(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() /
           ("keel_nmt_train_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(p);
  return p;
}

// Writes DIR/{train,dev}.{src,tgt}.sp: `pairs` training and `dev` dev pairs of 3..max_len
// pieces ("▁a".."▁p"), the target being the source reversed.
inline void write_toy_task(const std::filesystem::path& dir, int pairs, int dev, int max_len,
                           unsigned seed) {
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  auto write = [&](const std::string& split, int n) {
    std::ofstream src(dir / (split + ".src.sp")), tgt(dir / (split + ".tgt.sp"));
    for (int i = 0; i < n; ++i) {
      const int len = 3 + static_cast<int>(rng() % static_cast<unsigned>(max_len - 2));
      std::vector<std::string> w;
      for (int k = 0; k < len; ++k)
        w.push_back("\xe2\x96\x81" + std::string(1, static_cast<char>('a' + rng() % 16)));
      for (int k = 0; k < len; ++k) src << (k ? " " : "") << w[k];
      for (int k = len - 1; k >= 0; --k) tgt << (k != len - 1 ? " " : "") << w[k];
      src << '\n';
      tgt << '\n';
    }
  };
  write("train", pairs);
  write("dev", dev);
}

// Writes DIR/{train,dev}.{src,tgt} (raw: 3..7 words of a 24-word list, the target in reverse
// order), spm.model trained on them, and the .sp piece files it makes of them: the layout
// `keel nmt corpus` writes.
inline void write_toy_spm_task(const std::filesystem::path& dir, int pairs, int dev,
                               unsigned seed) {
  static const char* words[] = {"red",   "green", "blue",  "cat",   "dog",  "house",
                                "tree",  "river", "sings", "walks", "sees", "eats",
                                "big",   "small", "old",   "new",   "the",  "a",
                                "under", "over",  "fast",  "slow",  "day",  "night"};
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  std::vector<std::string> all;
  std::vector<std::pair<std::string, std::vector<std::pair<std::string, std::string>>>> splits = {
      {"train", {}}, {"dev", {}}};
  for (auto& [split, lines] : splits) {
    const int n = split == "train" ? pairs : dev;
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> w(3 + rng() % 5);
      for (auto& x : w) x = words[rng() % 24];
      std::string src, tgt;
      for (std::size_t k = 0; k < w.size(); ++k) {
        src += (k ? " " : "") + w[k];
        tgt += (k ? " " : "") + w[w.size() - 1 - k];
      }
      all.push_back(src);
      all.push_back(tgt);
      lines.emplace_back(src, tgt);
    }
  }
  keel::nmt::SentencePieceTrainOptions o;
  o.vocab_size = 40;
  std::ofstream(dir / "spm.model", std::ios::binary) << keel::nmt::train_sentencepiece(all, o);
  const auto sp = keel::nmt::SentencePiece::load(dir / "spm.model");
  for (const auto& [split, lines] : splits) {
    std::ofstream src(dir / (split + ".src")), tgt(dir / (split + ".tgt")),
        src_sp(dir / (split + ".src.sp")), tgt_sp(dir / (split + ".tgt.sp"));
    for (const auto& [s, t] : lines) {
      src << s << '\n';
      tgt << t << '\n';
      src_sp << sp.encode_line(s) << '\n';
      tgt_sp << sp.encode_line(t) << '\n';
    }
  }
}

}  // namespace keel::testing
