// COMTRADE and OpenDSS exports, read back by readers written here from the formats' definitions
// (IEEE C37.111-2013 .cfg fields and .dat layouts; OpenDSS Loadshape properties), not from keel's
// writer; values must match the simulation within the format's quantisation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <fstream>
#include <regex>
#include <sstream>

#include "../support/run_keel.h"
#include "../support/temp_dir.h"
#include "keel/power/export.h"
#include "keel/power/sim.h"
#include "scenario_util.h"

using namespace keel;
using keel::testing::scenario_from;

namespace {

const std::string kTwoJobsWithStorage = R"(
name = "two jobs"
[simulation]
duration_s = 20
step_ms = 1
seed = 3
[facility]
gpus_per_server = 4
servers_per_rack = 2
[[job]]
name = "big"
gpus = 40
compute_ms = 700
comm_ms = 300
offset_std_ms = 4
start_s = 1
[[job]]
name = "small"
gpus = 16
compute_ms = 450
comm_ms = 250
start_s = 2
stop_s = 15
[mitigation.storage]
level = "facility"
energy_kwh = 2
power_kw = 20
filter_time_constant_s = 2
)";

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

// A COMTRADE record as the standard defines it.
struct Comtrade {
  std::string station;
  int rev_year = 0;
  struct Analog {
    std::string id, unit;
    double a = 0, b = 0;
    int min = 0, max = 0;
  };
  std::vector<Analog> analogs;
  int digitals = 0;
  double samp = 0;
  long endsamp = 0;
  std::string ft;
  double timemult = 0;
  std::vector<std::uint32_t> n, timestamp;
  std::vector<std::vector<double>> values;  // per channel, a * raw + b
};

Comtrade read_comtrade(const std::filesystem::path& cfg_path, const std::filesystem::path& dat_path) {
  Comtrade c;
  std::vector<std::string> lines;
  {
    std::istringstream in(keel::testing::read_all(cfg_path));
    for (std::string l; std::getline(in, l);) {
      EXPECT_TRUE(!l.empty() && l.back() == '\r') << "cfg lines end in CR LF: " << l;
      if (!l.empty() && l.back() == '\r') l.pop_back();
      lines.push_back(l);
    }
  }
  std::size_t i = 0;
  auto f = split(lines.at(i++), ',');  // station_name,rec_dev_id,rev_year
  c.station = f.at(0);
  c.rev_year = std::stoi(f.at(2));
  f = split(lines.at(i++), ',');  // TT,##A,##D
  const int total = std::stoi(f.at(0));
  const int na = std::stoi(f.at(1));  // "12A" -> 12
  EXPECT_EQ(f.at(1).back(), 'A');
  EXPECT_EQ(f.at(2).back(), 'D');
  c.digitals = std::stoi(f.at(2));
  EXPECT_EQ(total, na + c.digitals);
  for (int k = 0; k < na; ++k) {
    f = split(lines.at(i++), ',');  // An,ch_id,ph,ccbm,uu,a,b,skew,min,max,primary,secondary,PS
    EXPECT_EQ(f.size(), 13u);
    EXPECT_EQ(std::stoi(f.at(0)), k + 1);
    c.analogs.push_back({f.at(1), f.at(4), std::stod(f.at(5)), std::stod(f.at(6)),
                         std::stoi(f.at(8)), std::stoi(f.at(9))});
    EXPECT_TRUE(f.at(12) == "P" || f.at(12) == "S");
  }
  i += static_cast<std::size_t>(c.digitals);
  std::stod(lines.at(i++));  // lf
  const int nrates = std::stoi(lines.at(i++));
  EXPECT_EQ(nrates, 1);
  f = split(lines.at(i++), ',');
  c.samp = std::stod(f.at(0));
  c.endsamp = std::stol(f.at(1));
  const std::regex date(R"(\d\d/\d\d/\d{4},\d\d:\d\d:\d\d\.\d{6})");
  EXPECT_TRUE(std::regex_match(lines.at(i++), date));
  EXPECT_TRUE(std::regex_match(lines.at(i++), date));
  c.ft = lines.at(i++);
  c.timemult = std::stod(lines.at(i++));
  EXPECT_TRUE(std::regex_match(lines.at(i++), std::regex(R"([+-]?\d+h\d\d,[+-]?\d+h\d\d)")));
  EXPECT_TRUE(std::regex_match(lines.at(i++), std::regex(R"(\d,\d)")));

  c.values.assign(static_cast<std::size_t>(na), {});
  const std::string dat = keel::testing::read_all(dat_path);
  auto add = [&](int ch, double raw) {
    const auto& an = c.analogs[static_cast<std::size_t>(ch)];
    EXPECT_GE(raw, an.min);
    EXPECT_LE(raw, an.max);
    c.values[static_cast<std::size_t>(ch)].push_back(an.a * raw + an.b);
  };
  if (c.ft == "ASCII") {
    std::istringstream in(dat);
    for (std::string l; std::getline(in, l);) {
      if (!l.empty() && l.back() == '\r') l.pop_back();
      f = split(l, ',');
      EXPECT_EQ(f.size(), static_cast<std::size_t>(2 + na + c.digitals));
      c.n.push_back(static_cast<std::uint32_t>(std::stoul(f.at(0))));
      c.timestamp.push_back(static_cast<std::uint32_t>(std::stoul(f.at(1))));
      for (int k = 0; k < na; ++k) add(k, std::stod(f.at(static_cast<std::size_t>(2 + k))));
    }
  } else {
    EXPECT_EQ(c.ft, "BINARY");
    // Per sample: uint32 n, uint32 timestamp, int16 per analog, uint16 per 16 digitals (LE).
    const std::size_t rec = 8 + 2 * static_cast<std::size_t>(na) + 2 * static_cast<std::size_t>((c.digitals + 15) / 16);
    EXPECT_EQ(dat.size() % rec, 0u);
    auto u = [&](std::size_t p, int bytes) {
      std::uint32_t v = 0;
      for (int b = 0; b < bytes; ++b) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(dat[p + static_cast<std::size_t>(b)])) << (8 * b);
      return v;
    };
    for (std::size_t p = 0; p + rec <= dat.size(); p += rec) {
      c.n.push_back(u(p, 4));
      c.timestamp.push_back(u(p + 4, 4));
      for (int k = 0; k < na; ++k)
        add(k, static_cast<std::int16_t>(static_cast<std::uint16_t>(u(p + 8 + 2 * static_cast<std::size_t>(k), 2))));
    }
  }
  return c;
}

double mean(const std::vector<double>& v, std::size_t k0, std::size_t k1) {
  double s = 0;
  for (std::size_t k = k0; k < k1; ++k) s += v[k];
  return s / static_cast<double>(k1 - k0);
}

void check_against_run(const Comtrade& c, const power::SimResult& r, std::size_t block) {
  const std::size_t rows = (r.grid_w.size() + block - 1) / block;
  ASSERT_EQ(c.n.size(), rows);
  EXPECT_EQ(c.endsamp, static_cast<long>(rows));
  EXPECT_NEAR(c.samp, 1.0 / (r.step_s * static_cast<double>(block)), 1e-9);
  std::vector<std::string> ids;
  for (const auto& a : c.analogs) ids.push_back(a.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"grid", "facility", "job_big", "job_small", "battery", "soc"}));
  std::vector<std::vector<double>> want(6);
  for (std::size_t k = 0; k < r.grid_w.size(); k += block) {
    const std::size_t e = std::min(r.grid_w.size(), k + block);
    want[0].push_back(mean(r.grid_w, k, e) / 1e6);
    want[1].push_back(mean(r.facility_w, k, e) / 1e6);
    want[2].push_back(mean(r.job_w[0], k, e) / 1e6);
    want[3].push_back(mean(r.job_w[1], k, e) / 1e6);
    want[4].push_back((mean(r.facility_w, k, e) - mean(r.grid_w, k, e)) / 1e6);
    want[5].push_back(mean(r.soc, k, e) * 100);
  }
  for (std::size_t ch = 0; ch < 6; ++ch) {
    const double tol = c.analogs[ch].a / 2 * (1 + 1e-9) + 1e-12;  // half a quantisation step
    for (std::size_t k = 0; k < rows; ++k) {
      ASSERT_NEAR(c.values[ch][k], want[ch][k], tol) << ids[ch] << " row " << k;
    }
  }
  for (std::size_t k = 0; k < rows; ++k) {
    EXPECT_EQ(c.n[k], k + 1);
    EXPECT_NEAR(c.timestamp[k] * c.timemult, static_cast<double>(k) * r.step_s * static_cast<double>(block) * 1e6, c.timemult);
  }
}

}  // namespace

TEST(Export, JobPowerTracesAgreeBetweenFastAndReferenceSimulators) {
  const auto sc = scenario_from(kTwoJobsWithStorage);
  power::SimOptions opt;
  opt.trace_jobs = true;
  const auto fast = power::simulate(sc, opt), ref = power::simulate_reference(sc, opt);
  ASSERT_EQ(fast.job_w.size(), 2u);
  ASSERT_EQ(ref.job_w.size(), 2u);
  for (std::size_t j = 0; j < 2; ++j)
    for (std::size_t k = 0; k < fast.job_w[j].size(); ++k)
      ASSERT_NEAR(fast.job_w[j][k], ref.job_w[j][k], 1e-9 * std::abs(ref.job_w[j][k]) + 1e-6) << j << " " << k;
  // The small job stops at 15 s: from then on it draws only its servers' base power.
  EXPECT_LT(fast.job_w[1][17000], fast.job_w[1][5000]);
}

TEST(Export, ComtradeAsciiAndBinaryReadBackWithinQuantisation) {
  const auto sc = scenario_from(kTwoJobsWithStorage);
  power::SimOptions opt;
  opt.trace_jobs = true;
  const auto r = power::simulate(sc, opt);
  keel::testing::TempDir dir("keel_comtrade");
  for (const std::size_t block : {std::size_t{1}, std::size_t{10}}) {
    const auto series = power::export_series(sc, r, block == 1 ? 0.0 : 10.0);
    for (const auto fmt : {power::ComtradeFormat::ascii, power::ComtradeFormat::binary}) {
      const auto sub = dir.path / (fmt == power::ComtradeFormat::ascii ? "ascii" : "binary");
      const auto cfg = power::write_comtrade(sub, series, fmt);
      EXPECT_EQ(cfg, sub / "two_jobs.cfg");
      const Comtrade c = read_comtrade(cfg, sub / "two_jobs.dat");
      EXPECT_EQ(c.station, "two_jobs");
      EXPECT_EQ(c.rev_year, 2013);
      EXPECT_EQ(c.analogs[0].unit, "MW");
      EXPECT_EQ(c.analogs[5].unit, "%");
      check_against_run(c, r, block);
    }
  }
}

TEST(Export, OpenDssLoadshapeReadsBackToTheGridPower) {
  const auto sc = scenario_from(kTwoJobsWithStorage);
  power::SimOptions opt;
  opt.trace_jobs = true;
  const auto r = power::simulate(sc, opt);
  keel::testing::TempDir dir("keel_opendss");
  const auto dss = power::write_opendss(dir.path, power::export_series(sc, r, 5.0), {"pcc", 13.8, 0.95});
  const std::string text = keel::testing::read_all(dss);
  // New Loadshape.<name> npts=N sinterval=S mult=(file=F); New Load.<name> ... kW=P duty=<shape>
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(New Loadshape\.(\S+) npts=(\d+) sinterval=(\S+) mult=\(file=([^)]+)\))"))) << text;
  const std::string shape = m[1];
  const long npts = std::stol(m[2]);
  const double sinterval = std::stod(m[3]);
  const std::string file = m[4];
  ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(New Load\.\S+ bus1=pcc phases=3 kV=13.8 kW=(\S+) pf=0.95 model=1 duty=(\S+))"))) << text;
  const double kw = std::stod(m[1]);
  EXPECT_EQ(m[2].str(), shape);
  EXPECT_DOUBLE_EQ(sinterval, 0.005);
  std::vector<double> mult;
  std::istringstream in(keel::testing::read_all(dir.path / file));
  for (std::string l; std::getline(in, l);) mult.push_back(std::stod(l));
  ASSERT_EQ(mult.size(), static_cast<std::size_t>(npts));
  ASSERT_EQ(mult.size(), (r.grid_w.size() + 4) / 5);
  double peak = 0;
  for (double v : mult) peak = std::max(peak, v);
  EXPECT_NEAR(peak, 1.0, 1e-12);
  for (std::size_t k = 0; k < mult.size(); ++k) {
    const double want_kw = mean(r.grid_w, 5 * k, std::min(r.grid_w.size(), 5 * k + 5)) / 1e3;
    ASSERT_NEAR(mult[k] * kw, want_kw, 1e-6 * want_kw) << k;  // 9 significant digits
  }
}

TEST(Export, CliWritesBothBesideTheTraceAndRefusesABadStep) {
  keel::testing::TempDir dir("keel_export_cli");
  const std::string scen = (dir.path / "s.toml").string();
  std::ofstream(scen) << kTwoJobsWithStorage;
  auto r = keel::testing::run_keel("power simulate " + scen + " --quiet --trace-step-ms 10 --trace " +
                                   (dir.path / "t.csv").string() + " --export-comtrade " +
                                   (dir.path / "ct").string() + " --comtrade-format ascii --export-opendss " +
                                   (dir.path / "dss").string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const Comtrade c = read_comtrade(dir.path / "ct/two_jobs.cfg", dir.path / "ct/two_jobs.dat");
  EXPECT_EQ(c.ft, "ASCII");
  // The grid channel equals the trace's grid_mw column (6 decimals) within half a step.
  std::istringstream trace(keel::testing::read_all(dir.path / "t.csv"));
  std::string line;
  std::getline(trace, line);
  std::size_t k = 0;
  for (; std::getline(trace, line); ++k) {
    const auto f = split(line, ',');
    ASSERT_LT(k, c.values[0].size());
    EXPECT_NEAR(c.values[0][k], std::stod(f.at(2)), c.analogs[0].a / 2 + 5e-7) << k;
  }
  EXPECT_EQ(k, c.values[0].size());
  EXPECT_TRUE(std::filesystem::exists(dir.path / "dss/two_jobs.dss"));
  r = keel::testing::run_keel("power simulate " + scen + " --quiet --trace-step-ms 2.5 --export-comtrade " +
                              (dir.path / "ct2").string());
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir.path / "ct2"));
}
