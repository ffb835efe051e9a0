// The built-in plate/compound/MoA table behind `keel mcnn synth` without --metadata: BBBC021's
// 13 mechanism-of-action labels (DMSO included), three invented compounds per treated class at two
// concentrations each (so not-same-compound matching has other compounds to find), laid out on
// 96-well plates with four sites per well, in the rows and file names of the published CSVs.
#include <fmt/format.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "keel/core/error.h"
#include "keel/mcnn/synth.h"

namespace keel::mcnn {

namespace {

struct MoaClass {
  const char* label;
  const char* code;  // compound name stem
};
// The labels of BBBC021_v1_moa.csv; compound names are synthetic ("<code>-1" ...).
constexpr std::array<MoaClass, 13> kClasses = {{{"Actin disruptors", "ACT"},
                                                {"Aurora kinase inhibitors", "AUR"},
                                                {"Cholesterol-lowering", "CHL"},
                                                {"DMSO", "DMSO"},
                                                {"DNA damage", "DND"},
                                                {"DNA replication", "DNR"},
                                                {"Eg5 inhibitors", "EG5"},
                                                {"Epithelial", "EPI"},
                                                {"Kinase inhibitors", "KIN"},
                                                {"Microtubule destabilizers", "MTD"},
                                                {"Microtubule stabilizers", "MTS"},
                                                {"Protein degradation", "PDG"},
                                                {"Protein synthesis", "PSY"}}};
constexpr int kCompoundsPerClass = 3;
constexpr std::array<double, 2> kConcentrations = {0.3, 1.0};  // µM, as the moa CSV gives them
constexpr int kSitesPerWell = 4;
constexpr int kWellsPerPlate = 96;

// A UUID-like suffix as MetaMorph writes after the channel code (deterministic).
std::string file_uuid(std::uint64_t x) {
  auto mix = [](std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  const std::uint64_t a = mix(x + 0x9E3779B97F4A7C15ull), b = mix(a);
  return fmt::format("{:08X}-{:04X}-{:04X}-{:04X}-{:012X}", a >> 32, (a >> 16) & 0xFFFF, a & 0xFFFF,
                     b >> 48, b & 0xFFFFFFFFFFFFull);
}

}  // namespace

Bbbc021Table builtin_table(int images_per_class) {
  if (images_per_class < 1)
    throw core::InputError("images per class must be >= 1", {"", 0, 0, "--images-per-class"});
  Bbbc021Table t;
  // Wells are handed out in order over plates: one well per (treatment, replicate).
  int next_well = 0, image_number = 0;
  for (const auto& cls : kClasses) {
    const bool dmso = std::string_view(cls.code) == "DMSO";
    std::vector<std::pair<std::string, double>> treatments;
    if (dmso) {
      treatments.emplace_back("DMSO", 0.0);
    } else {
      for (double conc : kConcentrations)
        for (int c = 1; c <= kCompoundsPerClass; ++c)
          treatments.emplace_back(fmt::format("{}-{}", cls.code, c), conc);
    }
    for (const auto& [compound, conc] : treatments) t.moa.push_back({compound, conc, cls.label});
    const int per_well = kSitesPerWell;
    const int n_treat = static_cast<int>(treatments.size());
    // Image i of the class: treatment i % n (compounds alternate), site, then replicate well.
    std::vector<int> well_of(
        static_cast<std::size_t>(n_treat) *
            static_cast<std::size_t>(images_per_class / (n_treat * per_well) + 1),
        -1);
    for (int i = 0; i < images_per_class; ++i) {
      const int tr = i % n_treat, site = (i / n_treat) % per_well, rep = i / (n_treat * per_well);
      int& well = well_of[static_cast<std::size_t>(rep * n_treat + tr)];
      if (well < 0) well = next_well++;
      const int plate = well / kWellsPerPlate, w = well % kWellsPerPlate;
      ImageRow r;
      r.table_number = 1 + plate / 4;
      r.image_number = ++image_number;
      r.plate = fmt::format("Week{}_{}", 1 + plate / 4, 30100 + plate);
      r.well = fmt::format("{}{:02d}", static_cast<char>('A' + w / 12), 1 + w % 12);
      r.replicate = 1 + rep;
      r.compound = treatments[static_cast<std::size_t>(tr)].first;
      r.concentration = treatments[static_cast<std::size_t>(tr)].second;
      static constexpr std::array<const char*, 3> kWave = {"w1", "w2", "w4"};
      for (std::size_t c = 0; c < 3; ++c) {
        r.path_name[c] = fmt::format("Week{}/{}", 1 + plate / 4, r.plate);
        r.file_name[c] = fmt::format("{}_s{}_{}{}.tif", r.well, site + 1, kWave[c],
                                     file_uuid(static_cast<std::uint64_t>(image_number) * 4 + c));
      }
      t.images.push_back(std::move(r));
    }
  }
  return t;
}

}  // namespace keel::mcnn
