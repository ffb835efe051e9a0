#include "keel/core/error.h"

namespace keel::core {

std::string Location::format() const {
  std::string out = file;
  if (!file.empty() && line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  if (!key.empty()) out += (out.empty() ? "key '" : ": key '") + key + "'";
  return out;
}

namespace {
std::string compose(const std::string& what, const Location& where, const std::string& hint) {
  std::string loc = where.format();
  std::string out = loc.empty() ? what : loc + ": " + what;
  if (!hint.empty()) out += " (" + hint + ")";
  return out;
}
}  // namespace

Error::Error(std::string what, Location where, std::string hint)
    : std::runtime_error(compose(what, where, hint)),
      where_(std::move(where)),
      message_(std::move(what)),
      hint_(std::move(hint)) {}

}  // namespace keel::core
