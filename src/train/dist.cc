#include "keel/train/dist.h"

#include <mpi.h>

#include <cstdlib>
#include <limits>
#include <string>

#include "keel/core/error.h"

namespace keel::train {

namespace {
void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw core::Error(std::string("MPI ") + what + " failed");
}
// MPI counts are int: split large buffers.
template <typename F>
void chunked(std::size_t n, F&& f) {
  constexpr std::size_t kMax = std::numeric_limits<int>::max() / 2;
  for (std::size_t off = 0; off < n; off += kMax) f(off, static_cast<int>(std::min(kMax, n - off)));
}
}  // namespace

bool launched_under_mpi() {
  if (const char* v = std::getenv("KEEL_MPI"); v && std::string(v) == "0") return false;
  for (const char* k : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(k)) return true;
  if (const char* n = std::getenv("SLURM_STEP_NUM_TASKS"); n && std::atoi(n) > 1)
    throw core::InputError(
        std::string("srun started ") + n +
            " tasks but no MPI process manager is visible (no PMIx/PMI variables)",
        {}, "launch with srun --mpi=pmix (Debian's OpenMPI reaches Slurm through PMIx) or mpirun");
  return false;
}

struct Comm::Pending {
  std::vector<MPI_Request> requests;
};

Comm::~Comm() {
  finalize();
}

Comm::Comm() : pending_(std::make_unique<Pending>()) {
  if (!launched_under_mpi()) return;
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "init");
  mpi_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm node;
  check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
        "comm_split_type");
  MPI_Comm_size(node, &local_size_);
  MPI_Comm_free(&node);
}

Comm& Comm::world() {
  static Comm comm;
  return comm;
}

void Comm::allreduce_sum(float* data, std::size_t n) const {
  if (size_ == 1) return;
  chunked(n, [&](std::size_t off, int cnt) {
    check(MPI_Allreduce(MPI_IN_PLACE, data + off, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD),
          "allreduce");
  });
}

void Comm::iallreduce_sum(float* data, std::size_t n) const {
  if (size_ == 1) return;
  chunked(n, [&](std::size_t off, int cnt) {
    MPI_Request r;
    check(MPI_Iallreduce(MPI_IN_PLACE, data + off, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &r),
          "iallreduce");
    pending_->requests.push_back(r);
  });
}

void Comm::progress() const {
  if (pending_->requests.empty()) return;
  int done = 0;
  check(MPI_Testall(static_cast<int>(pending_->requests.size()), pending_->requests.data(), &done,
                    MPI_STATUSES_IGNORE),
        "testall");
  if (done) pending_->requests.clear();
}

void Comm::wait_all() const {
  if (pending_->requests.empty()) return;
  check(MPI_Waitall(static_cast<int>(pending_->requests.size()), pending_->requests.data(),
                    MPI_STATUSES_IGNORE),
        "waitall");
  pending_->requests.clear();
}

void Comm::allreduce_sum(double* data, std::size_t n) const {
  if (size_ == 1) return;
  chunked(n, [&](std::size_t off, int cnt) {
    check(MPI_Allreduce(MPI_IN_PLACE, data + off, cnt, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
          "allreduce");
  });
}

void Comm::broadcast(float* data, std::size_t n, int root) const {
  if (size_ == 1) return;
  chunked(n, [&](std::size_t off, int cnt) {
    check(MPI_Bcast(data + off, cnt, MPI_FLOAT, root, MPI_COMM_WORLD), "broadcast");
  });
}

void Comm::broadcast(double* data, std::size_t n, int root) const {
  if (size_ == 1) return;
  chunked(n, [&](std::size_t off, int cnt) {
    check(MPI_Bcast(data + off, cnt, MPI_DOUBLE, root, MPI_COMM_WORLD), "broadcast");
  });
}

std::vector<double> Comm::gather(const std::vector<double>& local, int root) const {
  if (size_ == 1) return local;
  int n = static_cast<int>(local.size());
  std::vector<int> counts(static_cast<std::size_t>(size_)), displs(counts.size());
  check(MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, root, MPI_COMM_WORLD), "gather");
  std::vector<double> all;
  if (rank_ == root) {
    int total = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      displs[r] = total;
      total += counts[r];
    }
    all.resize(static_cast<std::size_t>(total));
  }
  check(MPI_Gatherv(local.data(), n, MPI_DOUBLE, all.data(), counts.data(), displs.data(),
                    MPI_DOUBLE, root, MPI_COMM_WORLD),
        "gatherv");
  return all;
}

void Comm::barrier() const {
  if (size_ > 1) MPI_Barrier(MPI_COMM_WORLD);
}

void Comm::abort(int code) const {
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

void Comm::finalize() {
  if (mpi_ && !finalized_) MPI_Finalize();
  finalized_ = true;
}

}  // namespace keel::train
