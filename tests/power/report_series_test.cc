// The series an HTML report plots: decimation keeps every extreme, windows and spectra line up.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "keel/core/html.h"
#include "keel/power/report_series.h"
#include "keel/power/spectrum.h"
#include "scenario_util.h"

using namespace keel::power;

TEST(ReportSeries, MinMaxPerBucketKeepsEveryExtremeAndSharesTheAxis) {
  std::vector<double> v(100000);
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = std::sin(0.001 * static_cast<double>(k));
  v[12345] = 7.0;   // a one-sample spike must survive
  v[54321] = -3.0;
  auto t = decimated_time(v.size(), 0.001, 1000);
  auto d = decimate_min_max(v, 1000, 2.0);
  ASSERT_EQ(t.size(), d.size());
  EXPECT_EQ(d.size(), 2000u);
  EXPECT_DOUBLE_EQ(*std::max_element(d.begin(), d.end()), 14.0);
  EXPECT_DOUBLE_EQ(*std::min_element(d.begin(), d.end()), -6.0);
  EXPECT_TRUE(std::is_sorted(t.begin(), t.end()));
  EXPECT_DOUBLE_EQ(t[0], 0.0);
  EXPECT_LT(t.back(), 100.0);
}

TEST(ReportSeries, ShortSeriesAreKeptWhole) {
  std::vector<double> v = {1, 2, 3, 4, 5};
  EXPECT_EQ(decimate_min_max(v, 1000, 10.0), (std::vector<double>{10, 20, 30, 40, 50}));
  EXPECT_EQ(decimated_time(5, 0.5, 1000), (std::vector<double>{0, 0.5, 1, 1.5, 2}));
  EXPECT_TRUE(decimate_min_max({}, 10).empty());
}

TEST(ReportSeries, WindowIsFullResolutionAndClamped) {
  std::vector<double> v(1000);
  for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<double>(k);
  auto t = window_time(v.size(), 0.01, 2.0, 3.0);
  auto w = window_values(v, 0.01, 2.0, 3.0);
  ASSERT_EQ(t.size(), 100u);
  ASSERT_EQ(w.size(), 100u);
  EXPECT_DOUBLE_EQ(w.front(), 200.0);
  EXPECT_NEAR(t.front(), 2.0, 1e-12);
  EXPECT_EQ(window_values(v, 0.01, 9.5, 20.0).size(), 50u);
  EXPECT_TRUE(window_values(v, 0.01, 20.0, 30.0).empty());
}

TEST(ReportSeries, ThinSpectrumKeepsPeaksOnALogAxis) {
  const double step = 0.001, f0 = 0.5;
  std::vector<double> x(200000);
  for (std::size_t k = 0; k < x.size(); ++k)
    x[k] = 3.0 * std::sin(2 * M_PI * f0 * static_cast<double>(k) * step) +
           0.2 * std::sin(2 * M_PI * 123.0 * static_cast<double>(k) * step);
  Spectrum s = welch(x, step, 20.0);
  ThinSpectrum t = thin_spectrum(s, 300);
  ASSERT_EQ(t.freq_hz.size(), t.amplitude.size());
  EXPECT_LE(t.freq_hz.size(), 302u);
  EXPECT_GT(t.freq_hz.front(), 0.0);
  EXPECT_TRUE(std::is_sorted(t.freq_hz.begin(), t.freq_hz.end()));
  auto peak = std::max_element(t.amplitude.begin(), t.amplitude.end()) - t.amplitude.begin();
  EXPECT_NEAR(t.freq_hz[static_cast<std::size_t>(peak)], f0, 1e-9);  // low bins stay exact
  EXPECT_NEAR(t.amplitude[static_cast<std::size_t>(peak)], 3.0, 0.05);
  double high = 0;  // the 123 Hz line falls in a many-bin bucket: its amplitude is kept
  for (std::size_t i = 0; i < t.freq_hz.size(); ++i)
    if (t.freq_hz[i] > 100 && t.freq_hz[i] < 150) high = std::max(high, t.amplitude[i]);
  EXPECT_NEAR(high, 0.2, 0.01);
}

TEST(ReportSeries, ZoomWindowCoversThreeIterationsMidRun) {
  auto sc = keel::testing::scenario_from(R"(
[simulation]
duration_s = 100
[[job]]
gpus = 72
compute_ms = 800
comm_ms = 200
start_s = 10
stop_s = 50
)");
  auto w = choose_report_window(sc);
  EXPECT_NEAR(w.zoom_end_s - w.zoom_start_s, 3.0, 1e-9);
  EXPECT_NEAR(0.5 * (w.zoom_start_s + w.zoom_end_s), 30.0, 1e-9);
}

TEST(Html, EscapesTextAndScriptContent) {
  EXPECT_EQ(keel::core::html_escape(R"(<a href="x">&'</a>)"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(keel::core::json_for_script(R"({"n":"</script>"})"), R"({"n":"\u003c/script>"})");
}

TEST(Html, FillTemplateReplacesEachTokenOnceWithoutRescanning) {
  using keel::core::fill_template;
  EXPECT_EQ(fill_template("a @X@ b @Y@", "t", {{"X", "@Y@"}, {"Y", "2"}}), "a @Y@ b 2");
  EXPECT_THROW(fill_template("a @X@ @X@", "t", {{"X", "1"}}), keel::core::Error);
  EXPECT_THROW(fill_template("a", "t", {{"X", "1"}}), keel::core::Error);
}
