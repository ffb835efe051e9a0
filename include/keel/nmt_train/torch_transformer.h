#pragma once
// The Transformer of keel::nmt rebuilt as a LibTorch module, for training: the same layers,
// norms, scales and positions as the inference engine (src/nmt/transformer.cc) and exactly the
// tensor names and shapes of expected_tensors(config) (plus decoder.output.bias), so a model
// moves between the two by a name-by-name copy. LibTorch stays inside torch_transformer.cc.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "keel/nmt/model.h"
#include "keel/nmt/transformer.h"
#include "keel/train/torch_train.h"

namespace keel::nmt {

// Sums over the real (non-padding) target tokens of a batch.
struct LossSums {
  double loss = 0;  // label-smoothed cross entropy
  double nll = 0;   // plain negative log-likelihood (perplexity = exp(nll / tokens))
  std::int64_t tokens = 0;
};

struct StepStats {
  LossSums sums;
  double grad_norm = 0;  // before clipping
};

class TorchTransformer {
 public:
  // A fresh model: Xavier-uniform linear weights, zero biases, embeddings ~ N(0, 1/d), drawn
  // from LibTorch's generator seeded with `seed`. `dropout` applies to training steps only.
  TorchTransformer(const ModelConfig& config, std::uint64_t seed, double dropout = 0.0);
  ~TorchTransformer();
  TorchTransformer(const TorchTransformer&) = delete;
  TorchTransformer& operator=(const TorchTransformer&) = delete;

  const ModelConfig& config() const;
  std::int64_t parameter_count() const;

  // Copies every tensor of `model` by name (f32 only). Throws InputError when the config
  // differs or a tensor is missing, extra or of another shape.
  void load(const Model& model);
  // The weights as keel's model: config, the given vocabularies, f32 tensors by name.
  Model to_model(const Vocabulary& src_vocab, const Vocabulary& tgt_vocab) const;

  // Inference (no dropout), the same contracts as keel::nmt::Transformer's methods of the same
  // names: sources end with EOS; outputs are packed sentence after sentence.
  std::vector<float> encode(const std::vector<Ids>& src) const;
  std::vector<std::vector<float>> forced_logits(const std::vector<Ids>& src,
                                                const std::vector<Ids>& tgt) const;
  // Greedy decoding without a cache (the whole prefix is run at each step): the plain
  // reference the engine's cached greedy is compared with.
  std::vector<Ids> greedy(const std::vector<Ids>& src, int max_length) const;

  // Teacher-forced loss of pairs (target without BOS/EOS), no gradient, no dropout.
  LossSums loss(const std::vector<Ids>& src, const std::vector<Ids>& tgt,
                double label_smoothing) const;

  // Creates the optimizer; train_step needs it, and checkpoints hold its state.
  void start_training(const train::AdamConfig& adam);
  // One optimizer step on a batch: mean label-smoothed loss over its target tokens (padding
  // ignored), backward, gradient clipping to `clip_norm` (<= 0: none), Adam at rate `lr`.
  StepStats train_step(const std::vector<Ids>& src, const std::vector<Ids>& tgt, double lr,
                       double label_smoothing, double clip_norm);

  // Module + optimizer + meta + LibTorch RNG, written atomically (keel::train checkpoints).
  void save_checkpoint(const std::filesystem::path& file, const train::CheckpointMeta& meta);
  train::CheckpointMeta load_checkpoint(const std::filesystem::path& file);
  train::ParamFingerprint fingerprint() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::nmt
