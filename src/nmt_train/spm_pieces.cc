// The piece list of a SentencePiece model, read with libprotobuf's wire-format reader.
// libsentencepiece itself cannot be linked here: its bundled protobuf-lite crashes next to
// LibTorch's libprotobuf (apps/keel/CMakeLists.txt), and the trainer runs with LibTorch. The
// schema is sentencepiece_model.proto: ModelProto { repeated SentencePiece pieces = 1; },
// SentencePiece { string piece = 1; float score = 2; Type type = 3; }.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <fstream>
#include <limits>
#include <sstream>

#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/nmt_train/data.h"

namespace keel::nmt {

std::vector<std::string> read_sentencepiece_pieces(const std::filesystem::path& file) {
  using google::protobuf::internal::WireFormatLite;
  const auto bad = [&](const std::string& what) {
    return core::InputError(what, {file.string(), 0, 0, {}},
                            "pass the spm.model the pieces were made with");
  };
  core::verify_listed(file);  // the corpus or model directory's manifest, when it lists it
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw bad("file not found");
  std::ifstream f(file, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw bad("file too large for a SentencePiece model");
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  std::vector<std::string> pieces;
  while (const std::uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) != 1 ||
        WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::SkipField(&in, tag)) throw bad("not a SentencePiece model (bad field)");
      continue;
    }
    std::uint32_t length = 0;
    if (!in.ReadVarint32(&length)) throw bad("not a SentencePiece model (truncated)");
    const auto limit = in.PushLimit(static_cast<int>(length));
    std::string piece;
    bool have = false;
    while (const std::uint32_t t = in.ReadTag()) {
      if (WireFormatLite::GetTagFieldNumber(t) == 1 &&
          WireFormatLite::GetTagWireType(t) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
        std::uint32_t n = 0;
        if (!in.ReadVarint32(&n) || !in.ReadString(&piece, static_cast<int>(n)))
          throw bad("not a SentencePiece model (truncated piece)");
        have = true;
      } else if (!WireFormatLite::SkipField(&in, t)) {
        throw bad("not a SentencePiece model (bad piece field)");
      }
    }
    if (!in.ConsumedEntireMessage() || !have) throw bad("not a SentencePiece model (bad piece)");
    in.PopLimit(limit);
    pieces.push_back(std::move(piece));
  }
  if (in.CurrentPosition() != static_cast<int>(bytes.size()) || pieces.empty())
    throw bad("not a SentencePiece model");
  return pieces;
}

}  // namespace keel::nmt
