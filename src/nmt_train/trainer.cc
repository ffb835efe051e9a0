// The nmt training loop: data, schedule, checkpoints, dev evaluation, export. No LibTorch here:
// the model and its optimizer sit behind TorchTransformer.
#include "keel/nmt_train/trainer.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <chrono>
#include <cmath>
#include <thread>

#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/core/interrupt.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"
#include "keel/nmt/bleu.h"
#include "keel/nmt/translator.h"
#include "keel/nmt_train/data.h"
#include "keel/nmt_train/torch_transformer.h"
#include "keel/train/schedule.h"
#include "keel/train/torch_train.h"
#include "records.h"

namespace keel::nmt {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void check_options(const NmtTrainOptions& o) {
  auto bad = [](const std::string& what, const std::string& flag, const std::string& fix) {
    throw core::InputError(what, {"", 0, 0, flag}, fix);
  };
  if (o.out.empty()) bad("no output directory", "--out", "pass --out DIR");
  if (o.max_tokens < 1) bad("must be >= 1", "--max-tokens", "e.g. 4096");
  if (!(o.lr_peak > 0)) bad("must be > 0", "--lr-peak", "e.g. 7e-4");
  if (o.warmup_steps < 0) bad("must be >= 0", "--warmup-steps", "e.g. 4000");
  if (!(o.label_smoothing >= 0 && o.label_smoothing < 1))
    bad("must be in [0, 1)", "--label-smoothing", "e.g. 0.1");
  if (!(o.dropout >= 0 && o.dropout < 1)) bad("must be in [0, 1)", "--dropout", "e.g. 0.1");
  if (o.epochs < 0 || o.max_steps < 0) bad("must be >= 0", "--epochs", "pass a positive count");
  if (o.epochs == 0 && o.max_steps == 0)
    bad("the run would never end", "--epochs", "pass --epochs N or --max-steps N");
}

// Running sums over the target tokens of an epoch (or of a steps.csv window).
struct Sums {
  double loss = 0, nll = 0, tokens = 0, seconds = 0;
  void add(const LossSums& s) {
    loss += s.loss;
    nll += s.nll;
    tokens += static_cast<double>(s.tokens);
  }
  json to_json() const { return {loss, nll, tokens, seconds}; }
  static Sums from_json(const json& j) {
    return {j.at(0).get<double>(), j.at(1).get<double>(), j.at(2).get<double>(),
            j.at(3).get<double>()};
  }
};

struct DevResult {
  LossSums loss;
  std::vector<std::string> hyps;  // pieces
  std::optional<double> bleu;
};

// Dev loss in LibTorch; greedy decode with keel's own engine on the exported weights (what the
// translator will run), longest output 2 x source + 10 pieces.
DevResult evaluate_dev(const TorchTransformer& net, const IdPairs& dev, const Vocabulary& vocab,
                       const std::vector<std::string>& refs, std::int64_t max_tokens,
                       double label_smoothing) {
  DevResult r;
  for (const auto& batch : token_batches(dev, max_tokens, 0, 0)) {
    std::vector<Ids> src, tgt;
    for (auto i : batch) {
      src.push_back(dev.src[i]);
      tgt.push_back(dev.tgt[i]);
    }
    LossSums s = net.loss(src, tgt, label_smoothing);
    r.loss.loss += s.loss;
    r.loss.nll += s.nll;
    r.loss.tokens += s.tokens;
  }
  Transformer engine(net.to_model(vocab, vocab), Compute::fp32);
  std::vector<std::size_t> lengths;
  for (const Ids& s : dev.src) lengths.push_back(s.size());
  r.hyps.assign(dev.src.size(), {});
  for (const auto& batch : make_batches(lengths, 64, 0)) {
    std::vector<Ids> src;
    std::size_t longest = 0;
    for (auto i : batch) {
      src.push_back(dev.src[i]);
      longest = std::max(longest, dev.src[i].size());
    }
    DecodeOptions d;
    d.max_length = static_cast<int>(2 * longest + 10);
    auto out = engine.greedy(src, d);
    for (std::size_t k = 0; k < batch.size(); ++k) {
      std::string line;
      for (auto id : out[k]) line += (line.empty() ? "" : " ") + vocab.token(id);
      r.hyps[batch[k]] = std::move(line);
    }
  }
  // sacreBLEU's default corpus BLEU (13a, exp smoothing) of the detokenized hypotheses, over
  // the segments that have a reference. A scoring failure (e.g. invalid UTF-8 in the references)
  // must not end a long run: it is reported and the epoch goes without BLEU.
  std::vector<std::string> hyps, kept_refs;
  for (std::size_t i = 0; i < r.hyps.size(); ++i)
    if (!refs[i].empty()) {
      hyps.push_back(detokenize_pieces(r.hyps[i]));
      kept_refs.push_back(refs[i]);
    }
  if (hyps.empty()) return r;
  try {
    r.bleu = corpus_bleu(hyps, {kept_refs}).score;
  } catch (const core::Error& e) {
    core::log_warn("dev BLEU not computed: {}", e.what());
  }
  return r;
}

}  // namespace

ModelConfig train_preset(const std::string& name) {
  ModelConfig c;  // defaults: pre-norm, shared and tied embeddings, sinusoids, sqrt(d) scale
  auto set = [&](std::uint32_t layers, std::uint32_t d, std::uint32_t heads, std::uint32_t ffn) {
    c.encoder_layers = c.decoder_layers = layers;
    c.d_model = d;
    c.heads = heads;
    c.ffn = ffn;
  };
  if (name == "tiny")
    set(2, 64, 4, 256);
  else if (name == "small")
    set(3, 256, 4, 1024);
  else if (name == "base")
    set(6, 512, 8, 2048);
  else
    throw core::InputError(fmt::format("unknown preset '{}'", name), {"", 0, 0, "--preset"},
                           "use tiny, small or base");
  return c;
}

NmtTrainResult train_nmt(const NmtTrainOptions& o) {
  check_options(o);
  NmtTrainResult res;
  res.threads = o.threads > 0 ? o.threads
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  train::set_torch_threads(res.threads);

  // --- data ----------------------------------------------------------------------------
  ParallelText train_text = read_parallel(o.train_src, o.train_tgt);
  ParallelText dev_text = read_parallel(o.dev_src, o.dev_tgt);
  std::vector<std::string> refs;
  if (!o.dev_refs.empty()) {
    refs = read_lines(o.dev_refs);
    if (refs.size() != dev_text.tgt.size())
      throw core::InputError(
          fmt::format("{} lines here but {} in {}", refs.size(), dev_text.tgt.size(),
                      o.dev_src.string()),
          {o.dev_refs.string(), 0, 0, {}},
          "--dev-refs must hold the raw references of the dev set, line-aligned");
  }
  ModelConfig c = o.model;
  const Vocabulary vocab =
      o.spm_model.empty()
          ? build_vocabulary(train_text, c)
          : vocabulary_from_pieces(read_sentencepiece_pieces(o.spm_model), c, o.spm_model.string());
  c.src_vocab = c.tgt_vocab = static_cast<std::uint32_t>(vocab.size());
  c.shared_embeddings = true;  // one joint vocabulary
  c.validate("keel nmt train", "pick a --preset, or --d-model a multiple of --heads");
  const IdPairs train = to_id_pairs(train_text, vocab, c, o.max_length, true);
  const IdPairs dev = to_id_pairs(dev_text, vocab, c, 0, false);
  if (refs.empty())
    for (const auto& line : dev_text.tgt) refs.push_back(detokenize_pieces(line));
  if (train.src.empty())
    throw core::InputError("no training pair left (all empty or longer than the length limit)",
                           {o.train_src.string(), 0, 0, {}}, "check the files");
  res.vocab = vocab.size();
  res.train_pairs = train.src.size();
  res.skipped_pairs = train.skipped;
  res.dev_pairs = dev.src.size();
  train_text = {};
  double epoch_tokens = 0;
  for (const Ids& t : train.tgt) epoch_tokens += static_cast<double>(t.size() + 1);

  // --- model, optimizer, resumed state ------------------------------------------------------
  std::filesystem::create_directories(o.out);
  const auto ckpt = o.out / "checkpoint.pt";
  const json identity = {{"seed", o.seed},
                         {"max_tokens", o.max_tokens},
                         {"max_length", o.max_length},
                         {"model", config_json(c)},
                         {"vocab_hash", vocabulary_hash(vocab)},
                         {"train_pairs", train.src.size()},
                         {"lr_peak", o.lr_peak},
                         {"warmup_steps", o.warmup_steps},
                         {"label_smoothing", o.label_smoothing},
                         {"dropout", o.dropout}};
  if (!o.resume && std::filesystem::exists(ckpt))
    throw core::InputError("a checkpoint of an earlier run is here", {ckpt.string(), 0, 0, {}},
                           "pass --resume to continue it, or another --out");
  TorchTransformer net(c, o.seed, o.dropout);
  train::AdamConfig adam;
  const train::InverseSqrtSchedule sched{o.lr_peak, o.warmup_steps};
  adam.lr = sched.at(1);
  net.start_training(adam);
  res.parameters = net.parameter_count();

  int epoch = 0;               // 0-based epoch in progress
  double lr_now = 0;           // the last step's learning rate (kept in checkpoints)
  std::size_t next_batch = 0;  // within it
  Sums epoch_sums, window;
  if (o.resume) {
    if (!std::filesystem::exists(ckpt))
      throw core::InputError("nothing to resume: no checkpoint", {ckpt.string(), 0, 0, "--resume"},
                             "start without --resume");
    const train::CheckpointMeta meta = net.load_checkpoint(ckpt);
    const json extra = json::parse(meta.extra_json);
    if (extra.at("identity") != identity) {
      std::string diff;
      for (auto& [k, v] : identity.items())
        if (!extra.at("identity").contains(k) || extra.at("identity").at(k) != v)
          diff += (diff.empty() ? "" : ", ") + k;
      throw core::InputError("the checkpoint was written by a run with other " + diff,
                             {ckpt.string(), 0, 0, "--resume"},
                             "resume with the same data and options, or start a new --out");
    }
    epoch = static_cast<int>(meta.epoch);
    res.steps = meta.step;
    next_batch = extra.at("next_batch");
    lr_now = extra.value("lr", 0.0);
    epoch_sums = Sums::from_json(extra.at("epoch_sums"));
    window = Sums::from_json(extra.at("window"));
    res.step_losses = extra.at("step_losses").get<std::vector<double>>();
    for (const auto& e : extra.at("epochs")) res.epochs.push_back(epoch_from_json(e));
    for (const auto& s : extra.at("log")) res.log.push_back(step_from_json(s));
  }
  auto save = [&] {
    json extra = {{"identity", identity},
                  {"next_batch", next_batch},
                  {"lr", lr_now},
                  {"epoch_sums", epoch_sums.to_json()},
                  {"window", window.to_json()},
                  {"step_losses", res.step_losses},
                  {"epochs", json::array()},
                  {"log", json::array()}};
    for (const auto& e : res.epochs) extra["epochs"].push_back(epoch_json(e));
    for (const auto& s : res.log) extra["log"].push_back(step_json(s));
    net.save_checkpoint(ckpt, {epoch, res.steps, o.seed, extra.dump()});
  };
  auto export_model = [&] {
    res.model_file = o.out / "model.keel";
    save_model(net.to_model(vocab, vocab), res.model_file);
    if (!o.spm_model.empty() &&
        std::filesystem::absolute(o.spm_model) != std::filesystem::absolute(o.out / "spm.model"))
      std::filesystem::copy_file(o.spm_model, o.out / "spm.model",
                                 std::filesystem::copy_options::overwrite_existing);
    std::vector<std::string> listed = {"model.keel"};
    if (std::filesystem::exists(o.out / "spm.model")) listed.push_back("spm.model");
    core::write_manifest(o.out, listed);
  };
  // Dev loss, decode and BLEU for the epoch just ended (or cut short by --max-steps).
  auto end_epoch = [&](double lr) {
    const auto t0 = Clock::now();
    DevResult d = evaluate_dev(net, dev, vocab, refs, o.max_tokens, o.label_smoothing);
    EpochRecord e;
    e.epoch = epoch + 1;
    e.step = res.steps;
    e.lr = lr;
    e.train_loss = epoch_sums.tokens > 0 ? epoch_sums.loss / epoch_sums.tokens : 0;
    e.train_nll = epoch_sums.tokens > 0 ? epoch_sums.nll / epoch_sums.tokens : 0;
    const double dt = static_cast<double>(std::max<std::int64_t>(d.loss.tokens, 1));
    e.dev_loss = d.loss.loss / dt;
    e.dev_nll = d.loss.nll / dt;
    e.dev_bleu = d.bleu;
    e.tokens_per_s = epoch_sums.seconds > 0 ? epoch_sums.tokens / epoch_sums.seconds : 0;
    e.seconds = epoch_sums.seconds + seconds_since(t0);
    res.epochs.push_back(e);
    res.dev_hypotheses = std::move(d.hyps);
    if (o.verbose)
      core::log_info(
          "epoch {}  step {}  lr {:.3g}  train loss {:.3f} (ppl {:.2f})  dev loss {:.3f} "
          "(ppl {:.2f})  dev BLEU {}  {:.0f} tok/s  {:.0f} s",
          e.epoch, e.step, e.lr, e.train_loss, std::exp(e.train_nll), e.dev_loss,
          std::exp(e.dev_nll), e.dev_bleu ? fmt::format("{:.2f}", *e.dev_bleu) : "n/a",
          e.tokens_per_s, e.seconds);
  };

  // --- training loop ---------------------------------------------------------------------
  core::install_stop_handlers();
  std::int64_t run_steps = 0;
  // A run resumed after its epoch's last step ends that epoch with the rate of that step.
  double lr = res.steps > 0 && lr_now > 0 ? lr_now : sched.at(res.steps + 1);
  auto steps_left = [&] { return o.max_steps == 0 || res.steps < o.max_steps; };
  while ((o.epochs == 0 || epoch < o.epochs) && steps_left()) {
    const auto batches = token_batches(train, o.max_tokens, o.seed, epoch);
    core::Progress bar(o.epochs > 0 ? fmt::format("epoch {}/{}", epoch + 1, o.epochs)
                                    : fmt::format("epoch {}", epoch + 1),
                       static_cast<std::uint64_t>(epoch_tokens - epoch_sums.tokens), o.progress,
                       "tok");
    double bar_tokens = 0;
    for (; next_batch < batches.size() && steps_left(); ++next_batch) {
      if (o.stop_after_steps > 0 && run_steps == o.stop_after_steps) {
        bar.finish();
        save();
        write_logs(o.out, o, c, res);
        return res;  // finished == false: continue with --resume
      }
      std::vector<Ids> src, tgt;
      for (auto i : batches[next_batch]) {
        src.push_back(train.src[i]);
        tgt.push_back(train.tgt[i]);
      }
      const auto t0 = Clock::now();
      lr = sched.at(res.steps + 1);
      lr_now = lr;
      const StepStats st = net.train_step(src, tgt, lr, o.label_smoothing, o.clip_norm);
      const double dt = seconds_since(t0);
      ++res.steps;
      ++run_steps;
      const double tokens = static_cast<double>(std::max<std::int64_t>(st.sums.tokens, 1));
      res.step_losses.push_back(st.sums.loss / tokens);
      epoch_sums.add(st.sums);
      epoch_sums.seconds += dt;
      window.add(st.sums);
      window.seconds += dt;
      if (o.log_every > 0 && res.steps % o.log_every == 0) {
        res.log.push_back({res.steps, epoch + 1, lr, window.loss / window.tokens,
                           window.nll / window.tokens, window.tokens / window.seconds});
        window = {};
      }
      bar_tokens += static_cast<double>(st.sums.tokens);
      bar.set_note(
          fmt::format("loss {:.3f}  lr {:.2e}  step {}", res.step_losses.back(), lr, res.steps));
      bar.update(static_cast<std::uint64_t>(bar_tokens));
      if (o.test_stop_at_step > 0 && res.steps == o.test_stop_at_step)
        for (int k = 0; k < o.test_stop_signals; ++k) core::raise_stop(SIGINT);
      if (const int sig = core::stop_signal()) {
        // Ctrl-C / SIGTERM: this step is done; save it (as "after this batch") and say how to go on.
        bar.finish();
        ++next_batch;
        save();
        write_logs(o.out, o, c, res);
        throw core::Interrupted(
            sig, fmt::format("stopped by {} after step {}; checkpoint {} written: continue with "
                             "the same command and --resume",
                             sig == SIGINT ? "Ctrl-C" : "SIGTERM", res.steps, ckpt.string()));
      }
      if (o.checkpoint_every > 0 && res.steps % o.checkpoint_every == 0) {
        // Saved as "after this batch": a resume starts at the next one.
        ++next_batch;
        save();
        --next_batch;
      }
    }
    bar.finish();
    if (next_batch < batches.size()) break;  // --max-steps ended the run inside the epoch
    end_epoch(lr);
    ++epoch;
    next_batch = 0;
    epoch_sums = {};
    export_model();
    save();
    write_logs(o.out, o, c, res);
  }
  if (next_batch > 0 && run_steps > 0) {  // a partial last epoch: evaluate and record it too
    end_epoch(lr);
    save();
  }
  export_model();
  write_logs(o.out, o, c, res);
  res.finished = true;
  return res;
}

}  // namespace keel::nmt
