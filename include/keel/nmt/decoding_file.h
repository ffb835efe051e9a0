#pragma once
// A model directory's decoding.json: the decoding its makers chose (an imported model brings its
// generation settings), between keel's defaults and the command line's flags:
//   keel_decoding_defaults()  <  decoding.json  <  flags given.
// Keys: beam_size, length_penalty, max_decoding_length, min_decoding_length, max_length_factor,
// no_repeat_ngram_size, repetition_penalty. Unknown keys and bad values are refused.
#include <filesystem>

#include "keel/nmt/transformer.h"

namespace keel::nmt {

// keel's defaults for translating text: greedy, at most 256 target tokens and 3 × the source
// tokens (Marian's default factor: an output that loops stops there instead of at 256).
DecodeOptions keel_decoding_defaults();

// `base` with the file's keys applied. Throws core::InputError naming the file and key.
DecodeOptions load_decoding_file(const std::filesystem::path& file, DecodeOptions base);

// Writes the options that differ from keel_decoding_defaults() (atomically).
void save_decoding_file(const DecodeOptions& options, const std::filesystem::path& file);

}  // namespace keel::nmt
