#pragma once
// Conventions shared by every `keel` subcommand family: global flags and how results are printed.

#include <CLI/CLI.hpp>

#include <string>

#include "keel/core/error.h"

namespace keel::cli {

// Flags every command accepts (defined on the top-level app, usable after any subcommand).
struct GlobalOptions {
  bool json = false;   // machine-readable output on stdout
  bool quiet = false;  // no progress bars, no informational logs
  std::string log_level;
};

// Each family adds its subcommands under `app`; callbacks throw keel::core::Error on failure.
void register_power(CLI::App& app, const GlobalOptions& global);
void register_power_optimize(CLI::App& power, const GlobalOptions& global);
// `keel power analyze` (measured traces), added under the `power` subcommand by register_power.
void register_power_analyze(CLI::App& power, const GlobalOptions& global);
// `keel power fit` (calibrate the GPU model against a measured log), under `power`.
void register_power_fit(CLI::App& power, const GlobalOptions& global);
// `keel power sweep` (a grid of scenario values, MPI-parallel), under `power`.
void register_power_sweep(CLI::App& power, const GlobalOptions& global);
// `keel power watch` (a live log judged window by window), under `power`.
void register_power_watch(CLI::App& power, const GlobalOptions& global);
void register_nmt(CLI::App& app, const GlobalOptions& global);
// `keel nmt bleu` (sacreBLEU-compatible BLEU), added under `nmt` by register_nmt.
void register_nmt_bleu(CLI::App& nmt, const GlobalOptions& global);
// `keel nmt quantize` (static int8 calibration), under `nmt`.
void register_nmt_quantize(CLI::App& nmt, const GlobalOptions& global);
// `keel nmt import` (models trained elsewhere → keel model directories), under `nmt`.
void register_nmt_import(CLI::App& nmt, const GlobalOptions& global);
// `keel nmt bench` (translation speed side by side), under `nmt`.
void register_nmt_bench(CLI::App& nmt, const GlobalOptions& global);
// `keel nmt corpus` (apps/keel/nmt_corpus_cmd.cc), added under `nmt` by register_nmt.
void register_nmt_corpus(CLI::App& nmt, const GlobalOptions& global);
// `keel nmt serve` (HTTP translation server) and `keel nmt bench-serve` (its load generator).
void register_nmt_serve(CLI::App& nmt, const GlobalOptions& global);
void register_nmt_bench_serve(CLI::App& nmt, const GlobalOptions& global);
// `keel nmt train` (LibTorch): registered in keel-train only (keel hands the command over).
void register_nmt_train(CLI::App& nmt, const GlobalOptions& global);
void register_mcnn(CLI::App& app, const GlobalOptions& global);
// `keel mcnn predict` (apps/keel/mcnn_predict_cmd.cc), added under `mcnn` by register_mcnn.
void register_mcnn_predict(CLI::App& mcnn, const GlobalOptions& global);
// `keel mcnn plan` (apps/keel/mcnn_plan_cmd.cc), under `mcnn`.
void register_mcnn_plan(CLI::App& mcnn, const GlobalOptions& global);

// Number checks for options with a message a user can act on ("must be at least 1, got 0");
// CLI11's own PositiveNumber prints the range up to 1.8e308.
extern const CLI::Validator Positive;     // > 0
extern const CLI::Validator NonNegative;  // >= 0
extern const CLI::Validator Finite;       // a number, not nan or inf
// A file keel will write: not empty, not a directory, in an existing directory (checked when the
// flags are parsed, so a typo fails before the command's work; core::check_output_file).
extern const CLI::Validator OutputFile;
// A directory keel writes into (created when missing): core::check_output_directory.
extern const CLI::Validator OutputDirectory;

// Throws core::InputError when standard input is a directory (`keel ... < dir` reads nothing and
// would otherwise exit 0 with no output).
void check_stdin_readable();

// Prints `text` to stdout, followed by a newline when it lacks one.
void print_out(const std::string& text);

// `s` with newlines turned into spaces and trailing spaces dropped: errors are one line.
std::string one_line(std::string s);

// An error its command has already printed (main only exits with the code): under mpirun a
// failing rank prints before any rank exits, since mpirun kills the others at the first
// non-zero exit.
class AlreadyReported : public keel::core::Error {
 public:
  explicit AlreadyReported(int code) : Error("(reported)"), code_(code) {}
  int exit_code() const override { return code_; }

 private:
  int code_;
};

}  // namespace keel::cli
