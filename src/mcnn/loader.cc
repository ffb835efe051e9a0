#include "keel/mcnn/loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "keel/core/error.h"
#include "keel/mcnn/tiff.h"

namespace keel::mcnn {

void normalise_channel(const std::uint16_t* in, std::size_t n, float* out) {
  double sum = 0, sq = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double v = in[i];
    sum += v;
    sq += v * v;
  }
  double mean = n ? sum / static_cast<double>(n) : 0;
  double var = n ? std::max(0.0, sq / static_cast<double>(n) - mean * mean) : 0;
  float inv = static_cast<float>(1.0 / std::max(std::sqrt(var), 16.0));
  float m = static_cast<float>(mean);
  for (std::size_t i = 0; i < n; ++i) out[i] = (static_cast<float>(in[i]) - m) * inv;
}

void load_sample(const Dataset& ds, const Sample& s, int height, int width, float* out) {
  const std::size_t plane = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  for (std::size_t c = 0; c < s.files.size(); ++c) {
    const std::string column =
        c < ds.channel_columns.size() ? ds.channel_columns[c] : "channel " + std::to_string(c);
    Image16 img;
    try {
      img = read_tiff16(s.files[c]);
    } catch (const core::InputError& e) {
      throw core::InputError(fmt::format("column '{}': {}", column, e.what()),
                             {ds.source.string(), s.row.line, 0, {}});
    }
    if (img.height != height || img.width != width)
      throw core::InputError(fmt::format("column '{}': image '{}' is {}x{}, expected {}x{} (all "
                                         "images of a run must have one size)",
                                         column, s.files[c].string(), img.height, img.width,
                                         height, width),
                             {ds.source.string(), s.row.line, 0, {}});
    normalise_channel(img.pixels.data(), plane, out + c * plane);
  }
}

PrefetchLoader::PrefetchLoader(const Dataset& ds, std::vector<std::vector<std::size_t>> batches,
                               int height, int width, int threads, int depth)
    : ds_(ds), batches_(std::move(batches)), height_(height), width_(width),
      depth_(std::max(1, depth)) {
  for (int t = 0; t < std::max(1, threads); ++t) workers_.emplace_back([this] { work(); });
}

PrefetchLoader::~PrefetchLoader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& w : workers_) w.join();
}

void PrefetchLoader::work() {
  for (;;) {
    std::size_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Claim the next batch only while fewer than `depth` batches are ahead of the consumer.
      cv_.wait(lock, [&] {
        return stop_ || next_claim_ >= batches_.size() ||
               next_claim_ < next_out_ + static_cast<std::size_t>(depth_);
      });
      if (stop_ || next_claim_ >= batches_.size()) return;
      b = next_claim_++;
    }
    Batch batch;
    std::exception_ptr err;
    try {
      const auto& idx = batches_[b];
      const std::size_t channels = ds_.channels.size();
      const std::size_t per =
          channels * static_cast<std::size_t>(height_) * static_cast<std::size_t>(width_);
      batch.n = static_cast<int>(idx.size());
      batch.channels = static_cast<int>(channels);
      batch.height = height_;
      batch.width = width_;
      batch.indices = idx;
      batch.data.resize(per * idx.size());
      for (std::size_t i = 0; i < idx.size(); ++i) {
        const Sample& s = ds_.samples[idx[i]];
        load_sample(ds_, s, height_, width_, batch.data.data() + i * per);
        batch.labels.push_back(s.label);
      }
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (err) failed_[b] = err;
      else ready_[b] = std::move(batch);
    }
    cv_.notify_all();
  }
}

std::optional<Batch> PrefetchLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  if (next_out_ >= batches_.size()) return std::nullopt;
  const std::size_t b = next_out_;
  cv_.wait(lock, [&] { return ready_.count(b) || failed_.count(b); });
  if (auto f = failed_.find(b); f != failed_.end()) std::rethrow_exception(f->second);
  Batch out = std::move(ready_[b]);
  ready_.erase(b);
  ++next_out_;
  lock.unlock();
  cv_.notify_all();
  return out;
}

}  // namespace keel::mcnn
