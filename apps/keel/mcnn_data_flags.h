#pragma once
// The input flags `keel mcnn train`, `eval` and `predict` share: a BBBC021 directory or a
// manifest with its column names, and the image root.

#include <CLI/CLI.hpp>

#include <string>

#include "keel/core/error.h"
#include "keel/mcnn/manifest.h"

namespace keel::cli {

struct McnnDataFlags {
  std::string channels;  // --channels, parsed by resolve()
  // Fills src.spec.channels from --channels; --channels without --manifest is an error.
  void resolve(mcnn::DataSource& src) const {
    if (channels.empty()) return;
    if (src.manifest.empty())
      throw core::InputError("--channels names a manifest's columns", {"", 0, 0, "--channels"},
                             "pass it with --manifest FILE.csv (a BBBC021 directory has its "
                             "three channels built in)");
    src.spec.channels = mcnn::parse_channel_list(channels, "--channels");
  }
};

inline void add_mcnn_data_flags(CLI::App* cmd, mcnn::DataSource& src, McnnDataFlags& flags,
                                bool labels_optional) {
  cmd->add_option("--data", src.data, "BBBC021-layout directory (the two CSVs)");
  cmd->add_option("--manifest", src.manifest,
                  "Or a manifest CSV: one row per field of view, one column per channel file");
  cmd->add_option("--channels", flags.channels,
                  "With --manifest: the columns holding the channel files, in input order (e.g. "
                  "DAPI,Tubulin,Actin or five Cell Painting channels)");
  cmd->add_option("--label-column", src.spec.label_column,
                  labels_optional ? "Manifest column with the class (optional here)"
                                  : "Manifest column with the class")
      ->capture_default_str();
  cmd->add_option("--group-column", src.spec.group_column,
                  "Manifest column with the compound (treatments, NSC)")
      ->capture_default_str();
  cmd->add_option("--concentration-column", src.spec.concentration_column,
                  "Manifest column with the concentration (optional)")
      ->capture_default_str();
  cmd->add_option("--plate-column", src.spec.plate_column, "Manifest plate column (optional)")
      ->capture_default_str();
  cmd->add_option("--well-column", src.spec.well_column, "Manifest well column (optional)")
      ->capture_default_str();
  cmd->add_option("--images", src.images,
                  "Root of the image paths (default: the folder of the CSVs)");
  src.spec.require_labels = !labels_optional;
}

}  // namespace keel::cli
