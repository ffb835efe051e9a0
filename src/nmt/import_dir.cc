// Writing an imported model as a keel model directory (import.h).
#include <fmt/format.h>
#include <unistd.h>

#include "keel/core/atomic_file.h"
#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/nmt/decoding_file.h"
#include "keel/nmt/import.h"
#include "keel/nmt/sentencepiece.h"

namespace keel::nmt {

namespace fs = std::filesystem;

void write_model_directory(const Model& model, const DecodeOptions& decoding,
                           const fs::path& source_spm, const fs::path& target_spm,
                           const fs::path& out) {
  core::write_new_directory(out, "--out", [&](const fs::path& tmp) {
    save_model(model, tmp / "model.keel");
    fs::copy_file(source_spm, tmp / "source.spm");
    fs::copy_file(target_spm, tmp / "target.spm");
    save_decoding_file(decoding, tmp / "decoding.json");
    core::write_manifest(tmp, {"model.keel", "source.spm", "target.spm", "decoding.json"});
    // Read back as translate will: the SentencePiece models (named where the user has them)
    // must fit the vocabularies.
    const ModelPaths paths{tmp / "model.keel", source_spm, target_spm, {}};
    const TextCodec codec(paths);
    const Model back = load_model(paths.model, LoadMode::deferred);
    try {
      codec.check_vocabulary(back.src_vocab, back.tgt_vocab);
    } catch (const core::Error& e) {
      throw core::InputError(
          e.bare_message(), core::Location{source_spm.parent_path().string(), 0, 0, {}},
          "source.spm and target.spm must be the SentencePiece models of this vocabulary");
    }
  });
}

}  // namespace keel::nmt
