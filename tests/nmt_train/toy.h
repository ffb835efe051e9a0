#pragma once
// A toy translation task for trainer tests: random strings of 16 letter pieces and their
// reversal, written as line-aligned piece files.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

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

}  // namespace keel::testing
