#pragma once
// BBBC021 read as the Broad publishes it: BBBC021_v1_image.csv (one row per field of view, a
// file and folder per channel) joined with BBBC021_v1_moa.csv (compound, concentration, moa) on
// the compound and the *parsed* concentration (copies in circulation print 0.003000, 0.003 or
// 3e-4). Images are DIR/PathName/FileName, 16-bit single-channel TIFFs.

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace keel::mcnn {

inline constexpr std::array<const char*, 3> kChannels = {"DAPI", "Tubulin", "Actin"};
inline constexpr const char* kImageCsv = "BBBC021_v1_image.csv";
inline constexpr const char* kMoaCsv = "BBBC021_v1_moa.csv";

struct ImageRow {
  int table_number = 0, image_number = 0;
  std::array<std::string, 3> file_name, path_name;  // per channel, kChannels order
  std::string plate, well;
  int replicate = 0;
  std::string compound;
  double concentration = 0;
  int line = 0;  // 1-based line in the CSV, for error messages
};

struct MoaRow {
  std::string compound;
  double concentration = 0;
  std::string moa;
};

// Parse the CSVs as published (quoted or not; LF, CRLF or CR line endings; optional final
// newline). Columns are found by header name. Throw InputError naming file:line and column.
std::vector<ImageRow> read_image_csv(const std::filesystem::path& file);
std::vector<MoaRow> read_moa_csv(const std::filesystem::path& file);
// Writes in the Broad's style: strings double-quoted, numbers printed %f, LF endings.
std::string format_image_csv(const std::vector<ImageRow>& rows);
std::string format_moa_csv(const std::vector<MoaRow>& rows);

// The MOA of (compound, concentration), comparing concentrations as numbers (relative 1e-6).
std::optional<std::string> find_moa(const std::vector<MoaRow>& moa, const std::string& compound,
                                    double concentration);

struct Sample {
  ImageRow row;
  std::string moa;
  int label = 0;                                  // index into Dataset::classes
  std::array<std::filesystem::path, 3> files;     // kChannels order
};

struct Dataset {
  std::filesystem::path dir;
  std::vector<std::string> classes;  // the moa CSV's labels, sorted (13 for BBBC021)
  std::vector<Sample> samples;       // image rows that carry an MOA, in CSV order
  int unlabeled = 0;                 // image rows without an MOA (not used for training)
  int skipped = 0;                   // rows dropped by skip_bad
  std::vector<std::string> skip_reasons;  // one line per skipped row (first 20)
};

struct LoadOptions {
  // Check every labeled row's three files: existence always; TIFF header, bit depth and strip
  // bounds too when skip_bad is set (bad rows are then dropped and counted instead of fatal).
  bool check_files = true;
  bool skip_bad = false;
  // Where PathName is rooted; the CSVs' directory when empty.
  std::filesystem::path image_root;
};

// Reads DIR/BBBC021_v1_image.csv and DIR/BBBC021_v1_moa.csv and joins them.
Dataset load_bbbc021(const std::filesystem::path& dir, const LoadOptions& opt = {});
// The join itself, on rows already read (DIR is where the image CSV lives, for messages and as
// the default image root).
Dataset join_bbbc021(std::vector<ImageRow> images, const std::vector<MoaRow>& moa,
                     const std::filesystem::path& dir, const LoadOptions& opt = {});

// Deterministic stratified split: per class, a seeded shuffle puts round(n * val_fraction)
// images (at least one when the class has two or more) into validation. Sorted indices.
struct Split {
  std::vector<std::size_t> train, val;
};
Split split_train_val(const Dataset& ds, double val_fraction, std::uint64_t seed);

}  // namespace keel::mcnn
