// Decoding flags (decode_flags.h).
#include "decode_flags.h"

#include "cli.h"
#include "keel/nmt/decoding_file.h"

namespace keel::cli {

void add_decode_flags(CLI::App* cmd, DecodeFlags& f, bool lengths) {
  if (lengths) {
    cmd->add_option("--max-decoding-length", f.max_length,
                    "Most target tokens per segment (default 256, or the model's decoding.json)")
        ->check(Positive);
    cmd->add_option("--min-decoding-length", f.min_length,
                    "Fewest target tokens per segment (EOS is forbidden before; default 0)")
        ->check(NonNegative);
    cmd->add_option("--beam-size", f.beam_size, "Beam size (1 = greedy; default 1, or the model's)")
        ->check(Positive);
    cmd->add_option("--length-penalty", f.length_penalty,
                    "Beam search ranks finished hypotheses by logprob / length^this (default 1)")
        ->check(Finite);
    cmd->add_option("--max-length-factor", f.max_length_factor,
                    "Target tokens also at most this x the source tokens, as Marian (default 3; "
                    "0 = off)")
        ->check(NonNegative);
  }
  cmd->add_option("--no-repeat-ngram-size", f.no_repeat_ngram_size,
                  "Never repeat an n-gram of this size in an output (default 0 = off)")
      ->check(NonNegative);
  cmd->add_option("--repetition-penalty", f.repetition_penalty,
                  "Penalize tokens already in the output: logit / p if positive, x p if negative "
                  "(default 1 = off)");
}

nmt::DecodeOptions apply_decode_flags(const DecodeFlags& f, nmt::DecodeOptions o) {
  if (f.max_length) o.max_length = *f.max_length;
  if (f.min_length) o.min_length = *f.min_length;
  if (f.beam_size) o.beam_size = *f.beam_size;
  if (f.length_penalty) o.length_penalty = *f.length_penalty;
  if (f.max_length_factor) o.max_length_factor = *f.max_length_factor;
  if (f.no_repeat_ngram_size) o.no_repeat_ngram_size = *f.no_repeat_ngram_size;
  if (f.repetition_penalty) o.repetition_penalty = *f.repetition_penalty;
  nmt::check_decode_options(o);
  return o;
}

nmt::DecodeOptions resolve_decoding(const DecodeFlags& f, const nmt::ModelPaths& paths) {
  nmt::DecodeOptions o = nmt::keel_decoding_defaults();
  if (!paths.decoding.empty()) o = nmt::load_decoding_file(paths.decoding, o);
  return apply_decode_flags(f, o);
}

}  // namespace keel::cli
