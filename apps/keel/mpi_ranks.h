#pragma once
// MPI for keel's own commands (power sweep, power optimize) when launched by mpirun/srun; a plain
// single process otherwise (no MPI_Init: a singleton OpenMPI start is slow and needs its daemon).
// The rank and size come from the launcher's environment, so work starts while MPI_Init (~0.25 s
// here) runs on its own thread; that thread makes every MPI call (MPI_THREAD_FUNNELED).

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
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
};

}  // namespace keel::cli
