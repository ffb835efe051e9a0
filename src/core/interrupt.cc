#include "keel/core/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

namespace keel::core {

namespace {

std::atomic<int> g_signal{0};

extern "C" void on_stop_signal(int sig) {
  // Only async-signal-safe calls here: write(2) and _exit(2); errno is the interrupted code's.
  const int saved_errno = errno;
  int expected = 0;
  if (!g_signal.compare_exchange_strong(expected, sig)) _exit(128 + sig);
  static const char kMsg[] =
      "\nkeel: stopping after the current step (with a checkpoint when one is configured); "
      "press Ctrl-C again to quit now\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
  errno = saved_errno;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM}) {
    // A signal the launcher chose to ignore (nohup, background jobs of a script) stays ignored.
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    sigaction(sig, &sa, nullptr);
  }
}

int stop_signal() {
  return g_signal.load(std::memory_order_relaxed);
}

void raise_stop(int sig) {
  on_stop_signal(sig);
}

}  // namespace keel::core
