#pragma once
// Bash completion generated from the CLI definition itself, so it never drifts from the flags:
// `keel completion bash` prints a script for `keel <engine> <verb> --flags` (the build installs
// it as share/bash-completion/completions/keel).

#include <CLI/CLI.hpp>

#include <string>

namespace keel::cli {

// One line per command: "<path>\t<subcommands>\t<flags>" (path words space-separated, the root's
// path empty). keel-train prints its own tree with the hidden flag --completion-tree.
std::string completion_tree(CLI::App& app);

// The bash script for the tree lines given.
std::string bash_completion(const std::string& tree);

// Adds `completion` (keel) under `app`; `app` is the root whose tree it prints.
void register_completion(CLI::App& app);

}  // namespace keel::cli
