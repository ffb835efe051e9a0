#include "keel/power/html_report.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <iterator>
#include <nlohmann/json.hpp>

#include "keel/core/atomic_file.h"
#include "keel/core/embedded.h"
#include "keel/core/error.h"
#include "keel/core/html.h"

namespace keel::power {

void Plot::add(std::string name, std::vector<double> values) {
  if (values.size() != x.size())
    throw core::Error(fmt::format("plot trace '{}' has {} points for an axis of {}", name,
                                  values.size(), x.size()));
  traces.emplace_back(std::move(name), std::move(values));
}

namespace {

// Numbers with `digits` significant digits (plenty at plot resolution; keeps the file small).
// NaN and infinities become null, which uPlot draws as a gap.
void append_numbers(std::string& out, const std::vector<double>& v, int digits,
                    bool positive_only = false) {
  out += '[';
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    double x = v[i];
    if (!std::isfinite(x) || (positive_only && x <= 0)) out += "null";
    else fmt::format_to(std::back_inserter(out), "{:.{}g}", x, digits);
  }
  out += ']';
}

void append_plot(std::string& out, const char* key, const Plot& p, bool log_y = false) {
  fmt::format_to(std::back_inserter(out), "\"{}\":", key);
  if (p.empty()) {
    out += "null";
    return;
  }
  for (const auto& [name, v] : p.traces)
    if (v.size() != p.x.size())
      throw core::Error(fmt::format("report plot '{}': trace '{}' does not match its axis", key, name));
  out += "{\"x\":";
  append_numbers(out, p.x, 8);
  out += ",\"traces\":[";
  for (std::size_t i = 0; i < p.traces.size(); ++i) {
    if (i) out += ',';
    out += "{\"name\":" + nlohmann::json(p.traces[i].first).dump() + ",\"v\":";
    append_numbers(out, p.traces[i].second, 6, log_y);
    out += '}';
  }
  out += "]}";
}

std::string data_json(const ReportInput& in) {
  std::string out = "{";
  append_plot(out, "power", in.power);
  out += ',';
  append_plot(out, "zoom", in.zoom);
  out += ',';
  append_plot(out, "soc", in.soc);
  out += ',';
  append_plot(out, "spectrum", in.spectrum, true);
  nlohmann::json spec = {{"f_lo_hz", in.spec.f_lo_hz}, {"f_hi_hz", in.spec.f_hi_hz},
                         {"max_band_amplitude_mw", nullptr}};
  if (in.spec.max_band_amplitude_mw) spec["max_band_amplitude_mw"] = *in.spec.max_band_amplitude_mw;
  out += ",\"spec\":" + spec.dump() + ",\"hidden\":" + nlohmann::json(in.hidden).dump() + "}";
  return out;
}

std::string summary_table(const ReportInput& in) {
  using core::html_escape;
  if (in.summary_rows.empty()) return {};
  std::string t = "<table class=\"clauses\"><thead><tr>";
  for (const auto& h : in.summary_header) t += "<th>" + html_escape(h) + "</th>";
  t += "</tr></thead><tbody>\n";
  for (const auto& row : in.summary_rows) {
    t += "<tr>";
    for (std::size_t i = 0; i < row.size(); ++i)
      t += (i == 0 ? "<th>" : "<td>") + html_escape(row[i]) + (i == 0 ? "</th>" : "</td>");
    t += "</tr>\n";
  }
  return t + "</tbody></table>";
}

std::string clause_table(const ReportInput& in) {
  using core::html_escape;
  if (in.clauses.empty() || in.clauses.front().clauses.empty())
    return "<p>No spec limits to judge (use <code>--spec SPEC.toml</code>).</p>";
  const auto& cols = in.clauses.front().clauses;
  std::string t = fmt::format("<p>Spec <b>{}</b>{}.</p>\n<table class=\"clauses\"><thead><tr><th></th>",
                              html_escape(in.spec.name),
                              in.spec.illustrative ? " (illustrative: not any utility's requirement)" : "");
  for (const auto& c : cols)
    t += fmt::format("<th>{}<br><span class=\"limit\">&le; {:g} {}</span></th>", html_escape(c.name),
                     c.limit, html_escape(c.unit));
  t += "<th>verdict</th></tr></thead><tbody>\n";
  for (const auto& row : in.clauses) {
    t += "<tr><th>" + html_escape(row.label) + "</th>";
    for (const auto& col : cols) {
      const Clause* c = nullptr;
      for (const auto& rc : row.clauses)
        if (rc.name == col.name) c = &rc;
      if (!c) t += "<td>-</td>";
      else t += fmt::format("<td class=\"{}\">{:.3f} {}</td>", c->pass ? "pass" : "fail", c->value,
                            c->pass ? "PASS" : "FAIL");
    }
    bool pass = all_pass(row.clauses);
    t += fmt::format("<td class=\"{}\">{}</td></tr>\n", pass ? "pass" : "fail", pass ? "PASS" : "FAIL");
  }
  return t + "</tbody></table>";
}

// An embedded library put inline must not contain the tag that would end its element early.
std::string_view inline_safe(std::string_view name, std::string_view closing_tag) {
  std::string_view code = core::embedded_file(name);
  std::string lower(code);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower.find(closing_tag) != std::string::npos)
    throw core::Error(fmt::format("embedded {} contains '{}' and cannot be put inline", name, closing_tag));
  return code;
}

}  // namespace

std::string render_html_report(const ReportInput& in) {
  const std::string data = core::json_for_script(data_json(in));
  const std::string table = clause_table(in);
  const std::string title = core::html_escape(in.title), subtitle = core::html_escape(in.subtitle);
  const std::string config_name = core::html_escape(in.config_name);
  const std::string config = core::html_escape(in.config_text);
  const std::string_view css = inline_safe("uPlot.min.css", "</style");
  const std::string_view js = inline_safe("uPlot.iife.min.js", "</script");
  return core::fill_template(core::embedded_file("report_template.html"), "report_template.html",
                             {{"PAGE_TITLE", title},
                              {"TITLE", title},
                              {"SUBTITLE", subtitle},
                              {"UPLOT_CSS", css},
                              {"UPLOT_JS", js},
                              {"DATA", data},
                              {"CLAUSES", table},
                              {"SUMMARY", summary_table(in)},
                              {"CONFIG_NAME", config_name},
                              {"CONFIG", config}});
}

void write_html_report(const std::filesystem::path& path, const ReportInput& in) {
  core::write_file_atomic(path, render_html_report(in));
}

}  // namespace keel::power
