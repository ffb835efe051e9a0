#include "omp_policy.h"

#include <sched.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "keel/core/log.h"

namespace keel::cli {

namespace {

constexpr const char* kMarker = "KEEL_OMP_AUTO";  // set when keel chose the policy itself

// Other runnable tasks right now (/proc/loadavg's running count, less this process), or the
// test override KEEL_ASSUME_BUSY.
bool cores_busy() {
  if (const char* f = std::getenv("KEEL_ASSUME_BUSY")) return std::string_view(f) == "1";
  std::ifstream in("/proc/loadavg");
  std::string a, b, c, running;
  if (!(in >> a >> b >> c >> running)) return false;
  const auto slash = running.find('/');
  const int n = std::atoi(running.substr(0, slash).c_str());
  return n - 1 >= 1;
}

// The first two words that are not flags ("nmt translate").
bool is_openmp_command(int argc, char** argv, bool* in_keel) {
  std::string_view w[2];
  int k = 0;
  for (int i = 1; i < argc && k < 2; ++i) {
    std::string_view a = argv[i];
    if (a == "--log-level") {
      ++i;
      continue;
    }
    if (!a.starts_with("-")) w[k++] = a;
  }
  if ((w[0] == "mcnn" && (w[1] == "train" || w[1] == "eval")) ||
      (w[0] == "nmt" && w[1] == "train")) {
    *in_keel = false;  // keel-train: the environment travels with the exec
    return true;
  }
  *in_keel = true;
  if (w[0] == "mcnn") return false;
  return w[0] == "nmt" && (w[1] == "translate" || w[1] == "bench" || w[1] == "quantize");
}

}  // namespace

void choose_openmp_wait_policy(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv(kMarker))
    return;  // the user's choice, or already decided by the keel that started this one
  bool in_keel = true;
  if (!is_openmp_command(argc, argv, &in_keel) || !cores_busy()) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::setenv(kMarker, "passive", 1);
  if (!in_keel) return;
  ::execv("/proc/self/exe", argv);  // libgomp is loaded already: start again with the policy
  ::unsetenv("OMP_WAIT_POLICY");    // exec failed: carry on as before
  ::unsetenv(kMarker);
}

void report_openmp_wait_policy() {
  if (const char* m = std::getenv(kMarker); m && std::string_view(m) == "passive")
    core::log_debug(
        "other processes share the cores: OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE; "
        "set OMP_WAIT_POLICY=ACTIVE to spin)");
}

}  // namespace keel::cli
