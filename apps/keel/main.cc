// keel: one CLI over keel's engines. Argument parsing only; all logic lives in the libraries.
#include <fmt/format.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <string_view>
#include <vector>

#include "cli.h"
#include "completion.h"
#include "version.h"
#include "install_paths.h"
#include "omp_policy.h"
#include "keel/core/error.h"
#include "keel/core/interrupt.h"
#include "keel/core/log.h"

using keel::cli::one_line;

namespace {

// The deepest subcommand the user reached, for "see 'keel power simulate --help'" hints.
std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* cur = &app;
  for (;;) {
    auto subs = cur->get_subcommands();
    if (subs.empty()) break;
    cur = subs.front();
    path += " " + cur->get_name();
  }
  return path;
}

#if defined(KEEL_HAVE_TRAIN) && !defined(KEEL_TRAIN_BINARY)
// The LibTorch engines live in a second executable, keel-train, next to keel: Debian's
// libsentencepiece exports its own protobuf-lite and crashes in a process that also loads
// LibTorch's libprotobuf, and keel's other commands start in milliseconds without LibTorch.
// `keel mcnn ...` and `keel nmt train ...` are handed over with the arguments unchanged.
bool wants_train_binary(int argc, char** argv) {
  std::vector<std::string_view> words;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--log-level") {
      ++i;
      continue;
    }
    if (a.starts_with("-")) continue;
    words.push_back(a);
    if (words.size() == 2) break;
  }
  return (!words.empty() && words[0] == "mcnn") ||
         (words.size() == 2 && words[0] == "nmt" && words[1] == "train");
}

int exec_train_binary(char** argv) {
  std::string tried;
  auto train = keel::cli::find_train_binary(&tried);
  if (train) ::execv(train->c_str(), argv);
  std::cerr << fmt::format(
      "keel: error: cannot start keel-train for this command ({}: {}; install keel whole, or set "
      "KEEL_TRAIN to the keel-train executable)\n",
      tried.empty() ? train->string() : tried, train ? std::strerror(errno) : "not found");
  return 1;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  // Over a file-size limit (ulimit -f) a write fails with EFBIG and keel reports it, instead of
  // the process being killed by SIGXFSZ halfway through a file.
  std::signal(SIGXFSZ, SIG_IGN);
#ifndef KEEL_TRAIN_BINARY
  keel::cli::choose_openmp_wait_policy(argc, argv);
#endif
#if defined(KEEL_HAVE_TRAIN) && !defined(KEEL_TRAIN_BINARY)
  if (wants_train_binary(argc, argv)) return exec_train_binary(argv);
#endif
  CLI::App app{"keel: power-aware AI training and inference toolkit", "keel"};
  app.set_version_flag("--version", [] {
    std::string v = keel::cli::version_text();
    if (!v.empty() && v.back() == '\n') v.pop_back();
    return v;
  });
  app.require_subcommand(1);
  app.fallthrough();  // global flags are accepted after any subcommand

  keel::cli::GlobalOptions global;
  app.add_flag("--json", global.json, "Machine-readable JSON output on stdout");
  app.add_flag("-q,--quiet", global.quiet, "No progress bars or informational logs");
  app.add_option("--log-level", global.log_level,
                 "trace|debug|info|warn|error|off (default: $KEEL_LOG_LEVEL or info)");
  app.parse_complete_callback([&] {
    std::optional<keel::core::LogLevel> lvl;
    if (!global.log_level.empty()) lvl = keel::core::parse_log_level(global.log_level);
    else if (global.quiet) lvl = keel::core::LogLevel::warn;
    keel::core::init_logging(lvl);
    keel::cli::report_openmp_wait_policy();
  });

#ifdef KEEL_TRAIN_BINARY
  keel::cli::register_mcnn(app, global);
  auto* nmt = app.add_subcommand("nmt", "Transformer training (LibTorch)");
  nmt->require_subcommand(1);
  keel::cli::register_nmt_train(*nmt, global);
#else
  keel::cli::register_power(app, global);
  keel::cli::register_nmt(app, global);
  keel::cli::register_completion(app);
#ifdef KEEL_HAVE_TRAIN
  // Listed for --help; the command itself runs in keel-train (exec_train_binary).
  app.add_subcommand("mcnn", "M-CNN trainer for full-resolution microscopy images (LibTorch)");
#endif
#endif

  // The command tree for `keel completion bash` (undocumented; keel asks keel-train for it).
  if (argc == 2 && std::string_view(argv[1]) == "--completion-tree") {
    std::cout << keel::cli::completion_tree(app);
    return 0;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // An unknown flag can surface as "a subcommand is required": name the flag instead.
    std::string msg = one_line(e.what());
    if (auto rest = app.remaining(); !rest.empty())
      msg = "unrecognized argument '" + rest.front() + "'";
    std::cerr << fmt::format("keel: error: {} (see '{} --help')\n", msg, command_path(app));
    return 2;
  } catch (const keel::cli::AlreadyReported& e) {
    return e.exit_code();
  } catch (const keel::core::Interrupted& e) {
    std::cerr << "keel: " << one_line(e.what()) << "\n";
    return e.exit_code();
  } catch (const keel::core::Error& e) {
    std::cerr << "keel: error: " << one_line(e.what()) << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << "keel: error: " << one_line(e.what()) << "\n";
    return 1;
  }
  return 0;
}
