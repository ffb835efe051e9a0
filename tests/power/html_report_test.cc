// The HTML report: self-contained, written atomically, and its plots render in a real browser
// (headless Chromium) without script errors.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "../support/chromium.h"
#include "../support/run_keel.h"
#include "../support/source_paths.h"
#include "../support/temp_dir.h"
#include "keel/core/error.h"
#include "keel/power/html_report.h"
#include "keel/power/report_series.h"

using keel::testing::read_all;
using keel::testing::run_keel;
namespace fs = std::filesystem;
using keel::testing::TempDir;
namespace kp = keel::power;

namespace {
using keel::testing::kPowerExamples;

const std::string kStorage = R"(name = "small <storage> & co"
[simulation]
duration_s = 30
[[job]]
gpus = 720
compute_ms = 800
comm_ms = 300
start_s = 2
[mitigation.smoothing]
percent_tmp_floor = 60
ramp_up_rate_w_per_s = 500
ramp_down_rate_w_per_s = 500
[mitigation.storage]
energy_kwh = 50
power_kw = 800
)";

kp::ReportInput tiny_input() {
  kp::ReportInput in;
  in.title = "tiny </script><b>title</b>";
  in.power.x = {0, 1, 2};
  in.power.add("a", {1, 2, 1});
  in.zoom = in.power;
  in.spectrum.x = {0.1, 1, 10};
  in.spectrum.add("a", {0.5, 0.1, 0});
  in.config_name = "x.toml";
  in.config_text = "name = \"</pre><script>alert(1)</script>\"\n";
  return in;
}

// What the page's own script recorded: data-keel-status on <body> and the error list.
struct PageState {
  std::string status, errors;
  int canvases = 0;
};

PageState open_in_chromium(const fs::path& page) {
  const std::string chromium = keel::testing::find_chromium();
  if (chromium.empty()) {
    ADD_FAILURE() << "chromium not found (install it with scripts/install-deps.sh, or set "
                     "KEEL_CHROMIUM): the report's browser test cannot run";
    return {};
  }
  auto r = keel::testing::run_chromium(chromium, page,
                                       "--window-size=1400,1000 --virtual-time-budget=20000 --dump-dom");
  EXPECT_EQ(r.rc, 0) << r.err;
  PageState s;
  std::smatch m;
  if (std::regex_search(r.out, m, std::regex(R"re(<body[^>]*data-keel-status="([a-z]+)")re")))
    s.status = m[1];
  if (std::regex_search(r.out, m, std::regex(R"re(<pre id="keel-errors">([^<]*)</pre>)re")))
    s.errors = m[1];
  for (std::size_t p = 0; (p = r.out.find("<canvas", p)) != std::string::npos; ++p) ++s.canvases;
  return s;
}
}  // namespace

TEST(HtmlReport, IsSelfContainedAndEscapesText) {
  std::string html = kp::render_html_report(tiny_input());
  // Nothing loaded from elsewhere: no <script src>, no <link>, no remote url() in CSS.
  EXPECT_FALSE(std::regex_search(html, std::regex(R"re(<script[^>]*\ssrc\s*=)re", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(html, std::regex(R"re(<link\b)re", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(html, std::regex(R"re((src|href)\s*=\s*["']?(https?:)?//)re", std::regex::icase)));
  EXPECT_FALSE(std::regex_search(html, std::regex(R"re(url\(\s*["']?https?:)re", std::regex::icase)));
  EXPECT_NE(html.find("uPlot"), std::string::npos);  // the library is inline
  EXPECT_NE(html.find("tiny &lt;/script&gt;&lt;b&gt;title"), std::string::npos);
  EXPECT_EQ(html.find("<script>alert(1)"), std::string::npos);
  EXPECT_NE(html.find("&lt;/pre&gt;&lt;script&gt;alert(1)"), std::string::npos);
}

TEST(HtmlReport, MismatchedTraceIsAnError) {
  kp::Plot p;
  p.x = {0, 1};
  EXPECT_THROW(p.add("bad", {1, 2, 3}), keel::core::Error);
  kp::ReportInput in = tiny_input();
  in.zoom.traces[0].second.pop_back();
  EXPECT_THROW(kp::render_html_report(in), keel::core::Error);
}

TEST(HtmlReport, WritesAtomically) {
  TempDir d;
  const fs::path out = d.path / "r.html";
  std::ofstream(out) << "previous";
  kp::ReportInput bad = tiny_input();
  bad.power.traces[0].second.clear();  // fails while rendering: the old file must stay
  EXPECT_THROW(kp::write_html_report(out, bad), keel::core::Error);
  EXPECT_EQ(read_all(out), "previous");
  // A hard link to the old file keeps the old bytes: the new file was renamed over the name,
  // never written in place, so a reader sees the old page or the new one, whole.
  fs::create_hard_link(out, d.path / "old.html");
  kp::write_html_report(out, tiny_input());
  EXPECT_EQ(read_all(out).substr(0, 15), "<!doctype html>");
  EXPECT_EQ(read_all(d.path / "old.html"), "previous");
  fs::remove(d.path / "old.html");
  int files = 0;  // no temporary left behind
  for (const auto& e : fs::directory_iterator(d.path)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
  EXPECT_THROW(kp::write_html_report(d.path / "missing" / "r.html", tiny_input()),
               keel::core::InputError);
}

TEST(HtmlReport, CompareReportRendersInChromium) {
  TempDir d;
  const fs::path sc = d.path / "storage.toml", out = d.path / "compare.html";
  std::ofstream(sc) << kStorage;
  auto r = run_keel("power compare " + sc.string() + " --spec " + kPowerExamples +
                    "illustrative_spec.toml --report " + out.string() + " --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string html = read_all(out);
  for (const char* v : {"none", "smoothing", "storage", "smoothing+storage"})
    EXPECT_NE(html.find("<tr><th>" + std::string(v) + "</th>"), std::string::npos) << v;
  EXPECT_NE(html.find("small &lt;storage&gt; &amp; co"), std::string::npos);  // echoed TOML
  EXPECT_LT(html.size(), 3u << 20);
  PageState s = open_in_chromium(out);
  EXPECT_EQ(s.status, "ok") << s.errors;
  EXPECT_EQ(s.errors, "");
  EXPECT_GE(s.canvases, 4);  // power, zoom, state of charge, spectrum
}

TEST(HtmlReport, SimulateReportRendersInChromium) {
  TempDir d;
  const fs::path sc = d.path / "storage.toml", out = d.path / "simulate.html";
  std::ofstream(sc) << kStorage;
  auto r = run_keel("power simulate " + sc.string() + " --report " + out.string() + " --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string html = read_all(out);
  EXPECT_NE(html.find("facility, before storage"), std::string::npos);
  EXPECT_NE(html.find("unmitigated"), std::string::npos);
  PageState s = open_in_chromium(out);
  EXPECT_EQ(s.status, "ok") << s.errors;
  EXPECT_GE(s.canvases, 4);
}

TEST(HtmlReport, BrowserCheckSeesScriptErrors) {
  // The harness itself: a page whose script throws must not read as rendered.
  TempDir d;
  std::string html = kp::render_html_report(tiny_input());
  html.insert(html.find("</body>"), "<script>null.boom();</script>");
  const fs::path out = d.path / "broken.html";
  std::ofstream(out) << html;
  PageState s = open_in_chromium(out);
  EXPECT_EQ(s.status, "error");
  EXPECT_NE(s.errors.find("boom"), std::string::npos) << s.errors;
}

TEST(HtmlReport, UnwritableReportIsOneLineExitTwo) {
  auto r = run_keel("power simulate " + kPowerExamples +
                    "default.toml --report /nonexistent/r.html --quiet");
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(keel::testing::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/r.html"), std::string::npos) << r.err;
}

TEST(HtmlReport, AnalyzeReportRendersInChromium) {
  // A 0.5 Hz square wave logged by nvidia-smi every 20 ms for 2 GPUs, 40 s.
  TempDir d;
  const fs::path log = d.path / "smi.csv", out = d.path / "analyze.html";
  {
    std::ofstream f(log);
    f << "timestamp, index, power.draw.instant [W]\n";
    for (int i = 0; i < 2000; ++i) {
      int ms = i * 20;
      for (int g = 0; g < 2; ++g)
        f << fmt::format("2025/08/21 14:{:02}:{:02}.{:03}, {}, {:.2f} W\n", ms / 60000,
                         ms / 1000 % 60, ms % 1000, g, (ms % 2000) < 1000 ? 650.0 : 180.0);
    }
  }
  auto r = run_keel("power analyze " + log.string() + " --scale-gpus 1000 --report " +
                    out.string() + " --quiet");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::string html = read_all(out);
  EXPECT_NE(html.find("measured, scaled"), std::string::npos);
  EXPECT_NE(html.find("smi.csv (first lines)"), std::string::npos);
  PageState s = open_in_chromium(out);
  EXPECT_EQ(s.status, "ok") << s.errors;
  EXPECT_GE(s.canvases, 3);  // power, zoom, spectrum
}

// Eight variants overplot: by default only the unmitigated job, the cheapest passing mix and the
// scenario's own are drawn (the rest one legend click away); the user can choose; the numbers sit
// beside the plots; the scenario can be echoed without comments; optimize reports its choice.
TEST(HtmlReport, CompareShowsChosenVariantsNumbersAndBareScenario) {
  TempDir d;
  const fs::path out = d.path / "c.html";
  const std::string base = "power compare --quiet " + kPowerExamples + "default.toml --spec " +
                           kPowerExamples + "illustrative_spec.toml --report " + out.string();
  ASSERT_EQ(run_keel(base).rc, 0);
  std::string html = read_all(out);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(html, m, std::regex(R"re("hidden":\[([^\]]*)\])re"))) << "no hidden list";
  const std::string hidden = m[1];
  // none and the scenario's own mix (all three) are drawn; so is the cheapest passing one.
  EXPECT_EQ(hidden.find("\"none\""), std::string::npos) << hidden;
  EXPECT_EQ(hidden.find("\"software+smoothing+storage\""), std::string::npos) << hidden;
  EXPECT_NE(hidden.find("\"software\""), std::string::npos) << hidden;
  EXPECT_NE(hidden.find("\"smoothing+storage\""), std::string::npos) << hidden;
  EXPECT_NE(html.find("<th>peak MW</th>"), std::string::npos);
  EXPECT_NE(html.find("<th>energy +%</th>"), std::string::npos);
  EXPECT_NE(html.find("# keel power: the default scenario"), std::string::npos);

  ASSERT_EQ(run_keel(base + " --report-variants storage,software --report-strip-comments").rc, 0);
  html = read_all(out);
  ASSERT_TRUE(std::regex_search(html, m, std::regex(R"re("hidden":\[([^\]]*)\])re")));
  EXPECT_NE(std::string(m[1]).find("\"none\""), std::string::npos);
  EXPECT_EQ(std::string(m[1]).find("\"storage\""), std::string::npos);
  EXPECT_EQ(html.find("# keel power: the default scenario"), std::string::npos);
  EXPECT_NE(html.find("duration_s = 300"), std::string::npos);
  auto bad = run_keel(base + " --report-variants sotrage");
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("sotrage"), std::string::npos) << bad.err;

  const fs::path opt = d.path / "o.html";
  auto o = run_keel("power optimize --quiet " + kPowerExamples + "default.toml --spec " +
                    kPowerExamples + "illustrative_spec.toml --budget 20 --report " + opt.string());
  ASSERT_EQ(o.rc, 0) << o.err;
  EXPECT_NE(o.out.find("[mitigation."), std::string::npos) << o.out;  // the TOML snippet
  EXPECT_NE(o.out.find("NOT converged"), std::string::npos) << o.out;
  const std::string oh = read_all(opt);
  EXPECT_NE(oh.find("simulated with mitigation"), std::string::npos);
  PageState s = open_in_chromium(opt);
  EXPECT_EQ(s.status, "ok") << s.errors;
}

TEST(HtmlReport, StripTomlCommentsKeepsStringsAndValues) {
  EXPECT_EQ(kp::strip_toml_comments("# head\n\nname = \"a # b\"  # c\n# x\n\n\nk = 1\n"),
            "name = \"a # b\"\n\nk = 1\n");
  EXPECT_EQ(kp::strip_toml_comments("s = 'x#y' # z"), "s = 'x#y'\n");
}
