#pragma once
// The M-CNN trainer's records: epoch statistics as JSON (log files and checkpoint metadata) and
// the --log file (CSV or JSON). No LibTorch here.

#include <nlohmann/json.hpp>

#include <filesystem>

#include "keel/mcnn/trainer.h"

namespace keel::mcnn {

nlohmann::json epoch_json(const EpochStats& e);
EpochStats epoch_from_json(const nlohmann::json& j);
// Writes the curves atomically: FILE.csv one row per epoch, else JSON (config, epochs, steps).
void write_log(const std::filesystem::path& file, const TrainOptions& opt, const TrainResult& r);

}  // namespace keel::mcnn
