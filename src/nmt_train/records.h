#pragma once
// Private: the trainer's records <-> JSON (checkpoint metadata, log.json) and the CSV logs.

#include <nlohmann/json.hpp>

#include <filesystem>

#include "keel/nmt_train/trainer.h"

namespace keel::nmt {

nlohmann::json config_json(const ModelConfig& c);
ModelConfig config_from_json(const nlohmann::json& j);
nlohmann::json epoch_json(const EpochRecord& e);
EpochRecord epoch_from_json(const nlohmann::json& j);
nlohmann::json step_json(const StepRecord& s);
StepRecord step_from_json(const nlohmann::json& j);

// out/log.json (options, model config, epochs, step rows), out/epochs.csv and out/steps.csv,
// each written atomically.
void write_logs(const std::filesystem::path& out, const NmtTrainOptions& o, const ModelConfig& c,
                const NmtTrainResult& r);

}  // namespace keel::nmt
