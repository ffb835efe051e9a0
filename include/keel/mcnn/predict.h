#pragma once
// `keel mcnn predict`'s outputs, from per-field class probabilities: the fields themselves, their
// mean per well and per treatment (compound x concentration), and the mean penultimate-layer
// profile per treatment (what NSC compares). LibTorch-free: the network runs in predict_mcnn.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "keel/mcnn/bbbc021.h"

namespace keel::mcnn {

struct FieldResult {
  std::size_t index = 0;    // into Dataset::samples
  std::vector<float> probs;  // [classes]
};

// The dataset's treatments, sorted by (compound, concentration), and each sample's treatment.
struct TreatmentIndex {
  struct Treatment {
    std::string compound;
    double concentration = 0;
  };
  std::vector<Treatment> list;
  std::vector<std::size_t> of_sample;  // [samples] -> index into list
};
TreatmentIndex index_treatments(const Dataset& ds);

struct PredictPaths {
  std::filesystem::path fields, wells, treatments, features;  // wells/features may be empty
};
// pred.csv -> pred.wells.csv and pred.treatments.csv beside it (FILE.csv or FILE without an
// extension alike); `features` as given (empty: none).
PredictPaths predict_paths(const std::filesystem::path& out, const std::filesystem::path& features,
                           bool has_wells);

// Sums of the treatments' penultimate-layer features ([treatments x dim]) and their field counts.
struct TreatmentFeatures {
  int dim = 0;
  std::vector<double> sum;
  std::vector<double> count;
};

// Writes the CSVs (each to a temporary name; all renamed once all are written). `fields` in any
// order, one per sample predicted. Mean probabilities per well/treatment; predicted = argmax of
// the mean. Columns are documented in docs/mcnn.md. Returns the rows written per table.
struct PredictionRows {
  std::size_t fields = 0, wells = 0, treatments = 0;
};
PredictionRows write_predictions(const Dataset& ds, std::vector<FieldResult> fields,
                       const TreatmentIndex& treatments, const TreatmentFeatures& features,
                       const PredictPaths& paths);

}  // namespace keel::mcnn
