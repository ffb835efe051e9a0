#pragma once
// `keel nmt import`: models trained elsewhere, written as keel model directories (model.keel,
// source.spm + target.spm, decoding.json, checksums) that translate, quantize, bench and serve
// use unchanged. Every input is checked before anything is written; the directory appears whole
// (written beside and renamed) or not at all.
#include <filesystem>
#include <string>

#include "keel/nmt/model.h"
#include "keel/nmt/transformer.h"

namespace keel::nmt {

struct ImportSummary {
  ModelConfig config;
  DecodeOptions decoding;  // what decoding.json holds (the model's generation settings)
  std::size_t tensors = 0;
  std::int64_t parameters = 0;
  std::string weights_file;  // which file the weights came from
};

// A Hugging Face MarianMT directory (OPUS-MT): config.json (model_type "marian"), vocab.json
// (and target_vocab.json when the vocabularies are separate), source.spm, target.spm, and
// model.safetensors. Throws core::InputError naming the file and key for anything missing,
// unsupported or inconsistent.
ImportSummary import_marian_hf(const std::filesystem::path& dir, const std::filesystem::path& out);

// A CTranslate2 model directory (model.bin of binary version 2 to 6, config.json, shared or
// source/target vocabularies; float32, float16, bfloat16, int16 or int8 weights, dequantized):
// an encoder-decoder TransformerSpec, pre- or post-norm. CTranslate2 directories carry no
// SentencePiece model: `source_spm` / `target_spm` are the ones the model was trained with (an
// Argos Translate package keeps one beside its model directory).
ImportSummary import_ctranslate2(const std::filesystem::path& dir, const std::filesystem::path& source_spm,
                                 const std::filesystem::path& target_spm, const std::filesystem::path& out);

// An OpenNMT-py 3.x checkpoint (torch.save .pt: model, generator, vocab, opt): the plain
// Transformer (pre-norm, ReLU or GELU, absolute sinusoid positions); every other variant its
// options or tensors name is refused. The SentencePiece models are the ones it was trained with.
ImportSummary import_opennmt_py(const std::filesystem::path& checkpoint, const std::filesystem::path& source_spm,
                                const std::filesystem::path& target_spm, const std::filesystem::path& out);

// The model and decoding defaults written as a model directory at `out` (which must not exist
// yet), with the SentencePiece models copied in; checked by loading it back.
void write_model_directory(const Model& model, const DecodeOptions& decoding,
                           const std::filesystem::path& source_spm,
                           const std::filesystem::path& target_spm, const std::filesystem::path& out);

}  // namespace keel::nmt
