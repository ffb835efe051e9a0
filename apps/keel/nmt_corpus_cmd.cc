// `keel nmt corpus`: argument parsing, progress and output; the work is keel::nmt::build_corpus.
#include <fmt/format.h>

#include <memory>

#include "cli.h"
#include "keel/core/log.h"
#include "keel/core/progress.h"
#include "keel/nmt/corpus.h"

namespace keel::cli {

namespace {

void run_corpus(const nmt::CorpusOptions& o, const GlobalOptions& g) {
  const bool bars = core::progress_enabled(g.quiet);
  std::unique_ptr<core::Progress> bar;
  std::string step;
  auto progress = [&](const std::string& s, std::size_t done, std::size_t total) {
    if (s != step) {
      if (bar) bar->finish();
      bar.reset();
      step = s;
      if (s == "sentencepiece")
        core::log_info("training SentencePiece (unigram, {} pieces)", o.vocab_size);
      else if (s == "translate")
        core::log_info("translating {} sentences with apertium eng-spa", total);
      if (s != "sentencepiece") bar = std::make_unique<core::Progress>(s, total, bars, "line");
    }
    if (bar) bar->update(done);
  };
  const auto report = nmt::build_corpus(o, progress);
  if (bar) bar->finish();
  if (g.json)
    print_out(nmt::corpus_report_json(report));
  else if (!g.quiet)
    print_out(nmt::corpus_report_table(report));
}

}  // namespace

void register_nmt_corpus(CLI::App& nmt, const GlobalOptions& global) {
  auto o = std::make_shared<nmt::CorpusOptions>();
  auto* cmd = nmt.add_subcommand(
      "corpus",
      "Build a parallel corpus from Debian's text (en-es: fortunes + WordNet through Apertium; "
      "de-en: the Ding dictionary), split it and train a joint SentencePiece model");
  cmd->add_option("--pair", o->pair, "Language pair")
      ->check(CLI::IsMember({"en-es", "de-en"}))
      ->capture_default_str();
  cmd->add_option("--out", o->out, "Directory to write (created if needed)")
      ->required()
      ->check(OutputDirectory);
  cmd->add_option("--vocab-size", o->vocab_size, "SentencePiece vocabulary size")
      ->check(Positive)
      ->capture_default_str();
  // Unsigned options: CLI11 would wrap a negative value around (--dev -1 = 2^64 - 1).
  cmd->add_option("--seed", o->seed, "Seed of the split and of SentencePiece")
      ->check(NonNegative)
      ->capture_default_str();
  cmd->add_option("--limit", o->limit, "At most this many sentences per source (0 = all)")
      ->check(NonNegative)
      ->capture_default_str();
  cmd->add_option("--dev", o->dev, "Sentence pairs held out for dev")
      ->check(NonNegative)
      ->capture_default_str();
  cmd->add_option("--test", o->test, "Sentence pairs held out for test")
      ->check(NonNegative)
      ->capture_default_str();
  cmd->add_option("--jobs", o->jobs, "Apertium processes at once (en-es)")
      ->check(Positive)
      ->capture_default_str();
  cmd->add_option("--max-unknown", o->max_unknown,
                  "en-es: drop a translation with more words Apertium did not know")
      ->check(NonNegative)
      ->capture_default_str();
  cmd->add_option("--share", o->share, "Where Debian's data lives")->capture_default_str();
  cmd->callback([o, &global] { run_corpus(*o, global); });
}

}  // namespace keel::cli
