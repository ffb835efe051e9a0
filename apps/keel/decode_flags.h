#pragma once
// Decoding flags shared by `keel nmt translate`, `serve` and `bench`. A flag given on the command
// line overrides the model directory's decoding.json, which overrides keel's defaults
// (keel/nmt/decoding_file.h); a flag not given leaves the value below it.
#include <CLI/CLI.hpp>

#include <optional>

#include "keel/nmt/sentencepiece.h"
#include "keel/nmt/transformer.h"

namespace keel::cli {

struct DecodeFlags {
  std::optional<int> max_length, min_length, beam_size, no_repeat_ngram_size;
  std::optional<float> length_penalty, max_length_factor, repetition_penalty;
};

// `lengths`: also --max/--min-decoding-length and --beam-size (bench sets its own).
void add_decode_flags(CLI::App* cmd, DecodeFlags& f, bool lengths);

// keel's defaults < the model directory's decoding.json < the flags given; checked.
nmt::DecodeOptions resolve_decoding(const DecodeFlags& f, const nmt::ModelPaths& paths);
// The flags given applied over `base`; checked.
nmt::DecodeOptions apply_decode_flags(const DecodeFlags& f, nmt::DecodeOptions base);

}  // namespace keel::cli
