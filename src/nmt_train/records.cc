// JSON and CSV forms of the trainer's records.
#include "records.h"

#include <fmt/format.h>

#include "keel/core/atomic_file.h"

namespace keel::nmt {

using json = nlohmann::json;

json config_json(const ModelConfig& c) {
  return {{"encoder_layers", c.encoder_layers},
          {"decoder_layers", c.decoder_layers},
          {"d_model", c.d_model},
          {"heads", c.heads},
          {"ffn", c.ffn},
          {"src_vocab", c.src_vocab},
          {"tgt_vocab", c.tgt_vocab},
          {"pre_norm", c.pre_norm},
          {"shared_embeddings", c.shared_embeddings},
          {"tied_output", c.tied_output}};
}

ModelConfig config_from_json(const json& j) {
  ModelConfig c;
  c.encoder_layers = j.at("encoder_layers");
  c.decoder_layers = j.at("decoder_layers");
  c.d_model = j.at("d_model");
  c.heads = j.at("heads");
  c.ffn = j.at("ffn");
  c.src_vocab = j.at("src_vocab");
  c.tgt_vocab = j.at("tgt_vocab");
  c.pre_norm = j.at("pre_norm");
  c.shared_embeddings = j.at("shared_embeddings");
  c.tied_output = j.at("tied_output");
  return c;
}

json epoch_json(const EpochRecord& e) {
  return {{"epoch", e.epoch},
          {"step", e.step},
          {"lr", e.lr},
          {"train_loss", e.train_loss},
          {"train_nll", e.train_nll},
          {"dev_loss", e.dev_loss},
          {"dev_nll", e.dev_nll},
          {"dev_bleu", e.dev_bleu ? json(*e.dev_bleu) : json(nullptr)},
          {"tokens_per_s", e.tokens_per_s},
          {"seconds", e.seconds}};
}

EpochRecord epoch_from_json(const json& j) {
  EpochRecord e;
  e.epoch = j.at("epoch");
  e.step = j.at("step");
  e.lr = j.at("lr");
  e.train_loss = j.at("train_loss");
  e.train_nll = j.at("train_nll");
  e.dev_loss = j.at("dev_loss");
  e.dev_nll = j.at("dev_nll");
  if (!j.at("dev_bleu").is_null()) e.dev_bleu = j.at("dev_bleu").get<double>();
  e.tokens_per_s = j.at("tokens_per_s");
  e.seconds = j.at("seconds");
  return e;
}

json step_json(const StepRecord& s) {
  return {{"step", s.step}, {"epoch", s.epoch}, {"lr", s.lr},
          {"loss", s.loss}, {"nll", s.nll},     {"tokens_per_s", s.tokens_per_s}};
}

StepRecord step_from_json(const json& j) {
  StepRecord s;
  s.step = j.at("step");
  s.epoch = j.at("epoch");
  s.lr = j.at("lr");
  s.loss = j.at("loss");
  s.nll = j.at("nll");
  s.tokens_per_s = j.at("tokens_per_s");
  return s;
}

void write_logs(const std::filesystem::path& out, const NmtTrainOptions& o, const ModelConfig& c,
                const NmtTrainResult& r) {
  json j = {{"options",
             {{"train_src", o.train_src.string()},
              {"train_tgt", o.train_tgt.string()},
              {"dev_src", o.dev_src.string()},
              {"dev_tgt", o.dev_tgt.string()},
              {"max_tokens", o.max_tokens},
              {"lr_peak", o.lr_peak},
              {"warmup_steps", o.warmup_steps},
              {"label_smoothing", o.label_smoothing},
              {"clip_norm", o.clip_norm},
              {"dropout", o.dropout},
              {"seed", o.seed},
              {"threads", r.threads}}},
            {"model", config_json(c)},
            {"parameters", r.parameters},
            {"train_pairs", r.train_pairs},
            {"skipped_pairs", r.skipped_pairs},
            {"steps", r.steps},
            {"epochs", json::array()},
            {"log", json::array()}};
  for (const auto& e : r.epochs) j["epochs"].push_back(epoch_json(e));
  for (const auto& s : r.log) j["log"].push_back(step_json(s));
  core::write_file_atomic(out / "log.json", j.dump(1));

  std::string csv =
      "epoch,step,lr,train_loss,train_nll,dev_loss,dev_nll,dev_bleu,tokens_per_s,seconds\n";
  for (const auto& e : r.epochs)
    csv += fmt::format("{},{},{:.6g},{:.6f},{:.6f},{:.6f},{:.6f},{},{:.1f},{:.2f}\n", e.epoch,
                       e.step, e.lr, e.train_loss, e.train_nll, e.dev_loss, e.dev_nll,
                       e.dev_bleu ? fmt::format("{:.2f}", *e.dev_bleu) : "", e.tokens_per_s,
                       e.seconds);
  core::write_file_atomic(out / "epochs.csv", csv);
  csv = "step,epoch,lr,loss,nll,tokens_per_s\n";
  for (const auto& s : r.log)
    csv += fmt::format("{},{},{:.6g},{:.6f},{:.6f},{:.1f}\n", s.step, s.epoch, s.lr, s.loss, s.nll,
                       s.tokens_per_s);
  core::write_file_atomic(out / "steps.csv", csv);
}

}  // namespace keel::nmt
