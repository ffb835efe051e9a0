// COMTRADE and OpenDSS exports of a simulation (export.h).
#include "keel/power/export.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "keel/core/atomic_file.h"
#include "keel/core/error.h"
#include "keel/power/report.h"

namespace keel::power {

namespace {

// COMTRADE names may not hold commas; OpenDSS names no spaces or dots.
std::string safe_name(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' ? c : '_';
  return out.empty() ? "keel" : out;
}

void make_dir(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    throw core::InputError(fmt::format("cannot create directory {}: {}", dir.string(), ec.message()),
                           core::Location{dir.string(), 0, 0, {}}, "pass a writable directory");
}

// Per-channel scaling of the 16-bit samples: the channel's range onto [-32767, 32767].
struct Scale {
  double a = 1, b = 0;
};
Scale scale_of(const std::vector<double>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  Scale s;
  if (lo == v.end()) return s;
  s.b = (*hi + *lo) / 2;
  s.a = *hi > *lo ? (*hi - *lo) / 65534.0 : 1.0;
  return s;
}

}  // namespace

ExportSeries export_series(const Scenario& sc, const SimResult& r, double trace_step_ms) {
  const std::size_t m = block_of(r.step_s, trace_step_ms);
  const std::size_t n = r.grid_w.size();
  ExportSeries s;
  s.station = safe_name(sc.name);
  s.step_s = r.step_s * static_cast<double>(m);
  auto add = [&](const std::string& name, const std::string& unit, const std::vector<double>& v,
                 double factor) {
    ExportChannel c{name, unit, {}};
    for (std::size_t k = 0; k < n; k += m) c.values.push_back(block_mean(v, k, std::min(n, k + m)) * factor);
    s.channels.push_back(std::move(c));
  };
  add("grid", "MW", r.grid_w, 1e-6);
  add("facility", "MW", r.facility_w, 1e-6);
  for (std::size_t j = 0; j < r.job_w.size(); ++j)
    add("job_" + safe_name(sc.jobs[j].name), "MW", r.job_w[j], 1e-6);
  if (r.has_storage) {
    std::vector<double> battery(n);
    for (std::size_t k = 0; k < n; ++k) battery[k] = r.facility_w[k] - r.grid_w[k];
    add("battery", "MW", battery, 1e-6);
    add("soc", "%", r.soc, 100.0);
  }
  return s;
}

std::filesystem::path write_comtrade(const std::filesystem::path& dir, const ExportSeries& s,
                                     ComtradeFormat format) {
  make_dir(dir);
  const std::size_t n = s.channels.empty() ? 0 : s.channels[0].values.size();
  const double step_us = s.step_s * 1e6;
  // Timestamps are 32-bit counts of timemult microseconds.
  const double last_us = step_us * static_cast<double>(n);
  const double timemult = std::max(1.0, std::ceil(last_us / 4.0e9));
  std::vector<Scale> scales;
  for (const auto& c : s.channels) scales.push_back(scale_of(c.values));

  const auto cfg_path = dir / (s.station + ".cfg");
  const auto dat_path = dir / (s.station + ".dat");
  {
    core::AtomicFile f(cfg_path);
    auto& out = f.stream();
    // Lines end in CR LF, as the standard's files do.
    out << s.station << ",keel,2013\r\n";
    out << s.channels.size() << ',' << s.channels.size() << "A,0D\r\n";
    for (std::size_t i = 0; i < s.channels.size(); ++i) {
      const auto& c = s.channels[i];
      // An,ch_id,ph,ccbm,uu,a,b,skew,min,max,primary,secondary,PS
      out << fmt::format("{},{},,,{},{:.17g},{:.17g},0,{},{},1,1,P\r\n", i + 1, c.name, c.unit,
                         scales[i].a, scales[i].b, -32767, 32767);
    }
    out << "60\r\n";  // line frequency (not meaningful for power series; 60 Hz grid assumed)
    out << "1\r\n" << fmt::format("{:.17g},{}\r\n", 1.0 / s.step_s, n);
    out << "01/01/2000,00:00:00.000000\r\n01/01/2000,00:00:00.000000\r\n";  // start, trigger
    out << (format == ComtradeFormat::ascii ? "ASCII" : "BINARY") << "\r\n";
    out << fmt::format("{:g}\r\n", timemult);
    out << "+0h00,+0h00\r\n0,0\r\n";  // time code, local code; time quality, leap second
    f.commit();
  }
  core::AtomicFile f(dat_path);
  auto& out = f.stream();
  std::string row;
  for (std::size_t k = 0; k < n; ++k) {
    const auto ts = static_cast<std::uint32_t>(std::llround(static_cast<double>(k) * step_us / timemult));
    if (format == ComtradeFormat::ascii) {
      row = fmt::format("{},{}", k + 1, ts);
      for (std::size_t i = 0; i < s.channels.size(); ++i)
        row += fmt::format(",{}", std::llround((s.channels[i].values[k] - scales[i].b) / scales[i].a));
      out << row << "\r\n";
    } else {
      // Little-endian: uint32 sample number, uint32 timestamp, int16 per analog channel.
      const auto u32 = [&](std::uint32_t v) {
        for (int b = 0; b < 4; ++b) out.put(static_cast<char>((v >> (8 * b)) & 0xFF));
      };
      u32(static_cast<std::uint32_t>(k + 1));
      u32(ts);
      for (std::size_t i = 0; i < s.channels.size(); ++i) {
        const auto raw = static_cast<std::int16_t>(std::clamp<long long>(
            std::llround((s.channels[i].values[k] - scales[i].b) / scales[i].a), -32767, 32767));
        const auto u = static_cast<std::uint16_t>(raw);
        out.put(static_cast<char>(u & 0xFF));
        out.put(static_cast<char>(u >> 8));
      }
    }
  }
  f.commit();
  return cfg_path;
}

std::filesystem::path write_opendss(const std::filesystem::path& dir, const ExportSeries& s,
                                    const OpenDssOptions& o) {
  make_dir(dir);
  const auto& grid = s.channels.at(0).values;  // MW
  const double peak = grid.empty() ? 0 : *std::max_element(grid.begin(), grid.end());
  if (!(peak > 0)) throw core::Error("OpenDSS export: the grid power is never positive");
  const std::string shape = s.station + "_grid";
  const auto mult_path = dir / (shape + ".csv");
  {
    core::AtomicFile f(mult_path);
    for (double v : grid) f.stream() << fmt::format("{:.9g}\n", v / peak);
    f.commit();
  }
  const auto dss_path = dir / (s.station + ".dss");
  core::AtomicFile f(dss_path);
  f.stream() << fmt::format(
      "! keel power: grid power of scenario {}, {} points every {:g} s, per unit of its peak\n"
      "! ({:.6f} MW). Set bus1 and kV to where the datacenter connects; solve in duty mode:\n"
      "!   Set mode=duty stepsize={:g}s number={}\n"
      "New Loadshape.{} npts={} sinterval={:.17g} mult=(file={})\n"
      "New Load.{} bus1={} phases=3 kV={:g} kW={:.6f} pf={:g} model=1 duty={}\n",
      s.station, grid.size(), s.step_s, peak, s.step_s, grid.size(), shape, grid.size(), s.step_s,
      mult_path.filename().string(), s.station, o.bus, o.kv, peak * 1000.0, o.pf, shape);
  f.commit();
  return dss_path;
}

}  // namespace keel::power
