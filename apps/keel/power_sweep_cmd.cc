// `keel power sweep`: a scenario over a grid of parameter values, one CSV row per point. Under
// `mpirun -np N` (OpenMPI's environment says so) the points are dealt round-robin to the ranks
// and gathered on rank 0, which writes them in point order: the output equals one rank's.
#include <mpi.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <iostream>
#include <map>

#include "cli.h"
#include "keel/core/atomic_file.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"
#include "keel/power/spec.h"
#include "keel/power/sweep.h"

namespace keel::cli {

namespace {

struct SweepArgs {
  std::string scenario, grid, spec, out;
};

// MPI when launched by mpirun/srun; a plain single process otherwise (no MPI_Init: a singleton
// OpenMPI start is slow and needs its daemon). The rank and size come from the launcher's
// environment, so points are computed while MPI_Init (~0.25 s here) runs on its own thread; that
// thread makes every MPI call (MPI_THREAD_FUNNELED).
class Ranks {
 public:
  Ranks() {
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
    run([this] {
      int provided = 0;
      MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
      int r = 0, n = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &r);
      MPI_Comm_size(MPI_COMM_WORLD, &n);
      if (r != rank_ || n != size_) std::abort();  // the launcher's variables lied
    }, false);
  }
  ~Ranks() {
    if (!mpi_) return;
    run([] { MPI_Finalize(); });
    run({});  // stop the thread
    thread_.join();
  }
  Ranks(const Ranks&) = delete;
  Ranks& operator=(const Ranks&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Every rank's (point, row) pairs on rank 0 (empty elsewhere).
  std::map<std::size_t, std::string> gather(const std::map<std::size_t, std::string>& mine) {
    if (!mpi_ || size_ == 1) return mine;
    std::string packed;  // "point\trow\n" per row
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
  // All ranks learn whether any failed, so none waits in gather for a rank that threw.
  bool any(bool mine) {
    if (!mpi_ || size_ == 1) return mine;
    int in = mine, out = 0;
    run([&] { MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD); });
    return out != 0;
  }

 private:
  // Runs `job` on the MPI thread (an empty job ends it); waits for it unless `wait` is false.
  void run(std::function<void()> job, bool wait = true) {
    std::unique_lock lock(mu_);
    jobs_.push_back(std::move(job));
    cv_.notify_all();
    if (wait) cv_.wait(lock, [&] { return jobs_.empty() && !busy_; });
  }
  void serve() {
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

  bool mpi_ = false;
  int rank_ = 0, size_ = 1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool busy_ = false;
};

void run_sweep(const SweepArgs& a, const GlobalOptions& g) {
  const auto t0 = std::chrono::steady_clock::now();
  Ranks ranks;
  // Every rank reads and checks the inputs: a bad file fails everywhere with the same line.
  power::Spec spec = a.spec.empty() ? power::Spec{} : power::load_spec(a.spec);
  power::Sweep sweep(a.scenario, power::load_sweep(a.grid), spec);
  const std::size_t n = sweep.grid().points();
  std::map<std::size_t, std::string> mine;
  core::Progress bar("sweep", n, ranks.rank() == 0 && core::progress_enabled(g.quiet), "point");
  std::string error;
  try {
    for (std::size_t p = static_cast<std::size_t>(ranks.rank()); p < n;
         p += static_cast<std::size_t>(ranks.size())) {
      mine[p] = sweep.row(p);
      bar.update(std::min(n, (p + 1)));
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  bar.finish();
  core::log_debug("sweep rank {}/{}: {} points in {:.3f} s", ranks.rank(), ranks.size(), mine.size(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (ranks.any(!error.empty())) {
    if (!error.empty()) throw core::Error("sweep: " + error);
    throw core::Error(fmt::format("sweep: another rank failed (rank {} of {} stops)", ranks.rank(),
                                  ranks.size()));
  }
  const auto rows = ranks.gather(mine);
  core::log_debug("sweep rank {}: gathered at {:.3f} s", ranks.rank(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (ranks.rank() != 0) return;
  std::string csv = sweep.header() + "\n";
  for (const auto& [p, r] : rows) csv += r + "\n";
  if (a.out.empty()) {
    std::cout << csv;
  } else {
    core::AtomicFile f(a.out);
    f.stream() << csv;
    f.commit();
    std::size_t pass = 0;
    for (const auto& [p, r] : rows) pass += r.find(",PASS,") != std::string::npos;
    if (g.json)
      print_out(fmt::format(R"({{"out": "{}", "points": {}, "pass": {}, "ranks": {}}})", a.out,
                            rows.size(), pass, ranks.size()));
    else if (!g.quiet)
      print_out(fmt::format("wrote {} ({} points, {} pass the spec; {} rank(s))", a.out,
                            rows.size(), pass, ranks.size()));
  }
}

}  // namespace

void register_power_sweep(CLI::App& power, const GlobalOptions& global) {
  auto a = std::make_shared<SweepArgs>();
  auto* s = power.add_subcommand(
      "sweep",
      "Evaluate a scenario over a grid of parameter values (one CSV row per point; split over "
      "ranks under mpirun)");
  s->add_option("scenario", a->scenario, "Scenario TOML")->required()->check(CLI::ExistingFile);
  s->add_option("--grid", a->grid,
                "Sweep TOML: a [sweep] table listing values per scenario key, e.g. "
                "\"mitigation.smoothing.percent_tmp_floor\" = [50, 70, 90]")
      ->required()
      ->check(CLI::ExistingFile);
  s->add_option("--spec", a->spec, "Utility spec TOML each point is judged against")
      ->check(CLI::ExistingFile);
  s->add_option("--out", a->out, "CSV to write (default: stdout)");
  s->callback([a, &global] { run_sweep(*a, global); });
}

}  // namespace keel::cli
