#include "train_log.h"

#include <fmt/format.h>

#include "keel/core/atomic_file.h"

namespace keel::mcnn {

using json = nlohmann::json;

json epoch_json(const EpochStats& e) {
  return {{"epoch", e.epoch},           {"lr", e.lr},
          {"train_loss", e.train_loss}, {"train_acc", e.train_acc},
          {"val_loss", e.val_loss},     {"val_acc", e.val_acc},
          {"img_per_s", e.img_per_s},   {"seconds", e.seconds},
          {"param_sum", e.param_sum},   {"param_l2", e.param_l2},
          {"compute_s", e.compute_s},   {"comm_s", e.comm_s}};
}

EpochStats epoch_from_json(const json& j) {
  EpochStats e;
  e.epoch = j.at("epoch");
  e.lr = j.at("lr");
  e.train_loss = j.at("train_loss");
  e.train_acc = j.at("train_acc");
  e.val_loss = j.at("val_loss");
  e.val_acc = j.at("val_acc");
  e.img_per_s = j.at("img_per_s");
  e.seconds = j.at("seconds");
  e.param_sum = j.at("param_sum");
  e.param_l2 = j.at("param_l2");
  e.compute_s = j.value("compute_s", 0.0);  // absent in checkpoints of older versions
  e.comm_s = j.value("comm_s", 0.0);
  return e;
}

void write_log(const std::filesystem::path& file, const TrainOptions& opt, const TrainResult& r) {
  if (file.extension() == ".csv") {
    std::string s =
        "epoch,lr,train_loss,train_acc,val_loss,val_acc,img_per_s,seconds,param_sum,"
        "param_l2,compute_s,comm_s\n";
    for (const auto& e : r.epochs)
      s += fmt::format(
          "{},{:.9g},{:.9g},{:.6f},{:.9g},{:.6f},{:.3f},{:.3f},{:.12g},{:.12g},{:.3f},{:.3f}\n",
          e.epoch, e.lr, e.train_loss, e.train_acc, e.val_loss, e.val_acc, e.img_per_s, e.seconds,
          e.param_sum, e.param_l2, e.compute_s, e.comm_s);
    core::write_file_atomic(file, s);
    return;
  }
  json j = {{"config",
             {{"data", opt.input.origin().string()},
              {"epochs", opt.epochs},
              {"batch", opt.batch},
              {"lr", opt.lr},
              {"reference_batch", opt.reference_batch},
              {"lr_scaling", opt.lr_scaling},
              {"warmup_epochs", opt.warmup_epochs},
              {"lr_decay", opt.lr_decay},
              {"momentum", opt.momentum},
              {"weight_decay", opt.weight_decay},
              {"seed", opt.seed},
              {"ranks", r.ranks},
              {"precision", opt.precision},
              {"threads", r.threads},
              {"height", r.height},
              {"width", r.width},
              {"train_images", r.train_images},
              {"val_images", r.val_images},
              {"skipped", r.skipped},
              {"buckets", r.buckets},
              {"buckets_overlapped", r.buckets_overlapped}}},
            {"epochs", json::array()},
            {"step_losses", r.step_losses}};
  for (const auto& e : r.epochs) j["epochs"].push_back(epoch_json(e));
  core::write_file_atomic(file, j.dump(1) + "\n");
}

}  // namespace keel::mcnn
