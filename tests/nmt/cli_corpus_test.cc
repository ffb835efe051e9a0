// `keel nmt corpus` end to end (a Ding file made here, and the real Debian data with --limit),
// its errors, and `keel nmt translate` with a model directory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "../support/run_keel.h"
#include "keel/nmt/model.h"
#include "keel/nmt/sentencepiece.h"

using keel::testing::read_all;
using keel::testing::run_keel;
namespace fs = std::filesystem;

namespace {
using keel::testing::run_keel_stdin;

fs::path corpus_temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / (std::to_string(::getpid()) + "_corpus_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A Ding-format file: a header, entries whose last sense is a sentence pair, one entry whose
// sides disagree on the sense count, and a duplicate.
fs::path fake_share(const std::string& name) {
  auto share = corpus_temp_dir(name);
  fs::create_directories(share / "trans");
  std::ofstream f(share / "trans" / "de-en");
  f << "# Version :: devel 2023-01-30\n";
  const char* de_subj[] = {"Der Hund", "Die Katze",     "Mein Bruder",   "Unsere Lehrerin",
                           "Das Kind", "Der alte Mann", "Die Nachbarin", "Ein Vogel"};
  const char* en_subj[] = {"The dog",   "The cat",     "My brother",    "Our teacher",
                           "The child", "The old man", "The neighbour", "A bird"};
  const char* de_verb[] = {
      "schl\xC3\xA4"
      "ft im Garten.",
      "spielt mit dem Ball.", "wartet am Bahnhof.", "liest ein Buch."};
  const char* en_verb[] = {"sleeps in the garden.", "plays with the ball.", "waits at the station.",
                           "reads a book."};
  for (int s = 0; s < 8; ++s)
    for (int v = 0; v < 4; ++v)
      f << "Wort {n} [ugs.] | " << de_subj[s] << " " << de_verb[v] << " :: word [coll.] | "
        << en_subj[s] << " " << en_verb[v] << "\n";
  f << "Haus {n} | H\xC3\xA4user {pl} :: house\n";
  f << "Hund {m} | Der Hund schl\xC3\xA4"
       "ft im Garten. :: dog | The dog sleeps in the garden.\n";
  return share;
}

}  // namespace

TEST(CliCorpus, DingCorpusIsWrittenSplitAndReproducible) {
  auto share = fake_share("share");
  auto out1 = corpus_temp_dir("out1"), out2 = corpus_temp_dir("out2");
  const std::string common = "nmt corpus --pair de-en --share " + share.string() +
                             " --vocab-size 60 --dev 4 --test 4 --seed 3 --json --quiet --out ";
  auto r = run_keel(common + out1.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["candidates"], 33);
  EXPECT_EQ(j["duplicates"], 1);
  EXPECT_EQ(j["split"]["train"], 24);
  EXPECT_EQ(j["split"]["dev"], 4);
  EXPECT_EQ(j["split"]["test"], 4);
  EXPECT_EQ(j["sources"][0]["dropped"]["sense_count_mismatch"], 1);
  EXPECT_EQ(nlohmann::json::parse(read_all(out1 / "corpus.json"))["split"], j["split"]);

  std::set<std::string> train;
  for (const auto& l : lines_of(out1 / "train.src")) train.insert(l);
  for (const char* split : {"train", "dev", "test"}) {
    const std::string s = split;
    const auto src = lines_of(out1 / (s + ".src")), tgt = lines_of(out1 / (s + ".tgt"));
    const auto src_sp = lines_of(out1 / (s + ".src.sp")), tgt_sp = lines_of(out1 / (s + ".tgt.sp"));
    EXPECT_EQ(src.size(), j["split"][s].get<std::size_t>());
    EXPECT_EQ(tgt.size(), src.size());
    EXPECT_EQ(src_sp.size(), src.size());
    EXPECT_EQ(tgt_sp.size(), src.size());
    if (s != "train") {
      for (const auto& l : src) EXPECT_EQ(train.count(l), 0u) << l;  // held out
    }
  }
  // Pieces decode back to the text they came from.
  auto sp = keel::nmt::SentencePiece::load(out1 / "spm.model");
  EXPECT_EQ(sp.size(), 60u);
  const auto tgt = lines_of(out1 / "dev.tgt"), tgt_sp = lines_of(out1 / "dev.tgt.sp");
  for (std::size_t i = 0; i < tgt.size(); ++i) EXPECT_EQ(sp.decode_line(tgt_sp[i]), tgt[i]);

  // Same seed, same bytes in every file.
  ASSERT_EQ(run_keel(common + out2.string()).rc, 0);
  for (const char* f :
       {"train.src", "train.tgt", "dev.src", "test.tgt", "train.src.sp", "spm.model", "checksums"})
    EXPECT_EQ(read_all(out1 / f), read_all(out2 / f)) << f;
  // The manifest lists what later commands read back, with its CRC-32 and size.
  const std::string sums = read_all(out1 / "checksums");
  for (const char* f : {" spm.model\n", " train.src.sp\n", " test.tgt\n"})
    EXPECT_NE(sums.find(f), std::string::npos) << f << " not in\n" << sums;
  fs::remove_all(share);
  fs::remove_all(out1);
  fs::remove_all(out2);
}

TEST(CliCorpus, RealEnglishSpanishWithALimit) {
  if (!fs::exists("/usr/share/apertium/apertium-eng-spa") || !fs::exists("/usr/share/wordnet"))
    GTEST_FAIL()
        << "apertium-eng-spa / wordnet-base / fortunes missing: run scripts/install-deps.sh";
  auto out = corpus_temp_dir("enes");
  auto r = run_keel(
      "nmt corpus --pair en-es --limit 60 --vocab-size 300 --dev 10 --test 10 --json "
      "--quiet --out " +
      out.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["sources"].size(), 3u);
  for (const auto& s : j["sources"]) {
    EXPECT_GT(s["read"].get<int>(), 0) << s;
    EXPECT_GT(s["kept"].get<int>(), 0) << s;
    EXPECT_LE(s["kept"].get<int>(), 60) << s;
  }
  const auto src = lines_of(out / "train.src"), tgt = lines_of(out / "train.tgt");
  ASSERT_EQ(src.size(), j["split"]["train"].get<std::size_t>());
  ASSERT_EQ(tgt.size(), src.size());
  int differs = 0;
  for (std::size_t i = 0; i < src.size(); ++i) {
    EXPECT_FALSE(tgt[i].empty());
    differs += src[i] != tgt[i];
  }
  EXPECT_GT(differs, static_cast<int>(src.size()) * 9 / 10);  // translated, not copied
  fs::remove_all(out);
}

TEST(CliCorpus, BadInputIsOneClearErrorLine) {
  auto out = corpus_temp_dir("bad");
  auto r = run_keel("nmt corpus --pair fr-en --out " + out.string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(keel::testing::count_lines(r.err), 1) << r.err;
  r = run_keel("nmt corpus --pair de-en --share " + (out / "nowhere").string() + " --out " +
               out.string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("trans-de-en"), std::string::npos) << r.err;
  EXPECT_EQ(keel::testing::count_lines(r.err), 1) << r.err;
  r = run_keel("nmt corpus --pair en-es --share " + (out / "nowhere").string() + " --out " +
               out.string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("fortunes"), std::string::npos) << r.err;
  std::ofstream(out / "file") << "x";
  auto share = fake_share("share_bad");
  r = run_keel("nmt corpus --pair de-en --share " + share.string() + " --out " +
               (out / "file" / "sub").string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
  EXPECT_EQ(keel::testing::count_lines(r.err), 1) << r.err;
  // More held out than there is: nothing written.
  r = run_keel("nmt corpus --pair de-en --share " + share.string() + " --dev 1000 --quiet --out " +
               (out / "small").string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(keel::testing::count_lines(r.err), 1) << r.err;
  EXPECT_FALSE(fs::exists(out / "small"));  // a failed run leaves no directory it made
  // SentencePiece's own refusal, without the library's source line.
  r = run_keel("nmt corpus --pair de-en --share " + share.string() +
               " --dev 1 --test 1 --vocab-size 100000 "
               "--quiet --out " +
               (out / "vocab").string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_EQ(keel::testing::count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("SentencePiece training failed: Vocabulary size too high (100000)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find(".cc("), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(out / "vocab"));
  // Negative counts would wrap around in the unsigned options (--dev -1 held out 2^64 - 1).
  for (const std::string flag : {"--dev -1", "--test -1", "--limit -1", "--seed -1"}) {
    r = run_keel("nmt corpus --pair de-en --share " + share.string() + " " + flag + " --out " +
                 (out / "neg").string());
    EXPECT_EQ(r.rc, 2) << flag;
    EXPECT_NE(r.err.find("must be 0 or more, got -1"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(out / "neg"));
  }
  // --out names a file: refused when the flags are read.
  r = run_keel("nmt corpus --pair de-en --share " + share.string() + " --out " +
               (out / "file").string());
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("is a file, not a directory"), std::string::npos) << r.err;
  fs::remove_all(out);
  fs::remove_all(share);
}

TEST(CliTranslate, ModelDirectoryTakesAndGivesRawText) {
  auto dir = corpus_temp_dir("modeldir");
  std::vector<std::string> text;
  for (const char* s : {"The dog sleeps in the garden.", "The cat plays with the ball.",
                        "My brother waits at the station.", "Our teacher reads a book."})
    for (int i = 0; i < 20; ++i) text.push_back(std::string(s) + " " + std::to_string(i) + ".");
  keel::nmt::SentencePieceTrainOptions so;
  so.vocab_size = 48;
  const std::string spm = keel::nmt::train_sentencepiece(text, so);
  std::ofstream(dir / "spm.model", std::ios::binary) << spm;
  const auto pieces = keel::nmt::SentencePiece::from_bytes(spm, "t").pieces();
  auto cfg = keel::nmt::preset_config(keel::nmt::Preset::tiny);
  cfg.src_vocab = cfg.tgt_vocab = static_cast<std::uint32_t>(pieces.size());
  auto model = keel::nmt::random_model(cfg, 9);
  model.src_vocab = model.tgt_vocab = keel::nmt::Vocabulary(pieces);
  // Random weights may favour <s> or <pad>, which decode to nothing: rule the specials out.
  for (std::size_t id = 0; id < 4; ++id) model.tensors.at("decoder.output.bias").f32[id] = -1e4f;
  keel::nmt::save_model(model, dir / "model.keel");

  const std::vector<std::string> input = {"The dog reads a book.", "A bird waits."};
  auto in = dir / "in.txt", pre = dir / "pre.txt";
  const auto sp = keel::nmt::SentencePiece::from_bytes(spm, "t");
  {
    std::ofstream raw(in), encoded(pre);
    for (const auto& l : input) raw << l << "\n", encoded << sp.encode_line(l) << "\n";
  }
  const std::string opts = " --min-decoding-length 4 --max-decoding-length 4 --quiet";
  auto r = run_keel_stdin("nmt translate --model " + dir.string() + opts, in);
  ASSERT_EQ(r.rc, 0) << r.err;
  // The same model as a plain file takes and gives pieces; decoded, they are the text above.
  auto plain = run_keel_stdin("nmt translate --model " + (dir / "model.keel").string() + opts, pre);
  ASSERT_EQ(plain.rc, 0) << plain.err;
  std::istringstream text_lines(r.out), piece_lines(plain.out);
  int n = 0;
  for (std::string out, out_pieces;
       std::getline(text_lines, out) && std::getline(piece_lines, out_pieces); ++n) {
    EXPECT_EQ(std::count(out_pieces.begin(), out_pieces.end(), ' '), 3) << out_pieces;
    EXPECT_FALSE(out.empty());
    EXPECT_EQ(out.find("\xE2\x96\x81"), std::string::npos) << out;  // decoded: no "▁"
    EXPECT_EQ(out, sp.decode_line(out_pieces));
  }
  EXPECT_EQ(n, 2);

  // A directory whose spm.model does not match the model's vocabulary.
  auto other = corpus_temp_dir("modeldir_other");
  keel::nmt::save_model(
      keel::nmt::random_model(keel::nmt::preset_config(keel::nmt::Preset::tiny), 1),
      other / "model.keel");
  r = run_keel_stdin("nmt translate --model " + other.string(), in);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("spm.model"), std::string::npos) << r.err;
  std::ofstream(other / "spm.model", std::ios::binary) << spm;
  r = run_keel_stdin("nmt translate --model " + other.string(), in);
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("lacks"), std::string::npos) << r.err;
  EXPECT_EQ(keel::testing::count_lines(r.err), 1) << r.err;
  fs::remove_all(dir);
  fs::remove_all(other);
}
