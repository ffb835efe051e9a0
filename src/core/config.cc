#include "keel/core/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace keel::core {
namespace detail {
struct ConfigState {
  toml::table root;
  std::string file;
  std::set<const toml::node*> used;
  std::map<std::string, std::set<std::string>> asked;  // section path -> keys asked for
  std::set<std::string> tables;  // key paths asked for as tables or arrays of tables
};
}  // namespace detail

namespace {

Location node_location(const detail::ConfigState& st, const toml::node* node, std::string key) {
  Location loc{st.file, 0, 0, std::move(key)};
  if (node) {
    loc.line = static_cast<int>(node->source().begin.line);
    loc.column = static_cast<int>(node->source().begin.column);
  }
  return loc;
}

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "table";
    case toml::node_type::array: return "array";
    case toml::node_type::string: return "string";
    case toml::node_type::integer: return "integer";
    case toml::node_type::floating_point: return "float";
    case toml::node_type::boolean: return "boolean";
    default: return "date/time";
  }
}

}  // namespace

ConfigSection::ConfigSection(std::shared_ptr<detail::ConfigState> state, const toml::table* table,
                             std::string path)
    : state_(std::move(state)), table_(table), path_(std::move(path)) {}

std::string ConfigSection::key_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const void* ConfigSection::lookup(std::string_view key) const {
  state_->asked[path_].insert(std::string(key));
  const toml::node* n = table_->get(key);
  if (n) state_->used.insert(n);
  return n;
}

bool ConfigSection::has(std::string_view key) const { return lookup(key) != nullptr; }

std::vector<std::string> ConfigSection::keys() const {
  std::vector<std::pair<std::pair<std::uint32_t, std::uint32_t>, std::string>> found;
  for (const auto& [k, node] : *table_) {
    lookup(k.str());
    found.push_back({{node.source().begin.line, node.source().begin.column}, std::string(k.str())});
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::vector<std::string> ConfigSection::scalar_literals(std::string_view key) const {
  const auto* n = static_cast<const toml::node*>(lookup(key));
  const auto* arr = n ? n->as_array() : nullptr;
  check(arr && !arr->empty(), key, "must be a non-empty array of values",
        "write e.g. [50, 60, 70]");
  std::vector<std::string> out;
  for (const auto& e : *arr) {
    std::ostringstream ss;
    if (e.is_floating_point()) {
      // The shortest spelling that reads back to the same double (toml++ prints 17 digits:
      // 0.8 as 0.80000000000000004), kept a TOML float.
      std::string f = fmt::format("{}", e.as_floating_point()->get());
      if (f.find_first_of(".eEn") == std::string::npos) f += ".0";
      ss << f;
    } else if (e.is_integer() || e.is_boolean() || e.is_string()) {
      e.visit([&](const auto& v) {
        if constexpr (toml::is_value<decltype(v)>) ss << v;
      });
    } else {
      fail(key, "must hold numbers, booleans or strings only");
    }
    out.push_back(ss.str());
  }
  return out;
}

Location ConfigSection::location_of(std::string_view key) const {
  const toml::node* n = table_->get(key);
  return node_location(*state_, n ? n : table_, key_path(key));
}

void ConfigSection::fail(std::string_view key, std::string_view message,
                         std::string_view hint) const {
  throw InputError(std::string(message), location_of(key), std::string(hint));
}

void ConfigSection::check(bool ok, std::string_view key, std::string_view message,
                          std::string_view hint) const {
  if (!ok) fail(key, message, hint);
}

std::optional<double> ConfigSection::optional_number(std::string_view key) const {
  auto n = static_cast<const toml::node*>(lookup(key));
  if (!n) return std::nullopt;
  if (auto i = n->as_integer()) return static_cast<double>(i->get());
  if (auto f = n->as_floating_point()) {
    if (!std::isfinite(f->get())) fail(key, "must be a finite number");
    return f->get();
  }
  fail(key, std::string("expected a number, got a ") + type_name(*n));
}

double ConfigSection::number(std::string_view key) const {
  auto v = optional_number(key);
  if (!v) fail(key, "missing required number", "add `" + std::string(key) + " = ...`");
  return *v;
}

double ConfigSection::number_or(std::string_view key, double fallback) const {
  return optional_number(key).value_or(fallback);
}

bool Range::contains(double v) const {
  return (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
}

std::string Range::describe() const {
  auto num = [](double x) {
    std::ostringstream ss;
    ss << x;
    return ss.str();
  };
  bool has_lo = lo > -1e308, has_hi = hi < 1e308;
  if (has_lo && has_hi)
    return std::string("in ") + (lo_open ? "(" : "[") + num(lo) + ", " + num(hi) +
           (hi_open ? ")" : "]");
  if (has_lo) return (lo_open ? "> " : ">= ") + num(lo);
  if (has_hi) return (hi_open ? "< " : "<= ") + num(hi);
  return "any number";
}

std::optional<double> ConfigSection::optional_number_in(std::string_view key, Range range) const {
  auto v = optional_number(key);
  if (v && !range.contains(*v)) {
    std::ostringstream ss;
    ss << "value " << *v << " is out of range";
    fail(key, ss.str(), "must be " + range.describe());
  }
  return v;
}

double ConfigSection::number_in(std::string_view key, std::optional<double> fallback,
                                Range range) const {
  auto v = optional_number_in(key, range);
  if (v) return *v;
  if (!fallback) fail(key, "missing required number", "add `" + std::string(key) + " = ...`");
  return *fallback;
}

std::int64_t ConfigSection::integer_or(std::string_view key, std::int64_t fallback) const {
  auto n = static_cast<const toml::node*>(lookup(key));
  if (!n) return fallback;
  if (auto i = n->as_integer()) return i->get();
  fail(key, std::string("expected an integer, got a ") + type_name(*n));
}

std::int64_t ConfigSection::integer(std::string_view key) const {
  if (!has(key)) fail(key, "missing required integer", "add `" + std::string(key) + " = ...`");
  return integer_or(key, 0);
}

bool ConfigSection::boolean_or(std::string_view key, bool fallback) const {
  auto n = static_cast<const toml::node*>(lookup(key));
  if (!n) return fallback;
  if (auto b = n->as_boolean()) return b->get();
  fail(key, std::string("expected true or false, got a ") + type_name(*n));
}

std::string ConfigSection::string_or(std::string_view key, std::string_view fallback) const {
  auto n = static_cast<const toml::node*>(lookup(key));
  if (!n) return std::string(fallback);
  if (auto s = n->as_string()) return s->get();
  fail(key, std::string("expected a string, got a ") + type_name(*n));
}

std::string ConfigSection::string(std::string_view key) const {
  if (!has(key)) fail(key, "missing required string", "add `" + std::string(key) + " = \"...\"`");
  return string_or(key, "");
}

std::optional<ConfigSection> ConfigSection::table(std::string_view key) const {
  state_->tables.insert(key_path(key));
  auto n = static_cast<const toml::node*>(lookup(key));
  if (!n) return std::nullopt;
  auto t = n->as_table();
  if (!t) fail(key, std::string("expected a table [") + key_path(key) + "], got a " + type_name(*n));
  return ConfigSection(state_, t, key_path(key));
}

std::vector<ConfigSection> ConfigSection::table_array(std::string_view key) const {
  std::vector<ConfigSection> out;
  state_->tables.insert(key_path(key));
  auto n = static_cast<const toml::node*>(lookup(key));
  if (!n) return out;
  auto arr = n->as_array();
  if (!arr) fail(key, std::string("expected an array of tables [[") + key_path(key) + "]]");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const toml::node& e = (*arr)[i];
    std::string p = key_path(key) + "[" + std::to_string(i) + "]";
    if (!e.as_table()) {
      throw InputError("expected a table", node_location(*state_, &e, p));
    }
    state_->used.insert(&e);
    out.emplace_back(state_, e.as_table(), p);
  }
  return out;
}

ConfigDoc::ConfigDoc(std::shared_ptr<detail::ConfigState> state) : state_(std::move(state)) {}

ConfigDoc ConfigDoc::parse(std::string_view text, std::string source_name) {
  auto st = std::make_shared<detail::ConfigState>();
  st->file = std::move(source_name);
  try {
    st->root = toml::parse(text, st->file);
  } catch (const toml::parse_error& e) {
    Location loc{st->file, static_cast<int>(e.source().begin.line),
                 static_cast<int>(e.source().begin.column), {}};
    throw InputError("TOML syntax error: " + std::string(e.description()), loc);
  }
  return ConfigDoc(std::move(st));
}

ConfigDoc ConfigDoc::load_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw InputError("cannot open file", Location{file.string(), 0, 0, {}},
                     "check the path and permissions");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), file.string());
}

ConfigSection ConfigDoc::root() const { return ConfigSection(state_, &state_->root, ""); }

ConfigDoc ConfigDoc::with_value(std::string_view key, std::string_view toml_literal) const {
  auto st = std::make_shared<detail::ConfigState>();
  st->file = state_->file;
  st->root = state_->root;  // a deep copy
  toml::table value;
  try {
    value = toml::parse("v = " + std::string(toml_literal));
  } catch (const toml::parse_error& e) {
    throw InputError("'" + std::string(toml_literal) + "' is not a TOML value for " +
                     std::string(key) + ": " + std::string(e.description()));
  }
  // Walk "a.b[2].c": tables by name, arrays of tables by index.
  toml::table* t = &st->root;
  std::string_view rest = key;
  while (true) {
    const auto dot = rest.find('.');
    std::string_view part = rest.substr(0, dot);
    std::optional<std::size_t> index;
    if (const auto br = part.find('['); br != std::string_view::npos && part.back() == ']') {
      index = std::stoul(std::string(part.substr(br + 1, part.size() - br - 2)));
      part = part.substr(0, br);
    }
    if (dot == std::string_view::npos && !index) {
      t->insert_or_assign(part, *value.get("v"));
      break;
    }
    toml::node* next = t->get(part);
    if (index) {
      auto* arr = next ? next->as_array() : nullptr;
      if (!arr || *index >= arr->size() || !(*arr)[*index].is_table())
        throw InputError("'" + std::string(key) + "': there is no " + std::string(part) + "[" +
                         std::to_string(*index) + "] table to set it in");
      t = (*arr)[*index].as_table();
    } else {
      if (!next) next = &t->insert_or_assign(part, toml::table{}).first->second;
      if (!next->is_table())
        throw InputError("'" + std::string(key) + "': " + std::string(part) + " is a value, not a table");
      t = next->as_table();
    }
    if (dot == std::string_view::npos) {
      throw InputError("'" + std::string(key) + "' names a table, not a value");
    }
    rest = rest.substr(dot + 1);
  }
  return ConfigDoc(std::move(st));
}
const std::string& ConfigDoc::source_name() const { return state_->file; }

namespace {
void walk_unknown(const detail::ConfigState& st, const toml::table& t, const std::string& path) {
  // Report in file order, so the user sees the first mistake first.
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  for (auto&& [k, v] : t) entries.emplace_back(&k, &v);
  std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) {
    return a.second->source().begin < b.second->source().begin;
  });
  for (auto [k, v] : entries) {
    std::string kp = path.empty() ? std::string(k->str()) : path + "." + std::string(k->str());
    if (!st.used.count(v)) {
      std::string hint;
      auto it = st.asked.find(path);
      // Suggest only what exists here and is of the same kind: a table for a table, a value
      // for a value ([job.gpu] is not a misspelt `gpus`).
      const bool is_table = v->is_table() || v->is_array_of_tables();
      auto is_section = [&](const std::string& cand) {
        return st.tables.count(path.empty() ? cand : path + "." + cand) != 0;
      };
      if (it != st.asked.end()) {
        std::size_t best = 3;  // suggest only close matches
        for (const auto& cand : it->second) {
          if (is_section(cand) != is_table) continue;
          std::size_t d = edit_distance(k->str(), cand);
          if (d < best) best = d, hint = "did you mean '" + cand + "'?";
        }
      }
      if (hint.empty())
        hint = is_table ? "this table is not part of the format here; see the documented tables "
                          "in examples/"
                        : "remove it or check the documented keys in examples/";
      Location loc{st.file, static_cast<int>(k->source().begin.line),
                   static_cast<int>(k->source().begin.column), kp};
      if (loc.line == 0) loc = node_location(st, v, kp);
      throw InputError(is_table ? "unknown table" : "unknown key", loc, hint);
    }
    if (auto sub = v->as_table()) walk_unknown(st, *sub, kp);
    if (auto arr = v->as_array()) {
      for (std::size_t i = 0; i < arr->size(); ++i) {
        const toml::node& e = (*arr)[i];
        if (auto et = e.as_table(); et && st.used.count(&e))
          walk_unknown(st, *et, kp + "[" + std::to_string(i) + "]");
      }
    }
  }
}
}  // namespace

void ConfigDoc::reject_unknown_keys() const { walk_unknown(*state_, state_->root, ""); }

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace keel::core
