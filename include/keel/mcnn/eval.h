#pragma once
// Evaluation of a trained M-CNN: image-level accuracy, confusion matrix, and BBBC021's standard
// NSC ("not same compound") accuracy: each treatment (compound, concentration) is profiled by the
// mean of its images' penultimate-layer features; a treatment's MOA is predicted as that of its
// nearest treatment (cosine distance) of a *different* compound. DMSO is not a query.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "keel/mcnn/bbbc021.h"

namespace keel::mcnn {

struct Prediction {
  std::size_t index = 0;        // into Dataset::samples
  int predicted = 0;            // argmax class
  std::vector<float> features;  // [512] after ReLU
};

struct EvalReport {
  std::size_t images = 0;
  double accuracy = 0;
  std::vector<std::vector<int>> confusion;  // [true][predicted]
  int nsc_treatments = 0;                   // queries with a different-compound neighbour
  double nsc_accuracy = 0;
};

EvalReport evaluate(const Dataset& ds, const std::vector<Prediction>& preds);

// Runs the checkpoint's model over `indices` (LibTorch; defined in trainer.cc). Throws
// InputError when the checkpoint does not fit the data (classes, image size). `precision`:
// "fp32" | "bf16", empty for the precision the checkpoint was trained in.
std::vector<Prediction> predict_mcnn(const Dataset& ds, const std::vector<std::size_t>& indices,
                                     const std::filesystem::path& checkpoint, int threads,
                                     int batch, const std::string& precision = {});

}  // namespace keel::mcnn
