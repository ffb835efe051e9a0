#include "keel/mcnn/synth.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <cmath>
#include <map>
#include <numbers>
#include <random>
#include <set>
#include <thread>

#include "keel/core/atomic_file.h"
#include "keel/core/error.h"
#include "keel/mcnn/bbbc021.h"
#include "keel/mcnn/model.h"
#include "keel/mcnn/tiff.h"
#include "csv.h"

namespace keel::mcnn {

namespace {

// Morphology code per class (index into the sorted MOA labels). Every value of every feature is
// shared by several classes; the 13 combinations are distinct.
struct Morph {
  int size;     // nucleus radius level 0..2
  int elong;    // 0 round, 1 elongated
  int dense;    // 0 sparse, 1 dense
  int tubulin;  // 0 diffuse, 1 radial filaments, 2 perinuclear bundle
  int actin;    // 0 cortical ring, 1 stress fibres
  int frag;     // 1: nucleus in fragments
};
constexpr Morph kMorph[13] = {
    {1, 0, 0, 0, 0, 0}, {0, 0, 1, 0, 0, 0}, {2, 0, 0, 1, 0, 0}, {1, 1, 0, 0, 1, 0},
    {0, 1, 1, 1, 0, 0}, {2, 1, 0, 0, 0, 0}, {1, 0, 1, 2, 0, 0}, {0, 0, 0, 1, 1, 0},
    {2, 0, 1, 0, 1, 0}, {1, 0, 0, 0, 0, 1}, {1, 1, 1, 2, 1, 0}, {0, 0, 1, 2, 1, 1},
    {2, 1, 1, 1, 1, 0}};

float smooth_inside(float d, float edge) {  // 1 inside (d < 1), soft edge of width `edge`
  return std::clamp((1.0f - d) / edge + 0.5f, 0.0f, 1.0f);
}

}  // namespace

void draw_synthetic(int label, int height, int width, std::uint64_t seed, std::uint16_t* dapi,
                    std::uint16_t* tubulin, std::uint16_t* actin) {
  const Morph m = kMorph[static_cast<std::size_t>(label) % 13];
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> U(0.0f, 1.0f);
  std::normal_distribution<float> N(0.0f, 1.0f);
  const std::size_t npix = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  std::vector<float> ch[3] = {std::vector<float>(npix, 0.0f), std::vector<float>(npix, 0.0f),
                              std::vector<float>(npix, 0.0f)};
  const float scale = static_cast<float>(std::min(height, width)) / 128.0f;
  const float area_ratio = static_cast<float>(width) / static_cast<float>(height);
  const float base_r = (m.size == 0 ? 3.0f : m.size == 1 ? 4.0f : 5.3f) * scale;
  const float mean_cells = (m.dense ? 16.0f : 8.0f) * std::max(1.0f, area_ratio);
  std::poisson_distribution<int> cells_d(mean_cells);
  const int cells = std::max(2, cells_d(rng));
  for (int c = 0; c < cells; ++c) {
    const float r = base_r * std::exp(0.15f * N(rng));
    const float cx = U(rng) * static_cast<float>(width), cy = U(rng) * static_cast<float>(height);
    const float th = U(rng) * std::numbers::pi_v<float>;
    const float el = m.elong ? 1.5f + 0.2f * N(rng) : 1.0f + 0.08f * std::abs(N(rng));
    const float a = r * std::sqrt(el), b = r / std::sqrt(el);
    const float R = 2.4f * r;                 // cell body radius
    const float fib_angle = U(rng) * std::numbers::pi_v<float>;
    const float fib_period = std::max(2.0f, 0.6f * r);
    const float phase = U(rng) * 6.2832f;
    const float spokes = static_cast<float>(10 + static_cast<int>(U(rng) * 6));
    float fx[5], fy[5];
    const int nfrag = m.frag ? 3 + static_cast<int>(U(rng) * 3) : 0;
    for (int k = 0; k < nfrag; ++k) {
      float ang = U(rng) * 6.2832f, dist = r * (0.5f + 0.6f * U(rng));
      fx[k] = cx + dist * std::cos(ang);
      fy[k] = cy + dist * std::sin(ang);
    }
    const float bright[3] = {0.8f + 0.3f * U(rng), 0.5f + 0.2f * U(rng), 0.5f + 0.2f * U(rng)};
    const int x0 = std::max(0, static_cast<int>(cx - R - 2)), x1 = std::min(width - 1, static_cast<int>(cx + R + 2));
    const int y0 = std::max(0, static_cast<int>(cy - R - 2)), y1 = std::min(height - 1, static_cast<int>(cy + R + 2));
    const float ct = std::cos(th), st = std::sin(th);
    for (int y = y0; y <= y1; ++y) {
      for (int x = x0; x <= x1; ++x) {
        const float dx = static_cast<float>(x) - cx, dy = static_cast<float>(y) - cy;
        const float d = std::sqrt(dx * dx + dy * dy);
        if (d > R + 1.5f) continue;
        const std::size_t i = static_cast<std::size_t>(y) * width + x;
        // DAPI: the nucleus, whole (ellipse) or in fragments.
        float nuc;
        if (nfrag) {
          nuc = 0;
          for (int k = 0; k < nfrag; ++k) {
            float ex = static_cast<float>(x) - fx[k], ey = static_cast<float>(y) - fy[k];
            nuc = std::max(nuc, smooth_inside(std::sqrt(ex * ex + ey * ey) / (0.45f * r), 0.3f));
          }
        } else {
          const float u = (dx * ct + dy * st) / a, v = (-dx * st + dy * ct) / b;
          nuc = smooth_inside(std::sqrt(u * u + v * v), 0.25f);
        }
        ch[0][i] = std::max(ch[0][i], bright[0] * nuc);
        const float body = smooth_inside(d / R, 0.15f);
        const float phi = std::atan2(dy, dx);
        float tub;
        switch (m.tubulin) {
          case 0: tub = 0.6f * body * (1.0f - 0.5f * d / R); break;
          case 1: tub = body * (0.2f + 0.8f * std::pow(std::max(0.0f, std::cos(spokes * phi + phase)), 6.0f)); break;
          default: tub = body * (0.15f + std::exp(-std::pow((d - 1.3f * r) / (0.35f * r), 2.0f))); break;
        }
        ch[1][i] = std::max(ch[1][i], bright[1] * tub);
        float act;
        if (m.actin == 0) {
          act = body * (0.15f + std::exp(-std::pow((d - 0.9f * R) / (0.12f * R), 2.0f)));
        } else {
          const float s = dx * std::cos(fib_angle) + dy * std::sin(fib_angle);
          act = body * (0.15f + std::pow(0.5f + 0.5f * std::cos(6.2832f * s / fib_period), 4.0f));
        }
        ch[2][i] = std::max(ch[2][i], bright[2] * act);
      }
    }
  }
  // Camera: per-image gain and background, sensor noise, 12-bit quantisation, values x16.
  std::uint16_t* outs[3] = {dapi, tubulin, actin};
  for (std::size_t c = 0; c < 3; ++c) {
    const float gain = 1500.0f * (0.7f + 0.6f * U(rng));
    const float bg = 100.0f + 80.0f * U(rng);
    for (std::size_t i = 0; i < npix; ++i) {
      float v = bg + gain * ch[c][i];
      v += std::sqrt(std::max(v, 1.0f)) * 1.5f * N(rng);
      outs[c][i] = static_cast<std::uint16_t>(std::clamp(std::lround(v), 0L, 4095L) * 16);
    }
  }
}

SynthSummary synthesize(const SynthOptions& opt,
                        const std::function<void(int, int)>& progress) {
  check_input_size(opt.height, opt.width);
  if (opt.images_per_class < 1)
    throw core::InputError("images per class must be >= 1", {"", 0, 0, "--images-per-class"});
  // The rows to draw: the built-in table, or a real metadata directory's (joined as loading does).
  Bbbc021Table table;
  if (opt.metadata.empty()) {
    table = builtin_table(opt.images_per_class);
  } else {
    if (!std::filesystem::is_regular_file(opt.metadata / kImageCsv))
      throw core::InputError("BBBC021 metadata not found", {(opt.metadata / kImageCsv).string(), 0, 0, {}},
                             "pass --metadata DIR holding BBBC021_v1_image.csv and "
                             "BBBC021_v1_moa.csv, or leave it out for the built-in table");
    table = {read_image_csv(opt.metadata / kImageCsv), read_moa_csv(opt.metadata / kMoaCsv)};
  }
  LoadOptions lo;
  lo.check_files = false;
  Dataset joined = join_bbbc021(table.images, table.moa, opt.out, lo);
  std::map<int, std::map<std::string, std::vector<std::size_t>>> by_class;  // label -> compound -> rows
  for (std::size_t i = 0; i < joined.samples.size(); ++i)
    by_class[joined.samples[i].label][joined.samples[i].row.compound].push_back(i);
  std::mt19937_64 rng(opt.seed);
  std::vector<std::size_t> chosen;
  for (auto& [label, compounds] : by_class) {
    // Round-robin over the class's compounds so each class spans several of them.
    std::vector<std::vector<std::size_t>> lists;
    for (auto& [name, rows] : compounds) {
      std::shuffle(rows.begin(), rows.end(), rng);
      lists.push_back(rows);
    }
    int taken = 0;
    for (std::size_t k = 0; taken < opt.images_per_class; ++k) {
      bool any = false;
      for (auto& l : lists) {
        if (k < l.size() && taken < opt.images_per_class) {
          chosen.push_back(l[k]);
          ++taken;
          any = true;
        }
      }
      if (!any) break;
    }
  }
  std::sort(chosen.begin(), chosen.end());  // CSV order of the original
  std::error_code ec;
  std::filesystem::create_directories(opt.out, ec);
  if (ec) throw core::InputError("cannot create output directory: " + ec.message(), {opt.out.string(), 0, 0, {}});
  std::set<std::string> compounds, plates;
  std::vector<ImageRow> rows;
  const bool manifest = !opt.channels.empty();
  // Manifest layout: one relative file per channel and row.
  auto manifest_file = [&](int k, std::size_t c) {
    const auto& row = joined.samples[chosen[static_cast<std::size_t>(k)]].row;
    return std::filesystem::path("images") / row.plate /
           fmt::format("{}_f{}_{}.tif", row.well, k, opt.channels[c]);
  };
  for (auto i : chosen) {
    const auto& s = joined.samples[i];
    rows.push_back(s.row);
    compounds.insert(s.row.compound);
    plates.insert(s.row.plate);
    if (manifest) std::filesystem::create_directories(opt.out / "images" / s.row.plate);
    else
      for (std::size_t c = 0; c < 3; ++c) std::filesystem::create_directories(opt.out / s.row.path_name[c]);
  }
  const int total = static_cast<int>(chosen.size());
  std::atomic<int> next{0}, done{0};
  std::exception_ptr err;
  std::mutex err_mu;
  auto worker = [&] {
    const std::size_t npix = static_cast<std::size_t>(opt.height) * static_cast<std::size_t>(opt.width);
    Image16 img[3];
    for (auto& im : img) im = {opt.width, opt.height, std::vector<std::uint16_t>(npix)};
    for (int k; (k = next++) < total;) {
      try {
        const Sample& s = joined.samples[chosen[static_cast<std::size_t>(k)]];
        std::uint64_t seed = opt.seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(k) * 0xBF58476D1CE4E5B9ull;
        draw_synthetic(s.label, opt.height, opt.width, seed, img[0].pixels.data(),
                       img[1].pixels.data(), img[2].pixels.data());
        if (!manifest) {
          for (std::size_t c = 0; c < 3; ++c)
            write_tiff16(opt.out / s.row.path_name[c] / s.row.file_name[c], img[c]);
        }
        for (std::size_t c = 0; manifest && c < opt.channels.size(); ++c) {
          if (c < 3) {
            write_tiff16(opt.out / manifest_file(k, c), img[c]);
            continue;
          }
          Image16 mix = img[0];
          const auto& a = img[c % 3].pixels;
          const auto& b = img[(c + 1) % 3].pixels;
          for (std::size_t p = 0; p < npix; ++p)
            mix.pixels[p] = static_cast<std::uint16_t>((a[p] + b[p]) / 2);
          write_tiff16(opt.out / manifest_file(k, c), mix);
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(err_mu);
        if (!err) err = std::current_exception();
        next = total;
      }
      ++done;
    }
  };
  int nthreads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::thread> pool;
  for (int t = 0; t < nthreads; ++t) pool.emplace_back(worker);
  if (progress) {
    while (done < total && !err) {
      progress(done, total);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  for (auto& t : pool) t.join();
  if (err) std::rethrow_exception(err);
  if (progress) progress(total, total);
  if (manifest) {
    std::string m = "plate,well,compound,concentration,label";
    for (const auto& c : opt.channels) m += "," + c;
    m += "\n";
    for (int k = 0; k < total; ++k) {
      const auto& s = joined.samples[chosen[static_cast<std::size_t>(k)]];
      m += fmt::format("{},{},{},{:g},{}", csv::quoted(s.row.plate), csv::quoted(s.row.well),
                       csv::quoted(s.row.compound), s.row.concentration, csv::quoted(s.moa));
      for (std::size_t c = 0; c < opt.channels.size(); ++c) m += "," + manifest_file(k, c).string();
      m += "\n";
    }
    core::write_file_atomic(opt.out / kSynthManifest, m);
  } else {
    core::write_file_atomic(opt.out / kImageCsv, format_image_csv(rows));
    core::write_file_atomic(opt.out / kMoaCsv, format_moa_csv(table.moa));
  }
  return {total, static_cast<int>(by_class.size()), static_cast<int>(compounds.size()),
          static_cast<int>(plates.size())};
}

}  // namespace keel::mcnn
