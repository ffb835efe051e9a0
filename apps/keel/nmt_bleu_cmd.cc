// `keel nmt bleu HYP REF [REF...]`: sacreBLEU-compatible BLEU of a detokenized system output.
// Reading, checking and printing only; the metric is keel::nmt::corpus_bleu.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "keel/core/error.h"
#include "keel/nmt/bleu.h"

namespace keel::cli {

namespace {

// Where in an input file: "-" is named <stdin>.
core::Location at(const std::string& path, std::size_t line = 0, std::size_t column = 0) {
  core::Location l;
  l.file = path == "-" ? "<stdin>" : path;
  l.line = static_cast<int>(line);
  l.column = static_cast<int>(column);
  return l;
}

struct BleuArgs {
  std::string hyp;
  std::vector<std::string> refs;
  bool lowercase = false, lc_tail = false, sentence_level = false;
  std::string tokenize = "13a", smooth = "exp";
  double smooth_value = -1;
  int max_order = 4;
};

// The lines of `path` ("-" = stdin), each checked for UTF-8 and right-stripped as sacreBLEU's
// command line does. Lines end at '\n' only; a last line without one still counts.
std::vector<std::string> read_lines(const std::string& path) {
  std::string text;
  if (path == "-") {
    check_stdin_readable();
    text.assign(std::istreambuf_iterator<char>(std::cin), {});
  } else {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec))
      throw core::InputError("is a directory, not a text file", at(path),
                             "give the file of lines, one sentence per line");
    std::ifstream in(path, std::ios::binary);
    if (!in)
      throw core::InputError("cannot open the file", at(path),
                             "check the path and its permissions");
    text.assign(std::istreambuf_iterator<char>(in), {});
    if (in.bad()) throw core::InputError("cannot read the file", at(path));
  }
  std::vector<std::string> lines;
  for (std::size_t pos = 0; pos < text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (auto bad = nmt::find_invalid_utf8(line); bad != std::string_view::npos)
      throw core::InputError(
          fmt::format("invalid UTF-8 (byte 0x{:02x})", static_cast<unsigned char>(line[bad])),
          at(path, lines.size() + 1, bad + 1), "convert the file to UTF-8, e.g. with iconv");
    lines.emplace_back(nmt::rstrip_whitespace(line));
    pos = end + 1;
  }
  return lines;
}

nlohmann::json score_json(const nmt::BleuScore& s) {
  return {{"score", s.score},     {"bp", s.bp},
          {"ratio", s.ratio},     {"hyp_len", s.sys_len},
          {"ref_len", s.ref_len}, {"counts", s.counts},
          {"totals", s.totals},   {"precisions", s.precisions}};
}

// sacreBLEU's JSON keys: name, score, signature, verbose_score and one key per signature field.
nlohmann::json corpus_json(const nmt::BleuScore& s, const std::string& signature) {
  nlohmann::json j = {{"name", "BLEU"}, {"signature", signature}};
  j.update(score_json(s));
  std::string verbose = nmt::bleu_format(s);
  j["verbose_score"] = verbose.substr(verbose.find(' ', sizeof("BLEU = ")) + 1);
  for (std::size_t pos = 0; pos < signature.size();) {
    std::size_t end = signature.find('|', pos);
    if (end == std::string::npos) end = signature.size();
    const std::string field = signature.substr(pos, end - pos);
    const std::size_t colon = field.find(':');
    j[field.substr(0, colon)] = field.substr(colon + 1);
    pos = end + 1;
  }
  return j;
}

void run_bleu(const BleuArgs& a, const GlobalOptions& g) {
  if (a.lc_tail && !a.lowercase)
    throw core::InputError("unknown option -c", {}, "lowercasing is -lc or --lowercase");
  int stdin_uses = a.hyp == "-";
  for (const auto& r : a.refs) stdin_uses += r == "-";
  if (stdin_uses > 1) throw core::InputError("only one input can be '-' (stdin)");

  nmt::BleuOptions opt;
  opt.tokenize = nmt::parse_bleu_tokenizer(a.tokenize);
  opt.smooth = nmt::parse_bleu_smooth(a.smooth);
  opt.lowercase = a.lowercase;
  opt.smooth_value = a.smooth_value;
  opt.max_ngram_order = a.max_order;
  opt.effective_order = a.sentence_level;  // as sacreBLEU does for sentence-level scores

  const std::vector<std::string> hyps = read_lines(a.hyp);
  std::vector<std::vector<std::string>> refs;
  for (const auto& r : a.refs) {
    refs.push_back(read_lines(r));
    if (refs.back().size() != hyps.size())
      throw core::InputError(
          fmt::format("{} lines, but the hypotheses ({}) have {}", refs.back().size(),
                      a.hyp == "-" ? "<stdin>" : a.hyp, hyps.size()),
          at(r), "each reference file needs one line per hypothesis line");
  }
  if (hyps.empty())
    throw core::InputError("no lines to score", at(a.hyp),
                           "give one detokenized hypothesis per line");
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    bool any = false;
    for (const auto& r : refs) any = any || !r[i].empty();
    if (!any)
      throw core::InputError("every reference of this line is empty", at(a.refs.front(), i + 1),
                             "each line needs at least one non-empty reference");
  }

  if (!a.sentence_level) {
    const nmt::BleuScore s = nmt::corpus_bleu(hyps, refs, opt);
    const std::string sig = nmt::bleu_signature(opt, s.nrefs);
    if (g.json)
      print_out(corpus_json(s, sig).dump(1));
    else
      print_out(nmt::bleu_format(s) + "\n" + sig);
    return;
  }
  nlohmann::json sentences = nlohmann::json::array();
  std::string text;
  int nrefs = 0;
  std::vector<std::string> seg_refs;
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    seg_refs.clear();
    for (const auto& r : refs) seg_refs.push_back(r[i]);
    const nmt::BleuScore s = nmt::sentence_bleu(hyps[i], seg_refs, opt);
    nrefs = i == 0 ? s.nrefs : (nrefs == s.nrefs ? nrefs : -1);
    if (g.json)
      sentences.push_back(score_json(s));
    else
      text += nmt::bleu_format(s) + "\n";
  }
  const std::string sig = nmt::bleu_signature(opt, nrefs);
  if (g.json) {
    print_out(
        nlohmann::json{{"name", "BLEU"}, {"signature", sig}, {"sentences", sentences}}.dump(1));
  } else {
    std::cout << text;  // one line per segment; the signature goes to stderr
    std::cout.flush();
    if (!g.quiet) std::cerr << sig << "\n";
  }
}

}  // namespace

void register_nmt_bleu(CLI::App& nmt, const GlobalOptions& global) {
  auto a = std::make_shared<BleuArgs>();
  auto* cmd = nmt.add_subcommand(
      "bleu",
      "sacreBLEU-compatible BLEU of detokenized output (sacreBLEU's score line and signature)");
  cmd->add_option("HYP", a->hyp, "Hypotheses, one segment per line ('-' = stdin)")->required();
  cmd->add_option("REF", a->refs, "Reference file(s), one line per hypothesis line each")
      ->required()
      ->expected(1, -1);
  cmd->add_flag("-l,--lowercase", a->lowercase, "Lowercase hypotheses and references (also -lc)");
  cmd->add_flag("-c", a->lc_tail, "Second letter of sacreBLEU's -lc")->group("");
  cmd->add_option("--tokenize", a->tokenize,
                  "13a (mteval-v13a, default), none, intl (mteval-v14 Unicode rules) or char")
      ->check(CLI::IsMember({"13a", "none", "intl", "char"}));
  cmd->add_option("--smooth-method", a->smooth, "exp (default), floor, add-k or none")
      ->check(CLI::IsMember({"exp", "floor", "add-k", "none"}));
  cmd->add_option("--smooth-value", a->smooth_value,
                  "Value for floor (default 0.1) and add-k (default 1)")
      ->check(NonNegative);
  cmd->add_option("--max-ngram-order", a->max_order, "Largest n-gram order (default 4)")
      ->check(CLI::Range(1, 100));
  cmd->add_flag("--sentence-level", a->sentence_level,
                "One score per line, with effective order (signature on stderr)");
  cmd->callback([a, &global] { run_bleu(*a, global); });
}

}  // namespace keel::cli
