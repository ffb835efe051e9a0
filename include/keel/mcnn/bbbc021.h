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

// One field of view: a file per channel plus what it shows. A manifest fills row.plate, well,
// compound (its group column), concentration and line; BBBC021 fills every ImageRow field.
struct Sample {
  ImageRow row;
  std::string moa;                            // the class name; empty when unlabeled
  int label = 0;                              // index into Dataset::classes; -1 when unlabeled
  std::vector<std::filesystem::path> files;   // Dataset::channels order
};

struct Dataset {
  std::filesystem::path dir;
  std::filesystem::path source;  // the CSV whose line numbers ImageRow::line refers to
  // Channel names in input order, and the source column each comes from (for messages).
  std::vector<std::string> channels = {kChannels.begin(), kChannels.end()};
  std::vector<std::string> channel_columns;
  bool has_wells = true;             // plate and well known (a manifest may lack them)
  std::vector<std::string> classes;  // the labels, sorted (13 for BBBC021)
  std::vector<Sample> samples;       // image rows that carry a label (all with keep_unlabeled)
  int unlabeled = 0;                 // image rows without a label
  int skipped = 0;                   // rows dropped by skip_bad
  std::vector<std::string> skip_reasons;  // one line per skipped row (first 20)
  int first_height = 0, first_width = 0;  // of the first file whose header was read
};

struct LoadOptions {
  // Check every labeled row's three files: existence always; TIFF header, bit depth and strip
  // bounds too when skip_bad is set (bad rows are then dropped and counted instead of fatal).
  bool check_files = true;
  bool skip_bad = false;
  // Where PathName is rooted; the CSVs' directory when empty.
  std::filesystem::path image_root;
  // Keep rows without a label (label -1) in Dataset::samples: prediction on unlabelled plates.
  bool keep_unlabeled = false;
};

// Checks `s`'s files as `opt` asks and appends it to ds.samples: existence always (unless
// check_files is off); with skip_bad also each TIFF's header, strips and size (equal to the first
// good file's), bad rows then counted and listed instead of thrown. False when skipped.
bool add_checked_sample(Dataset& ds, Sample s, const LoadOptions& opt);

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
