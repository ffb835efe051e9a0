#include "version.h"

#include <fmt/format.h>

#include <cstdio>

#include "build_info.h"  // KEEL_GIT_COMMIT, written at build time (cmake/keel_build_info.cmake)
#include "install_paths.h"

#ifdef KEEL_TRAIN_BINARY
#include "keel/train/dist.h"
#else
#include "keel/nmt/gemm.h"
#endif

namespace keel::cli {

namespace {

std::string head() {
  return fmt::format("keel {}\ncommit:   {}\nbuild:    {}\n", KEEL_VERSION, KEEL_GIT_COMMIT,
                     KEEL_BUILD_TYPE);
}

#ifndef KEEL_TRAIN_BINARY
// The LibTorch and MPI lines of `keel-train --version`.
std::string train_lines() {
  std::string tried;
  auto train = find_train_binary(&tried);
  if (!train) return "LibTorch: not available (no keel-train at " + tried + ")\n";
  std::string cmd = shell_quote(train->string()) + " --version 2>/dev/null";
  std::string out, lines;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  for (std::size_t pos = 0; pos < out.size();) {
    auto nl = out.find('\n', pos);
    std::string line = out.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos + 1);
    if (line.starts_with("LibTorch:") || line.starts_with("MPI:")) lines += line;
    pos = nl == std::string::npos ? out.size() : nl + 1;
  }
  return lines.empty() ? "LibTorch: unknown (" + train->string() + " --version failed)\n" : lines;
}
#endif

}  // namespace

std::string version_text() {
#ifdef KEEL_TRAIN_BINARY
  return head() + fmt::format("LibTorch: {}\nMPI:      {}\n", train::libtorch_version(),
                              train::mpi_library_version());
#else
  return head() + fmt::format("oneDNN:   {}\n", nmt::gemm_backend().substr(7)) + train_lines();
#endif
}

}  // namespace keel::cli
