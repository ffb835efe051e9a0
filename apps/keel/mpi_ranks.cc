// MPI ranks for keel's commands (mpi_ranks.h).
#include "mpi_ranks.h"

#include <mpi.h>

#include <cstdlib>

namespace keel::cli {

Ranks::Ranks() {
  const auto env = [](const char* a, const char* b) -> int {
    const char* v = std::getenv(a);
    if (!v) v = std::getenv(b);
    return v ? std::atoi(v) : -1;
  };
  rank_ = env("OMPI_COMM_WORLD_RANK", "PMI_RANK");
  size_ = env("OMPI_COMM_WORLD_SIZE", "PMI_SIZE");
  mpi_ = size_ > 0 && rank_ >= 0;
  if (!mpi_) {
    rank_ = 0;
    size_ = 1;
    return;
  }
  thread_ = std::thread([this] { serve(); });
  run(
      [this] {
        int provided = 0;
        MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
        int r = 0, n = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &r);
        MPI_Comm_size(MPI_COMM_WORLD, &n);
        if (r != rank_ || n != size_) std::abort();  // the launcher's variables lied
      },
      false);
}

Ranks::~Ranks() {
  if (!mpi_) return;
  run([] { MPI_Finalize(); });
  run({});  // stop the thread
  thread_.join();
}

std::map<std::size_t, std::string> Ranks::gather(const std::map<std::size_t, std::string>& mine) {
  if (!mpi_ || size_ == 1) return mine;
  std::string packed;  // "index\ttext\n" per entry
  for (const auto& [p, r] : mine) packed += std::to_string(p) + '\t' + r + '\n';
  std::string all;
  run([&] {
    const int len = static_cast<int>(packed.size());
    std::vector<int> lens(static_cast<std::size_t>(size_)), offs(static_cast<std::size_t>(size_));
    MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (rank_ == 0) {
      int total = 0;
      for (std::size_t i = 0; i < lens.size(); ++i) offs[i] = total, total += lens[i];
      all.resize(static_cast<std::size_t>(total));
    }
    MPI_Gatherv(packed.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(), MPI_CHAR, 0,
                MPI_COMM_WORLD);
  });
  std::map<std::size_t, std::string> out;
  for (std::size_t i = 0; i < all.size();) {
    const auto tab = all.find('\t', i), nl = all.find('\n', i);
    out[std::stoul(all.substr(i, tab - i))] = all.substr(tab + 1, nl - tab - 1);
    i = nl + 1;
  }
  return out;
}

bool Ranks::any(bool mine) {
  if (!mpi_ || size_ == 1) return mine;
  int in = mine, out = 0;
  run([&] { MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD); });
  return out != 0;
}

void Ranks::sum(std::vector<double>& v) {
  if (!mpi_ || size_ == 1) return;
  run([&] {
    MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_DOUBLE, MPI_SUM,
                  MPI_COMM_WORLD);
  });
}

void Ranks::run(std::function<void()> job, bool wait) {
  std::unique_lock lock(mu_);
  jobs_.push_back(std::move(job));
  cv_.notify_all();
  if (wait) cv_.wait(lock, [&] { return jobs_.empty() && !busy_; });
}

void Ranks::serve() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return !jobs_.empty(); });
    auto job = std::move(jobs_.front());
    jobs_.pop_front();
    if (!job) {
      cv_.notify_all();  // run({}) waits for the queue to empty
      return;
    }
    busy_ = true;
    lock.unlock();
    job();
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace keel::cli
