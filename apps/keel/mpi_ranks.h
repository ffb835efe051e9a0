#pragma once
// MPI for keel's own commands (power sweep, power optimize) when launched by mpirun/srun; a plain
// single process otherwise (no MPI_Init: a singleton OpenMPI start is slow and needs its daemon).
// The rank and size come from the launcher's environment, so work starts while MPI_Init (~0.25 s
// here) runs on its own thread; that thread makes every MPI call (MPI_THREAD_FUNNELED).

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace keel::cli {

class Ranks {
 public:
  Ranks();
  ~Ranks();
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Every rank's (index, text) pairs on rank 0 (empty elsewhere).
  std::map<std::size_t, std::string> gather(const std::map<std::size_t, std::string>& mine);
  // All ranks learn whether any failed, so none waits for a rank that threw.
  bool any(bool mine);
  // Element-wise sum over all ranks, in place on every rank.
  void sum(std::vector<double>& v);
  // Returns once every rank has called it.
  void barrier();

  // Deals indices 0..n-1 over the ranks: the first three quarters round-robin (no messages, so
  // work starts while MPI_Init still runs), the rest to whichever rank asks first, so noise
  // between ranks (up to two points' time here) evens out. Rank 0 keeps the counter of the rest;
  // its MPI thread answers the other ranks. Every rank calls deal(n) once, then next() until it
  // returns nullopt, or leave() to stop early (after a failure); nothing else may use MPI in
  // between. Rank 0's MPI thread is free again once every rank has had its end.
  void deal(std::size_t n);
  std::optional<std::size_t> next();
  void leave();
  // Indices started so far (rank 0's view; for progress).
  std::size_t dealt() const { return std::min(n_, std::max(own_, next_.load())); }

 private:
  // Runs `job` on the MPI thread (an empty job ends it); waits for it unless `wait` is false.
  void run(std::function<void()> job, bool wait = true);
  void serve();

  bool mpi_ = false;
  int rank_ = 0, size_ = 1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool busy_ = false;
  std::atomic<std::size_t> next_{0};  // next index of the dealt part (rank 0)
  std::size_t n_ = 0, head_ = 0, own_ = 0;  // indices, the round-robin part, this rank's next in it
  bool left_ = true;
  void serve_deal();
};

}  // namespace keel::cli
