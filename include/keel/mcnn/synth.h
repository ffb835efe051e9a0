#pragma once
// A synthetic BBBC021: the real CSVs' rows (plates, wells, compounds, concentrations, MOAs, file
// and folder names) with procedurally drawn cells whose morphology depends on the MOA, written in
// exactly the published layout (DIR/PathName/FileName TIFFs + both CSVs).
//
// Per class: nucleus size (3 levels) and elongation, cell density, fragmented nuclei, tubulin
// pattern (diffuse / radial filaments / perinuclear bundle), actin (cortical ring / stress
// fibres). Per image and cell: log-normal size jitter, random orientation and placement, per-image
// gain per channel, background and sensor noise, 12-bit values scaled x16 as in the real files.
// Classes share every single feature with others, so only combinations separate them.

#include <cstdint>
#include <filesystem>
#include <functional>

namespace keel::mcnn {

struct SynthOptions {
  std::filesystem::path out;
  std::filesystem::path metadata;  // directory with the real BBBC021_v1_{image,moa}.csv
  int height = 1024, width = 1280;
  int images_per_class = 8;
  std::uint64_t seed = 1;
  int threads = 0;  // 0: hardware concurrency
};

struct SynthSummary {
  int images = 0, classes = 0, compounds = 0, plates = 0;
};

// Throws InputError for a bad size, missing metadata or an unwritable output directory.
SynthSummary synthesize(const SynthOptions& opt,
                        const std::function<void(int done, int total)>& progress = {});

// The drawn image of one class (3 channels, kChannels order) — exposed for tests.
void draw_synthetic(int label, int height, int width, std::uint64_t seed,
                    std::uint16_t* dapi, std::uint16_t* tubulin, std::uint16_t* actin);

}  // namespace keel::mcnn
