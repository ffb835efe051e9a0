#pragma once
// OpenMP teams spin at barriers (libgomp's default), which costs several times their speed when
// another process shares the cores. libgomp reads OMP_WAIT_POLICY only when it is loaded, so keel
// decides before: when the cores are busy at start and the user set no policy, the OpenMP
// commands run with OMP_WAIT_POLICY=PASSIVE (keel-train gets it in its environment; keel's own
// nmt commands re-execute keel once). On idle cores nothing changes: spinning is faster there.

namespace keel::cli {

// Call first in main(). May replace the process (execv) for keel's own OpenMP commands.
void choose_openmp_wait_policy(int argc, char** argv);

// Logs what choose_openmp_wait_policy decided (after logging is initialised; debug level, so
// stderr stays one line per error).
void report_openmp_wait_policy();

}  // namespace keel::cli
