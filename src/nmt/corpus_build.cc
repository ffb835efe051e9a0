// `keel nmt corpus`: sources -> cleaning -> dedup -> (Apertium) -> split -> SentencePiece ->
// files. Everything is built in memory (tens of MB) and written at the end, file by file
// atomically, after a writability probe at the start.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_set>

#include "keel/core/atomic_file.h"
#include "keel/core/checksum.h"
#include "keel/core/error.h"
#include "keel/core/log.h"
#include "keel/core/table.h"
#include "keel/nmt/corpus.h"
#include "keel/nmt/sentencepiece.h"

namespace keel::nmt {

namespace fs = std::filesystem;

namespace {

struct Candidate {
  std::string src, tgt;
  std::size_t source;  // index into CorpusReport::sources
};

std::string read_text(const fs::path& path, const std::string& package) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw core::InputError("cannot read " + package + " data",
                           core::Location{path.string(), 0, 0, {}},
                           "install it: apt-get install " + package + " (scripts/install-deps.sh)");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Adds `sentence` from source `s` as a candidate unless a cleaning rule drops it.
bool offer(std::vector<Candidate>& out, CorpusReport& r, std::size_t s, std::string src,
           std::string tgt, const CleanRules& rules) {
  auto& c = r.sources[s];
  ++c.read;
  if (auto why = reject_reason(src, rules); !why.empty()) {
    ++c.dropped[why];
    return false;
  }
  if (!tgt.empty()) {
    if (auto why = reject_reason(tgt, rules); !why.empty()) {
      ++c.dropped["target_" + why];
      return false;
    }
  }
  out.push_back({std::move(src), std::move(tgt), s});
  return true;
}

void read_fortunes(const CorpusOptions& o, CorpusReport& r, std::vector<Candidate>& out,
                   const CleanRules& rules) {
  const fs::path dir = o.share / "games" / "fortunes";
  if (!fs::is_directory(dir))
    throw core::InputError("fortunes are not installed", core::Location{dir.string(), 0, 0, {}},
                           "apt-get install fortunes (scripts/install-deps.sh)");
  // Files without an extension are the fortune texts (.dat indexes, .u8 links are not);
  // ascii-art holds pictures and translate-me Latin.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (e.is_regular_file() && name.find('.') == std::string::npos && name != "ascii-art" &&
        name != "translate-me")
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  const std::size_t s = r.sources.size();
  r.sources.push_back({"fortunes", 0, 0, {}});
  std::size_t kept = 0;
  for (const auto& f : files) {
    for (const auto& fortune : split_fortunes(read_text(f, "fortunes")))
      for (auto& sentence : fortune_sentences(fortune)) {
        if (o.limit && kept >= o.limit) break;
        kept += offer(out, r, s, std::move(sentence), {}, rules);
      }
  }
}

void read_wordnet(const CorpusOptions& o, CorpusReport& r, std::vector<Candidate>& out,
                  const CleanRules& rules) {
  const fs::path dir = o.share / "wordnet";
  const std::size_t defs = r.sources.size(), examples = defs + 1;
  r.sources.push_back({"wordnet glosses", 0, 0, {}});
  r.sources.push_back({"wordnet examples", 0, 0, {}});
  std::size_t kept_defs = 0, kept_examples = 0;
  for (const char* pos : {"noun", "verb", "adj", "adv"}) {
    const std::string text = read_text(dir / (std::string("data.") + pos), "wordnet-base");
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      auto g = parse_wordnet_line(line);
      for (auto& d : g.definitions)
        if (!o.limit || kept_defs < o.limit)
          kept_defs += offer(out, r, defs, std::move(d), {}, rules);
      for (auto& e : g.examples)
        if (!o.limit || kept_examples < o.limit)
          kept_examples += offer(out, r, examples, std::move(e), {}, rules);
    }
  }
}

void read_ding(const CorpusOptions& o, CorpusReport& r, std::vector<Candidate>& out,
               const CleanRules& rules) {
  const std::string text = read_text(o.share / "trans" / "de-en", "trans-de-en");
  const std::size_t entries = r.sources.size(), sentences = entries + 1;
  r.sources.push_back({"ding entries", 0, 0, {}});
  r.sources.push_back({"ding sentences", 0, 0, {}});
  std::size_t kept = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.front() == '#') continue;
    if (o.limit && kept >= o.limit) break;
    auto& e = r.sources[entries];
    ++e.read;
    if (!parse_ding_line(line).aligned) {
      ++e.dropped["sense_count_mismatch"];
      continue;
    }
    ++e.kept;
    for (auto& p : ding_sentence_pairs(line))
      kept += offer(out, r, sentences, std::move(p.de), std::move(p.en), rules);
  }
}

// Keeps the first candidate of each dedup key.
std::vector<Candidate> deduplicate(std::vector<Candidate> in, CorpusReport& r) {
  std::unordered_set<std::string> seen;
  std::vector<Candidate> out;
  for (auto& c : in) {
    if (seen.insert(dedup_key(c.src)).second) {
      out.push_back(std::move(c));
    } else {
      ++r.duplicates;
      ++r.sources[c.source].dropped["duplicate"];
    }
  }
  return out;
}

std::vector<Candidate> translate(std::vector<Candidate> in, const CorpusOptions& o, CorpusReport& r,
                                 const CleanRules& rules, const CorpusProgress& progress) {
  std::vector<std::string> src;
  for (const auto& c : in) src.push_back(c.src);
  ApertiumOptions ao;
  ao.jobs = std::max(1, o.jobs);
  const auto t0 = std::chrono::steady_clock::now();
  if (progress) progress("translate", 0, src.size());
  auto tr = translate_apertium(src, ao, [&](std::size_t done) {
    if (progress) progress("translate", done, src.size());
  });
  r.translate_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Targets may run a little longer or shorter than their sources.
  CleanRules target_rules = rules;
  target_rules.min_words = 1;
  target_rules.max_words = rules.max_words * 3 / 2;
  target_rules.max_chars = rules.max_chars * 3 / 2;
  std::vector<Candidate> out;
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto& dropped = r.sources[in[i].source].dropped;
    const auto& t = tr[i];
    if (t.failed)
      ++dropped["apertium_misaligned"];
    else if (t.errors > 0)
      ++dropped["apertium_error"];
    else if (t.unknown > o.max_unknown)
      ++dropped["unknown_words"];
    else if (auto why = reject_reason(t.text, target_rules); !why.empty())
      ++dropped["target_" + why];
    else {
      in[i].tgt = match_initial_case(in[i].src, t.text, t.first_known);
      out.push_back(std::move(in[i]));
    }
  }
  return out;
}

void write_lines(const fs::path& path, const std::vector<std::string>& lines) {
  core::AtomicFile f(path);
  for (const auto& l : lines) f.stream() << l << '\n';
  f.commit();
}

// Returns whether it created `out`.
bool prepare_out_dir(const fs::path& out) {
  std::error_code ec;
  const bool created = fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out))
    throw core::InputError("cannot create the output directory: " + ec.message(),
                           core::Location{out.string(), 0, 0, {}}, "pass a writable --out");
  try {
    core::AtomicFile probe(out / ".keel_write_probe");  // throws InputError when not writable
  } catch (...) {
    if (created) fs::remove(out, ec);
    throw;
  }
  return created;
}

CorpusReport build_corpus_into(const CorpusOptions& o, const CorpusProgress& progress) {
  const auto t0 = std::chrono::steady_clock::now();
  CorpusReport r;
  r.pair = o.pair;
  r.out = o.out;
  r.seed = o.seed;
  r.vocab_size = o.vocab_size;

  CleanRules rules;
  std::vector<Candidate> cands;
  if (o.pair == "en-es") {
    read_fortunes(o, r, cands, rules);
    read_wordnet(o, r, cands, rules);
  } else {
    rules.min_words = 3;  // dictionary sentences are short ("Sind Sie Diabetiker?")
    read_ding(o, r, cands, rules);
  }
  r.candidates = cands.size();
  core::log_info("corpus {}: {} candidate sentences", o.pair, cands.size());
  cands = deduplicate(std::move(cands), r);
  if (o.pair == "en-es") cands = translate(std::move(cands), o, r, rules, progress);
  for (const auto& c : cands) ++r.sources[c.source].kept;

  std::vector<std::string> keys;
  keys.reserve(cands.size());
  for (const auto& c : cands) keys.push_back(dedup_key(c.src));
  const auto split = assign_splits(keys, o.seed, o.dev, o.test);
  // Each split in hash order: a deterministic shuffle, so no source clusters in a file.
  std::vector<std::size_t> order(cands.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::vector<std::uint64_t> hash(cands.size());
  for (std::size_t i = 0; i < cands.size(); ++i) hash[i] = split_hash(keys[i], o.seed);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return hash[a] != hash[b] ? hash[a] < hash[b] : keys[a] < keys[b];
  });
  const char* names[] = {"train", "dev", "test"};
  std::vector<std::string> src[3], tgt[3];
  for (std::size_t i : order) {
    const auto k = static_cast<std::size_t>(split[i]);
    src[k].push_back(cands[i].src);
    tgt[k].push_back(cands[i].tgt);
  }
  r.train = src[0].size();
  r.dev = src[1].size();
  r.test = src[2].size();

  // One joint model over both sides of the training split only (dev/test stay unseen).
  const auto ts = std::chrono::steady_clock::now();
  if (progress) progress("sentencepiece", 0, 1);
  std::vector<std::string> spm_text = src[0];
  spm_text.insert(spm_text.end(), tgt[0].begin(), tgt[0].end());
  SentencePieceTrainOptions so;
  so.vocab_size = o.vocab_size;
  so.seed = static_cast<std::uint32_t>(o.seed);
  const std::string spm_bytes = train_sentencepiece(spm_text, so);
  if (progress) progress("sentencepiece", 1, 1);
  r.spm_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
  const auto spm = SentencePiece::from_bytes(spm_bytes, "trained SentencePiece model");

  std::vector<std::string> enc[3][2];
  const std::size_t total = 2 * (r.train + r.dev + r.test);
  std::size_t done = 0;
  for (int k = 0; k < 3; ++k)
    for (int side = 0; side < 2; ++side)
      for (const auto& line : side == 0 ? src[k] : tgt[k]) {
        enc[k][side].push_back(spm.encode_line(line));
        const auto pieces = static_cast<std::size_t>(
            std::count(enc[k][side].back().begin(), enc[k][side].back().end(), ' ') + 1);
        if (k == 0) (side == 0 ? r.train_src_pieces : r.train_tgt_pieces) += pieces;
        if (progress && ++done % 4096 == 0) progress("encode", done, total);
      }
  if (progress) progress("encode", total, total);

  for (int k = 0; k < 3; ++k) {
    write_lines(o.out / fmt::format("{}.src", names[k]), src[k]);
    write_lines(o.out / fmt::format("{}.tgt", names[k]), tgt[k]);
    write_lines(o.out / fmt::format("{}.src.sp", names[k]), enc[k][0]);
    write_lines(o.out / fmt::format("{}.tgt.sp", names[k]), enc[k][1]);
  }
  core::write_file_atomic(o.out / "spm.model", spm_bytes);
  {
    // What nmt train and translate read back is listed with its checksum (core/checksum.h).
    std::vector<std::string> listed = {"spm.model"};
    for (int k = 0; k < 3; ++k)
      for (const char* ext : {".src", ".tgt", ".src.sp", ".tgt.sp"})
        listed.push_back(fmt::format("{}{}", names[k], ext));
    core::write_manifest(o.out, listed);
  }
  r.total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  core::write_file_atomic(o.out / "corpus.json", corpus_report_json(r) + "\n");
  return r;
}

}  // namespace

CorpusReport build_corpus(const CorpusOptions& o, const CorpusProgress& progress) {
  if (o.pair != "en-es" && o.pair != "de-en")
    throw core::InputError(fmt::format("unknown language pair '{}'", o.pair), {},
                           "use --pair en-es or --pair de-en");
  if (o.vocab_size < 8)
    throw core::InputError(fmt::format("--vocab-size {} is too small", o.vocab_size), {},
                           "pass at least 8 (8000 for the full corpus)");
  const bool created = prepare_out_dir(o.out);
  try {
    return build_corpus_into(o, progress);
  } catch (...) {
    std::error_code ec;
    if (created) fs::remove_all(o.out, ec);  // a failed run leaves no directory it made
    throw;
  }
}

std::string corpus_report_json(const CorpusReport& r) {
  nlohmann::ordered_json j;
  j["pair"] = r.pair;
  j["out"] = r.out.string();
  j["seed"] = r.seed;
  auto& sources = j["sources"] = nlohmann::ordered_json::array();
  for (const auto& c : r.sources) {
    nlohmann::ordered_json s;
    s["name"] = c.name;
    s["read"] = c.read;
    s["kept"] = c.kept;
    s["dropped"] = nlohmann::ordered_json::object();
    for (const auto& [why, n] : c.dropped) s["dropped"][why] = n;
    sources.push_back(s);
  }
  j["candidates"] = r.candidates;
  j["duplicates"] = r.duplicates;
  j["split"] = {{"train", r.train}, {"dev", r.dev}, {"test", r.test}};
  j["sentencepiece"] = {{"model", "spm.model"},
                        {"type", "unigram"},
                        {"vocab_size", r.vocab_size},
                        {"train_src_pieces", r.train_src_pieces},
                        {"train_tgt_pieces", r.train_tgt_pieces}};
  j["seconds"] = {{"translate", r.translate_s}, {"sentencepiece", r.spm_s}, {"total", r.total_s}};
  return j.dump(2);
}

std::string corpus_report_table(const CorpusReport& r) {
  core::Table t({"source / step", "read", "kept", "dropped"});
  for (const auto& c : r.sources) {
    std::string why;
    for (const auto& [reason, n] : c.dropped)
      why += fmt::format("{}{} {}", why.empty() ? "" : ", ", reason, n);
    t.add_row({c.name, std::to_string(c.read), std::to_string(c.kept), why});
  }
  t.set_align(3, core::Table::Align::left);
  std::string s = t.render();
  s += fmt::format("\n{} candidate pairs, {} duplicates dropped\n", r.candidates, r.duplicates);
  s += fmt::format("split (seed {}): train {}, dev {}, test {}\n", r.seed, r.train, r.dev, r.test);
  s += fmt::format("sentencepiece: unigram, {} pieces; train {} source / {} target pieces\n",
                   r.vocab_size, r.train_src_pieces, r.train_tgt_pieces);
  s += fmt::format(
      "wrote {}/{{train,dev,test}}.{{src,tgt}}[.sp], spm.model, corpus.json ({:.1f} s)\n",
      r.out.string(), r.total_s);
  return s;
}

}  // namespace keel::nmt
