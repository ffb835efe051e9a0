#include "keel/nmt/sentencepiece.h"
#include "fuzz.h"

// A SentencePiece model file as a model directory holds it: loaded, then used both ways.
KEEL_FUZZ_TARGET({
  const auto sp = keel::nmt::SentencePiece::from_bytes(input, "fuzz.spm");
  sp.decode_line(sp.encode_line("Mitosis has four stages."));
})
