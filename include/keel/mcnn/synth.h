#pragma once
// A synthetic BBBC021: rows of a plate/compound/MoA table (built in, or a real BBBC021 metadata
// directory's: plates, wells, compounds, concentrations, MOAs, file and folder names) with
// procedurally drawn cells whose morphology depends on the MOA, written in exactly the published
// layout (DIR/PathName/FileName TIFFs + both CSVs).
//
// Per class: nucleus size (3 levels) and elongation, cell density, fragmented nuclei, tubulin
// pattern (diffuse / radial filaments / perinuclear bundle), actin (cortical ring / stress
// fibres). Per image and cell: log-normal size jitter, random orientation and placement, per-image
// gain per channel, background and sensor noise, 12-bit values scaled x16 as in the real files.
// Classes share every single feature with others, so only combinations separate them.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "keel/mcnn/bbbc021.h"

namespace keel::mcnn {

struct SynthOptions {
  std::filesystem::path out;
  // Directory with the real BBBC021_v1_{image,moa}.csv; empty: the built-in table.
  std::filesystem::path metadata;
  int height = 1024, width = 1280;
  int images_per_class = 8;
  std::uint64_t seed = 1;
  int threads = 0;  // 0: hardware concurrency
  // Non-empty: write a manifest layout instead (DIR/manifest.csv with plate, well, compound,
  // concentration, label and one column per channel name; TIFFs under DIR/images/PLATE/).
  // Channels past the third are mixes of the drawn ones (c: the mean of c mod 3 and c+1 mod 3),
  // so any channel count can be tried on data a network can learn.
  std::vector<std::string> channels;
};
inline constexpr const char* kSynthManifest = "manifest.csv";

struct SynthSummary {
  int images = 0, classes = 0, compounds = 0, plates = 0;
};

// The built-in table: BBBC021's 13 MoA labels (DMSO included), three synthetic compounds per
// treated class at two concentrations, four sites per well on 96-well plates; exactly
// `images_per_class` image rows per class, in the published columns and file-name style.
struct Bbbc021Table {
  std::vector<ImageRow> images;
  std::vector<MoaRow> moa;
};
Bbbc021Table builtin_table(int images_per_class);

// Throws InputError for a bad size, missing metadata or an unwritable output directory.
SynthSummary synthesize(const SynthOptions& opt,
                        const std::function<void(int done, int total)>& progress = {});

// The drawn image of one class (3 channels, kChannels order) — exposed for tests.
void draw_synthetic(int label, int height, int width, std::uint64_t seed,
                    std::uint16_t* dapi, std::uint16_t* tubulin, std::uint16_t* actin);

}  // namespace keel::mcnn
