#pragma once
// `keel mcnn export`: a checkpoint as a TorchScript module that PyTorch loads with
// torch.jit.load (no keel needed). The module holds the fp32 weights and two methods:
//   forward(x: [N,C,H,W] float32, normalised) -> logits [N,classes]
//   normalize(raw: [N,C,H,W] float32 camera values) -> x, as keel's loader does it
// and its metadata (model, channels, classes, size, normalisation, keel version) as the string
// attribute `keel_metadata` and the archive's extra file `keel.json`.

#include <filesystem>
#include <string>

namespace keel::mcnn {

struct ExportSummary {
  std::string metadata_json;
  int channels = 0, classes = 0, height = 0, width = 0;
};

// Writes `out` atomically (temp name + rename). InputError when the checkpoint is not an M-CNN
// one (LibTorch; defined in net.cc).
ExportSummary export_torchscript(const std::filesystem::path& checkpoint,
                                 const std::filesystem::path& out, const std::string& keel_version);

}  // namespace keel::mcnn
