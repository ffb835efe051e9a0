#pragma once
// Small helpers for writing HTML by hand: escaping text, and putting JSON or code inside a
// <script>/<style> element without the content ending the element early.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace keel::core {

// Escapes & < > " ' for use in element text and attribute values.
std::string html_escape(std::string_view text);

// JSON made safe inside <script type="application/json">: every '<' (which JSON only has inside
// strings) becomes \u003c, so "</script>" in a name cannot close the element.
std::string json_for_script(std::string_view json);

// Replaces each "@NAME@" token of `tmpl` by its value in one pass (values are not scanned for
// tokens). Throws Error naming `tmpl_name` when a token is missing or appears more than once.
std::string fill_template(std::string_view tmpl, std::string_view tmpl_name,
                          const std::vector<std::pair<std::string, std::string_view>>& values);

}  // namespace keel::core
