// Versions of the libraries keel-train runs with, for `keel --version` (kept out of
// torch_train.cc so that printing them does not pull in <torch/torch.h>).
#include <mpi.h>
#include <torch/version.h>

#include <string>

#include "keel/train/dist.h"

namespace keel::train {

std::string libtorch_version() {
  return TORCH_VERSION;
}

std::string mpi_library_version() {
  // Callable before MPI_Init (MPI 3.0); the first line is enough ("Open MPI v4.1.4, ...").
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  if (MPI_Get_library_version(buf, &len) != MPI_SUCCESS) return "unknown";
  std::string s(buf, static_cast<std::size_t>(len));
  if (auto nl = s.find_first_of("\n,"); nl != std::string::npos) s.resize(nl);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace keel::train
