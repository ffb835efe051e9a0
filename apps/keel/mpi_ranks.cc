// MPI ranks for keel's commands (mpi_ranks.h).
#include "mpi_ranks.h"

#include <mpi.h>

#include <chrono>
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
  // The power commands exchange a few kilobytes. OpenMPI's default start probes UCX, libfabric
  // and PSM for the cm PML (0.2 s of a core here, taken from the ranks' own work); ob1 starts in
  // 0.04 s and carries small messages over shared memory or TCP anywhere. A user's choice wins.
  setenv("OMPI_MCA_pml", "ob1", 0);
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
  // "index\tlength\ttext" per entry: a text may hold line breaks (a quoted CSV cell).
  std::string packed;
  for (const auto& [p, r] : mine)
    packed += std::to_string(p) + '\t' + std::to_string(r.size()) + '\t' + r;
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
    const auto tab = all.find('\t', i), tab2 = all.find('\t', tab + 1);
    const std::size_t n = std::stoul(all.substr(tab + 1, tab2 - tab - 1));
    out[std::stoul(all.substr(i, tab - i))] = all.substr(tab2 + 1, n);
    i = tab2 + 1 + n;
  }
  return out;
}

bool Ranks::any(bool mine) {
  if (!mpi_ || size_ == 1) return mine;
  int in = mine, out = 0;
  run([&] { MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD); });
  return out != 0;
}

void Ranks::barrier() {
  if (!mpi_ || size_ == 1) return;
  run([] { MPI_Barrier(MPI_COMM_WORLD); });
}

void Ranks::sum(std::vector<double>& v) {
  if (!mpi_ || size_ == 1) return;
  run([&] {
    MPI_Allreduce(MPI_IN_PLACE, v.data(), static_cast<int>(v.size()), MPI_DOUBLE, MPI_SUM,
                  MPI_COMM_WORLD);
  });
}

namespace {
constexpr int kAsk = 71, kQuit = 72, kIndex = 73;  // message tags of deal()
}

void Ranks::deal(std::size_t n) {
  const auto ranks = static_cast<std::size_t>(size_);
  n_ = n;
  head_ = ranks == 1 ? n : (n - n / 4) / ranks * ranks;
  own_ = static_cast<std::size_t>(rank_);
  next_ = head_;
  left_ = false;
  if (mpi_ && size_ > 1 && rank_ == 0) run([this] { serve_deal(); }, false);
}

std::optional<std::size_t> Ranks::next() {
  if (left_) return std::nullopt;
  if (own_ < head_) {
    const std::size_t i = own_;
    own_ += static_cast<std::size_t>(size_);
    return i;
  }
  std::size_t i = n_;
  if (!mpi_ || size_ == 1 || rank_ == 0) {
    i = next_.fetch_add(1);
  } else {
    unsigned long long got = 0;
    run([&] {
      MPI_Send(nullptr, 0, MPI_BYTE, 0, kAsk, MPI_COMM_WORLD);
      MPI_Recv(&got, 1, MPI_UNSIGNED_LONG_LONG, 0, kIndex, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    });
    i = static_cast<std::size_t>(got);
  }
  if (i < n_) return i;
  left_ = true;  // rank 0's server counted this rank out when it answered past the end
  return std::nullopt;
}

void Ranks::leave() {
  if (left_) return;
  left_ = true;
  if (!mpi_ || size_ == 1) return;
  if (rank_ == 0) {
    next_ = n_;  // the others get their end at their next request
  } else {
    run([] { MPI_Send(nullptr, 0, MPI_BYTE, 0, kQuit, MPI_COMM_WORLD); });
  }
}

// Rank 0's MPI thread while dealing. It polls every millisecond rather than blocking in MPI_Recv:
// OpenMPI's blocking receive spins and would take rank 0's core from its own work (a point costs
// tens of ms, so the wait is noise).
void Ranks::serve_deal() {
  int open = size_ - 1;  // ranks that have not had their end yet
  while (open > 0) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    MPI_Recv(nullptr, 0, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (st.MPI_TAG == kQuit) {
      --open;
      continue;
    }
    const unsigned long long i = std::min(next_.fetch_add(1), n_);
    MPI_Send(&i, 1, MPI_UNSIGNED_LONG_LONG, st.MPI_SOURCE, kIndex, MPI_COMM_WORLD);
    if (i >= n_) --open;
  }
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
