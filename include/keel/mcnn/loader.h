#pragma once
// Decoding and batching. Normalisation (documented in docs/mcnn.md): each channel of each image is
// standardised on its own, x = (v - mean) / max(std, 16) over that channel's pixels, so plate- and
// exposure-level intensity differences do not reach the network (16 = one 12-bit camera step in
// BBBC021's x16-scaled values).

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "keel/mcnn/bbbc021.h"

namespace keel::mcnn {

// Decodes the channels of `s` (a sample of `ds`) into out[C*H*W] (CHW), normalised as above.
// Throws InputError naming the file, and the source CSV's line and column, when a file is bad or
// its size is not height x width.
void load_sample(const Dataset& ds, const Sample& s, int height, int width, float* out);
// The normalisation alone, in place over n pixels of one channel.
void normalise_channel(const std::uint16_t* in, std::size_t n, float* out);

struct Batch {
  std::vector<float> data;             // [n,C,H,W]
  std::vector<std::int64_t> labels;    // [n] (-1: unlabelled)
  std::vector<std::size_t> indices;    // dataset indices
  int n = 0, channels = 0, height = 0, width = 0;
};

// Decodes batches on background threads, `depth` batches ahead of the consumer, and hands them
// out in order: the training threads never wait on libtiff once the pipeline is full.
class PrefetchLoader {
 public:
  PrefetchLoader(const Dataset& ds, std::vector<std::vector<std::size_t>> batches, int height,
                 int width, int threads, int depth);
  ~PrefetchLoader();
  PrefetchLoader(const PrefetchLoader&) = delete;
  PrefetchLoader& operator=(const PrefetchLoader&) = delete;

  // The next batch in order, or nullopt after the last; rethrows a decoding error.
  std::optional<Batch> next();
  std::size_t size() const { return batches_.size(); }

 private:
  void work();
  const Dataset& ds_;
  std::vector<std::vector<std::size_t>> batches_;
  int height_, width_, depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t next_claim_ = 0, next_out_ = 0;
  bool stop_ = false;
  std::map<std::size_t, Batch> ready_;
  std::map<std::size_t, std::exception_ptr> failed_;
  std::vector<std::thread> workers_;
};

}  // namespace keel::mcnn
