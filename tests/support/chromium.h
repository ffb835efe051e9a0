#pragma once
// Opens a local HTML file in headless Chromium (Debian's package, installed by
// scripts/install-deps.sh) and returns the DOM after its scripts ran. --virtual-time-budget makes
// Chromium run the page until it is idle (or the budget is spent) before dumping: no sleeps.

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "run_keel.h"

namespace keel::testing {

// $KEEL_CHROMIUM, else `chromium` or `chromium-browser` on PATH; empty when none is found.
inline std::string find_chromium() {
  if (const char* env = std::getenv("KEEL_CHROMIUM"); env && *env) return env;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (const char* name : {"chromium", "chromium-browser"}) {
    std::size_t from = 0;
    while (from <= dirs.size()) {
      std::size_t to = dirs.find(':', from);
      if (to == std::string::npos) to = dirs.size();
      auto p = std::filesystem::path(dirs.substr(from, to - from)) / name;
      if (::access(p.c_str(), X_OK) == 0) return p.string();
      from = to + 1;
    }
  }
  return {};
}

// Flags headless Chromium needs as root and offline (without the networking ones it tries to
// reach Google and stalls). `extra` adds e.g. --dump-dom or --screenshot=FILE.
inline RunResult run_chromium(const std::string& chromium, const std::filesystem::path& page,
                              const std::string& extra) {
  char profile[] = "/tmp/keel_chromium_XXXXXX";
  if (!::mkdtemp(profile)) return {};
  RunResult r = run_shell("timeout 120 '" + chromium +
                          "' --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                          " --disable-background-networking --disable-component-update"
                          " --disable-sync --user-data-dir=" + std::string(profile) + " " + extra +
                          " 'file://" + std::filesystem::absolute(page).string() + "'");
  std::filesystem::remove_all(profile);
  return r;
}

}  // namespace keel::testing
