#pragma once
// `keel --version`: the version, the commit it was built from, the build type and the versions
// of the libraries it runs with, as a bug report needs them.

#include <string>

namespace keel::cli {

// keel: its own lines plus oneDNN, and LibTorch / MPI as reported by the keel-train it would
// start. keel-train: its own lines plus LibTorch and MPI.
std::string version_text();

}  // namespace keel::cli
