// BLEU on the test vectors of tests/data/bleu/ (tools/make_bleu_vectors.py): statistics against
// a plain recount, and every number the real sacreBLEU wrote to sacrebleu_expected.json
// (tools/sacrebleu_expected.py) for the same configurations.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "../support/source_paths.h"
#include "keel/nmt/bleu.h"

using namespace keel::nmt;

namespace {
using keel::testing::kBleuTestData;
using keel::testing::read_lines;

// keel follows sacreBLEU's floating-point operations one for one; what is left is libm rounding.
constexpr double kRelTol = 1e-9;
constexpr double kAbsTol = 1e-12;  // for values that are (near) zero

::testing::AssertionResult close(double got, double want) {
  if (std::abs(got - want) <= std::max(kAbsTol, kRelTol * std::abs(want)))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << got << " vs sacreBLEU's " << want;
}

// The signature's fields other than version (keel's reads "keel-<version>").
std::map<std::string, std::string> signature_fields(const std::string& sig) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos <= sig.size()) {
    std::size_t end = std::min(sig.find('|', pos), sig.size());
    const std::string f = sig.substr(pos, end - pos);
    const std::size_t colon = f.find(':');
    if (f.substr(0, colon) != "version") out[f.substr(0, colon)] = f.substr(colon + 1);
    pos = end + 1;
  }
  return out;
}

// Scores compared with sacreBLEU and how many of them were bit-identical.
int g_scores = 0, g_identical_scores = 0;

// Compares a keel score with one of sacreBLEU's dumps. sacreBLEU's add-k reports counts and
// totals with k added for n >= 2 (unless nothing matched); keel reports the raw ones.
void expect_same(const BleuScore& got, const nlohmann::json& want, const std::string& what,
                 double add_k = 0) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(close(got.score, want.at("score").get<double>()));
  ++g_scores;
  g_identical_scores += got.score == want.at("score").get<double>();
  EXPECT_TRUE(close(got.bp, want.at("bp").get<double>()));
  EXPECT_EQ(got.sys_len, want.at("sys_len").get<std::int64_t>());
  EXPECT_EQ(got.ref_len, want.at("ref_len").get<std::int64_t>());
  const auto counts = want.at("counts").get<std::vector<double>>();
  const auto totals = want.at("totals").get<std::vector<double>>();
  const auto precisions = want.at("precisions").get<std::vector<double>>();
  ASSERT_EQ(got.counts.size(), counts.size());
  ASSERT_EQ(got.precisions.size(), precisions.size());
  const bool matched = std::any_of(got.counts.begin(), got.counts.end(), [](auto c) { return c; });
  for (std::size_t n = 0; n < counts.size(); ++n) {
    const double k = n > 0 && matched ? add_k : 0.0;
    EXPECT_EQ(static_cast<double>(got.counts[n]) + k, counts[n]) << "order " << n + 1;
    EXPECT_EQ(static_cast<double>(got.totals[n]) + k, totals[n]) << "order " << n + 1;
    EXPECT_TRUE(close(got.precisions[n], precisions[n])) << "order " << n + 1;
  }
}

// Plain recount of sacreBLEU's statistics: n-grams as token vectors in a std::map, the closest
// reference length by sorting (difference, length).
struct Stats {
  std::vector<std::int64_t> correct, total;
  std::int64_t sys_len = 0, ref_len = 0;
};

Stats recount(const std::vector<std::string>& hyps,
              const std::vector<std::vector<std::string>>& refs, const BleuOptions& o) {
  using Gram = std::vector<std::string>;
  auto grams = [&](const std::vector<std::string>& t) {
    std::map<Gram, std::int64_t> m;
    for (int n = 1; n <= o.max_ngram_order; ++n)
      for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= t.size(); ++i)
        ++m[Gram(t.begin() + static_cast<std::ptrdiff_t>(i),
                 t.begin() + static_cast<std::ptrdiff_t>(i) + n)];
    return m;
  };
  Stats s;
  s.correct.assign(static_cast<std::size_t>(o.max_ngram_order), 0);
  s.total = s.correct;
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    const auto h = bleu_tokens(hyps[i], o);
    std::vector<std::pair<std::int64_t, std::int64_t>> lens;  // (|diff|, length)
    std::map<Gram, std::int64_t> best;
    for (const auto& stream : refs) {
      if (stream[i].empty()) continue;
      const auto r = bleu_tokens(stream[i], o);
      const auto len = static_cast<std::int64_t>(r.size());
      lens.emplace_back(std::abs(len - static_cast<std::int64_t>(h.size())), len);
      for (const auto& [g, c] : grams(r)) best[g] = std::max(best[g], c);
    }
    std::sort(lens.begin(), lens.end());
    s.sys_len += static_cast<std::int64_t>(h.size());
    s.ref_len += lens.front().second;
    for (const auto& [g, c] : grams(h)) {
      s.total[g.size() - 1] += c;
      if (auto it = best.find(g); it != best.end())
        s.correct[g.size() - 1] += std::min(c, it->second);
    }
  }
  return s;
}

}  // namespace

TEST(BleuVectors, StatisticsMatchAPlainRecount) {
  const auto hyp = read_lines(kBleuTestData + "hyp.txt"),
             r1 = read_lines(kBleuTestData + "ref1.txt"),
             r2 = read_lines(kBleuTestData + "ref2.txt");
  ASSERT_EQ(hyp.size(), 149u);
  for (bool lc : {false, true})
    for (auto tok :
         {BleuTokenizer::t13a, BleuTokenizer::none, BleuTokenizer::intl, BleuTokenizer::char_}) {
      BleuOptions o;
      o.tokenize = tok;
      o.lowercase = lc;
      const BleuScore s = corpus_bleu(hyp, {r1, r2}, o);
      const Stats want = recount(hyp, {r1, r2}, o);
      SCOPED_TRACE(std::string(to_string(tok)) + (lc ? " lowercase" : ""));
      EXPECT_EQ(s.counts, want.correct);
      EXPECT_EQ(s.totals, want.total);
      EXPECT_EQ(s.sys_len, want.sys_len);
      EXPECT_EQ(s.ref_len, want.ref_len);
      EXPECT_EQ(s.score,
                bleu_from_stats(want.correct, want.total, want.sys_len, want.ref_len, o).score);
    }
}

TEST(BleuVectors, MatchesSacrebleuExpectedJson) {
  const std::string path = kBleuTestData + "sacrebleu_expected.json";
  ASSERT_TRUE(std::filesystem::exists(path))
      << path << " is missing: run tools/sacrebleu_expected.py where sacreBLEU is installed";
  const auto j = nlohmann::json::parse(std::ifstream(path));
  const auto hyp = read_lines(kBleuTestData + "hyp.txt");

  ASSERT_FALSE(j.at("corpus").empty());
  for (const auto& c : j.at("corpus")) {
    const auto& cfg = c.at("config");
    BleuOptions o;
    std::vector<std::vector<std::string>> refs;
    for (const auto& f : cfg.at("refs"))
      refs.push_back(read_lines(kBleuTestData + f.get<std::string>()));
    o.lowercase = cfg.value("lowercase", false);
    o.tokenize = parse_bleu_tokenizer(cfg.value("tokenize", "13a"));
    o.smooth = parse_bleu_smooth(cfg.value("smooth_method", "exp"));
    o.smooth_value = cfg.value("smooth_value", -1.0);
    o.max_ngram_order = cfg.value("max_ngram_order", 4);
    const BleuScore s = corpus_bleu(hyp, refs, o);
    const double k =
        o.smooth == BleuSmooth::add_k ? (o.smooth_value < 0 ? 1.0 : o.smooth_value) : 0;
    expect_same(s, c, cfg.dump(), k);
    EXPECT_EQ(signature_fields(bleu_signature(o, s.nrefs)),
              signature_fields(c.at("signature").get<std::string>()))
        << cfg.dump();
  }

  const auto r1 = read_lines(kBleuTestData + "ref1.txt"),
             r2 = read_lines(kBleuTestData + "ref2.txt");
  const auto& sent = j.at("sentence");
  ASSERT_EQ(sent.size(), hyp.size());
  for (std::size_t i = 0; i < hyp.size(); ++i) {
    expect_same(sentence_bleu(hyp[i], {r1[i]}), sent[i].at("one_ref"),
                "segment " + std::to_string(i + 1) + ", 1 ref");
    expect_same(sentence_bleu(hyp[i], {r1[i], r2[i]}), sent[i].at("two_refs"),
                "segment " + std::to_string(i + 1) + ", 2 refs");
  }
  // The script's BLEU object last scored a segment with two references: its signature says 2.
  EXPECT_EQ(signature_fields(bleu_signature(sentence_bleu_options(), 2)),
            signature_fields(j.at("sentence_signature").get<std::string>()));

  // Summing the log precisions as Python 3.12's sum() does (compensated) makes nearly every
  // score bit-identical (all of them with glibc's libm); a plain sum leaves about a quarter an
  // ulp or so away.
  EXPECT_GE(g_identical_scores, g_scores * 95 / 100) << g_identical_scores << " of " << g_scores;

  const auto& readme = j.at("readme_example");
  const auto rhyp = readme.at("hyp").get<std::vector<std::string>>();
  const auto rrefs = readme.at("refs").get<std::vector<std::vector<std::string>>>();
  const BleuScore s = corpus_bleu(rhyp, rrefs);
  expect_same(s, readme, "README example");
  EXPECT_EQ(signature_fields(bleu_signature({}, s.nrefs)),
            signature_fields(readme.at("signature").get<std::string>()));
}
