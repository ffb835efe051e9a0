#pragma once
// Evaluation of a trained M-CNN: image-level accuracy, confusion matrix, and BBBC021's standard
// NSC ("not same compound") accuracy: each treatment (compound, concentration) is profiled by the
// mean of its images' penultimate-layer features; a treatment's MOA is predicted as that of its
// nearest treatment (cosine distance) of a *different* compound. DMSO is not a query.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "keel/mcnn/bbbc021.h"

namespace keel::mcnn {

struct Prediction {
  std::size_t index = 0;        // into Dataset::samples
  int predicted = 0;            // argmax class
  std::vector<float> probs;     // [classes] softmax of the logits
  std::vector<float> features;  // [512] after ReLU
};

// What a `keel mcnn train` checkpoint says about its model (metadata only; no weights read).
// Checkpoints from before manifests carry no channel list: BBBC021's three.
struct CheckpointInfo {
  int height = 0, width = 0;
  std::vector<std::string> classes, channels;
  std::string precision = "fp32";
  std::uint64_t seed = 0;   // the run's seed and validation fraction: its held-out split
  double val_fraction = 0;
};
CheckpointInfo read_checkpoint_info(const std::filesystem::path& checkpoint);

// Makes `ds` the checkpoint's: the same channel count (InputError naming both lists otherwise),
// labels renumbered into the checkpoint's classes (a label it does not know is an InputError
// naming the source CSV's file:line), ds.classes replaced by the checkpoint's. Returns a warning
// line when the channel names differ (same count, maybe another order), empty otherwise.
std::string fit_to_checkpoint(Dataset& ds, const CheckpointInfo& info,
                              const std::filesystem::path& checkpoint);

struct EvalReport {
  std::size_t images = 0;
  double accuracy = 0;
  std::vector<std::vector<int>> confusion;  // [true][predicted]
  int nsc_treatments = 0;                   // queries with a different-compound neighbour
  double nsc_accuracy = 0;
};

EvalReport evaluate(const Dataset& ds, const std::vector<Prediction>& preds);

struct PredictOptions {
  int threads = 1;        // LibTorch threads
  int batch = 16;         // images per forward pass
  std::string precision;  // "fp32" | "bf16"; empty: the precision the checkpoint was trained in
  int loader_threads = 1;
};

// Runs the checkpoint's model over `indices` of `ds` (already fit_to_checkpoint'ed), handing each
// field's prediction to `sink` in order; images are decoded a few batches ahead, so memory stays
// bounded whatever the plate count (LibTorch; defined in trainer.cc). InputError when an image
// does not have the checkpoint's size (naming the CSV's file:line and column).
void predict_mcnn(const Dataset& ds, const std::vector<std::size_t>& indices,
                  const std::filesystem::path& checkpoint, const PredictOptions& opt,
                  const std::function<void(Prediction&&)>& sink);
// The same, collected.
std::vector<Prediction> predict_mcnn(const Dataset& ds, const std::vector<std::size_t>& indices,
                                     const std::filesystem::path& checkpoint, int threads,
                                     int batch, const std::string& precision = {});

}  // namespace keel::mcnn
