#include "install_paths.h"

#include <unistd.h>

#include <cstdlib>
#include <sstream>
#include <vector>

#include "keel/core/error.h"

namespace keel::cli {

namespace fs = std::filesystem;

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

fs::path self_dir() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

std::optional<fs::path> find_train_binary(std::string* tried) {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("KEEL_TRAIN"); env && *env) {
    candidates.emplace_back(env);  // an explicit override is the only place looked at
  } else {
    candidates.push_back(self_dir() / "keel-train");
    candidates.push_back((self_dir() / KEEL_LIBEXEC_REL / "keel-train").lexically_normal());
  }
  std::string list;
  for (const auto& c : candidates) {
    if (::access(c.c_str(), X_OK) == 0 && fs::is_regular_file(c)) return c;
    list += (list.empty() ? "" : ", ") + c.string();
  }
  if (tried)
    *tried = std::getenv("KEEL_TRAIN") && *std::getenv("KEEL_TRAIN") ? "$KEEL_TRAIN=" + list : list;
  return std::nullopt;
}

fs::path find_model(const std::string& model) {
  const fs::path given(model);
  std::error_code ec;
  if (model.empty() || fs::exists(given, ec) || model.find('/') != std::string::npos) return given;
  std::vector<fs::path> roots;
  if (const char* env = std::getenv("KEEL_MODEL_PATH"); env && *env) {
    std::stringstream ss(env);
    for (std::string d; std::getline(ss, d, ':');)
      if (!d.empty()) roots.emplace_back(d);
  }
  roots.push_back((self_dir() / KEEL_MODELS_REL).lexically_normal());
  std::string searched;
  for (const auto& root : roots) {
    searched += (searched.empty() ? "" : ", ") + root.string();
    if (fs::exists(root / model, ec)) return root / model;
    std::vector<fs::path> variants;
    for (const auto& e : fs::directory_iterator(root, ec))
      if (e.is_directory(ec) && e.path().filename().string().starts_with(model + "-"))
        variants.push_back(e.path());
    if (variants.size() == 1) return variants[0];
    if (variants.size() > 1) {
      std::string names;
      for (const auto& v : variants) names += (names.empty() ? "" : ", ") + v.filename().string();
      throw core::InputError(
          "model name '" + model + "' matches several installed models: " + names,
          {root.string(), 0, 0, "--model"}, "pass one of them by its full name");
    }
  }
  throw core::InputError(
      "no such model file or directory, and no installed model of that name",
      {model, 0, 0, "--model"},
      "pass a model file or directory, or an installed model's name (looked in " + searched +
          "; set KEEL_MODEL_PATH to add directories)");
}

}  // namespace keel::cli
