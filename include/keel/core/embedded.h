#pragma once
// Files compiled into keel (HTML templates, JS and CSS from web/), so reports are self-contained
// and need nothing at run time. Defined by the generated source of the keel_web library
// (web/CMakeLists.txt, cmake/keel_embed.cmake).

#include <string_view>

namespace keel::core {

// The bytes of an embedded file by its name (e.g. "uPlot.iife.min.js"); throws Error when unknown.
std::string_view embedded_file(std::string_view name);

}  // namespace keel::core
