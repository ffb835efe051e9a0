#pragma once
// Data-parallel communication over MPI, optional at run time: MPI is initialised only when the
// process was launched by mpirun/srun (their environment variables are present); otherwise the
// communicator is a single rank and every collective is a no-op.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace keel::train {

class Comm {
 public:
  // The process-wide communicator; initialises MPI on first use when launched under MPI.
  static Comm& world();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm();

  int rank() const { return rank_; }
  int size() const { return size_; }
  // Ranks on this node (MPI_COMM_TYPE_SHARED), whatever launched them: mpirun, srun, several
  // nodes; 1 without MPI. Threads per rank = cores / local_size().
  int local_size() const { return local_size_; }
  bool is_root() const { return rank_ == 0; }
  bool mpi() const { return mpi_; }

  // In-place sum over ranks.
  void allreduce_sum(float* data, std::size_t n) const;
  void allreduce_sum(double* data, std::size_t n) const;
  // Non-blocking in-place sum: starts it and returns; `data` must stay untouched until
  // wait_all(). Every rank must start the same reductions in the same order.
  void iallreduce_sum(float* data, std::size_t n) const;
  // Lets started reductions advance (MPI progresses them only inside MPI calls).
  void progress() const;
  // Waits for every reduction started with iallreduce_sum.
  void wait_all() const;
  void broadcast(float* data, std::size_t n, int root = 0) const;
  void broadcast(double* data, std::size_t n, int root = 0) const;
  // Concatenation of every rank's `local` on `root` (rank order); empty elsewhere.
  std::vector<double> gather(const std::vector<double>& local, int root = 0) const;
  void barrier() const;
  // Ends the whole job (every rank) after an error on one rank: the others would wait forever.
  [[noreturn]] void abort(int code) const;
  // MPI_Finalize when MPI was initialised; safe to call twice.
  void finalize();

 private:
  Comm();
  struct Pending;  // MPI requests in flight (MPI types stay out of this header)
  std::unique_ptr<Pending> pending_;
  int rank_ = 0, size_ = 1, local_size_ = 1;
  bool mpi_ = false, finalized_ = false;
};

// True when the environment shows an MPI launcher (OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK),
// unless KEEL_MPI=0. Throws core::InputError for a Slurm job step of several tasks without any
// of them (srun without an MPI plugin would run that many independent trainings writing the
// same files): Debian's OpenMPI needs `srun --mpi=pmix`.
bool launched_under_mpi();

// The MPI library's own version line ("Open MPI v4.1.4"), and LibTorch's version ("1.13.1").
std::string mpi_library_version();
std::string libtorch_version();

}  // namespace keel::train
