#pragma once
// One row of logits seen a run of columns at a time (Linear::forward_chunks), for beam search:
// the row's log-sum-exp, kept online (a running maximum, and a sum rescaled when it grows), and
// every entry that can still rank among the row's best `want` once scored base + (x − lse). The
// row is never held whole, so the output projection can run over all hypotheses at once with
// its weights and results in cache.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace keel::nmt {

struct ScoredToken {
  float score;  // base + (x − lse), in float, as the reference search computes it
  std::uint32_t token;
};

class RowScan {
 public:
  // Starts a row for a hypothesis of log-probability `base`, to keep its best `want` (≥ 1)
  // entries; the `n_excluded` tokens of `excluded` are never kept (they still count in the
  // log-sum-exp). -inf entries are never kept either.
  void reset(std::size_t want, float base, const std::uint32_t* excluded, std::size_t n_excluded);
  // Columns [n0, n0 + n) of the row, chunk after chunk in column order.
  void add(std::int64_t n0, const float* x, std::int64_t n);
  // log Σ exp(x) over every column added: max + log Σ exp(x − max), the sum in double.
  float lse() const;
  // Writes (token order) every kept entry that scores at least the row's want-th best, and
  // returns true; or returns false when that cannot be shown exactly: an entry dropped on the way
  // (x below the kept ones by a margin of ~1e-5 of the magnitudes) might score the same after
  // rounding. The caller then ranks the whole row itself.
  bool finish(std::vector<ScoredToken>& out) const;

 private:
  void compact();
  bool excluded(std::uint32_t token) const;

  std::size_t want_ = 1, cap_ = 32;
  float base_ = 0.f, max_ = 0.f, threshold_ = 0.f;
  double sum_ = 0.0;
  std::vector<std::uint32_t> excluded_;
  struct Entry {
    float x;
    std::uint32_t token;
  };
  std::vector<Entry> kept_;
};

}  // namespace keel::nmt
