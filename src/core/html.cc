#include "keel/core/html.h"

#include <map>

#include "keel/core/error.h"

namespace keel::core {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string json_for_script(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

std::string fill_template(std::string_view tmpl, std::string_view tmpl_name,
                          const std::vector<std::pair<std::string, std::string_view>>& values) {
  // Positions of every token first, so a value that happens to contain "@X@" is left alone.
  std::map<std::size_t, const std::pair<std::string, std::string_view>*> at;
  std::size_t size = tmpl.size();
  for (const auto& v : values) {
    const std::string token = "@" + v.first + "@";
    std::size_t pos = tmpl.find(token);
    if (pos == std::string_view::npos || tmpl.find(token, pos + 1) != std::string_view::npos)
      throw Error("template " + std::string(tmpl_name) + " must contain " + token + " exactly once");
    at[pos] = &v;
    size += v.second.size();
  }
  std::string out;
  out.reserve(size);
  std::size_t from = 0;
  for (const auto& [pos, v] : at) {
    out.append(tmpl.substr(from, pos - from));
    out.append(v->second);
    from = pos + v->first.size() + 2;
  }
  out.append(tmpl.substr(from));
  return out;
}

}  // namespace keel::core
