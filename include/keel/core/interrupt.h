#pragma once
// Ctrl-C and SIGTERM during long work (training): the first signal asks the loop to stop at its
// next safe point (after the current step, with a checkpoint); a second one ends the process at
// once with 128 + signal. Loops poll stop_signal().

#include <string>

#include "keel/core/error.h"

namespace keel::core {

// Installs the SIGINT/SIGTERM handlers (idempotent).
void install_stop_handlers();
// 0, or the signal (SIGINT, SIGTERM) that asked to stop.
int stop_signal();
// Test hook: behave as if `sig` had arrived (runs the same handler).
void raise_stop(int sig);

// A run stopped on request: exit code 128 + signal (130 for Ctrl-C, 143 for SIGTERM); the message
// says what was saved and how to continue. Printed without "error:".
class Interrupted : public Error {
 public:
  Interrupted(int signal, std::string what) : Error(std::move(what)), signal_(signal) {}
  int exit_code() const override { return 128 + signal_; }
  int signal() const { return signal_; }

 private:
  int signal_;
};

}  // namespace keel::core
