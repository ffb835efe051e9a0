#include "cli.h"

#include <iostream>

namespace keel::cli {

void print_out(const std::string& text) {
  std::cout << text;
  if (text.empty() || text.back() != '\n') std::cout << '\n';
  std::cout.flush();
}

}  // namespace keel::cli
