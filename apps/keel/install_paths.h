#pragma once
// Where keel finds its parts at run time, relative to its own executable (/proc/self/exe), so
// one build works from the build tree, an install prefix or an unpacked .deb: no build-machine
// paths are compiled in.

#include <filesystem>
#include <optional>
#include <string>

namespace keel::cli {

// `s` as one single-quoted shell word (for popen of keel-train).
std::string shell_quote(const std::string& s);

// The directory of the running executable.
std::filesystem::path self_dir();

// keel-train: $KEEL_TRAIN when set, else beside keel, else in the install's libexec/keel.
// Empty when none exists; `tried` lists the places looked at (for the error message).
std::optional<std::filesystem::path> find_train_binary(std::string* tried = nullptr);

// A model argument as given when it exists; a bare name ("en-es") is looked up in
// $KEEL_MODEL_PATH (colon-separated directories) and then the installed share/keel/models/,
// matching NAME or NAME-<variant> when only one such directory exists.
std::filesystem::path find_model(const std::string& model);

}  // namespace keel::cli
