// BLEU with sacreBLEU 2.x's definition (metrics/bleu.py), written by hand: no C++ library
// implements sacreBLEU's tokenizers, reference handling and smoothings. Each step follows the
// Python code's order of floating-point operations, so scores agree to the last bits.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <unordered_map>

#include "keel/core/error.h"
#include "keel/nmt/bleu.h"

#ifndef KEEL_VERSION
#define KEEL_VERSION "unknown"
#endif

namespace keel::nmt {

namespace {

using core::InputError;

// The n-grams of one tokenized segment. Tokens hold no whitespace, so joining them with single
// spaces is one-to-one, and every n-gram is a substring of the joined text: the keys are views
// into it and nothing is allocated per n-gram.
class NgramCounts {
 public:
  NgramCounts(const std::vector<std::string>& tokens, int max_order) : length_(tokens.size()) {
    std::vector<std::size_t> begin, end;
    for (const auto& t : tokens) {
      if (!text_.empty()) text_ += ' ';
      begin.push_back(text_.size());
      text_ += t;
      end.push_back(text_.size());
    }
    const std::string_view all(text_);
    for (std::size_t n = 1; n <= static_cast<std::size_t>(max_order); ++n)
      for (std::size_t i = 0; i + n <= tokens.size(); ++i)
        ++counts_[all.substr(begin[i], end[i + n - 1] - begin[i])];
  }
  NgramCounts(const NgramCounts&) = delete;  // the keys point into text_
  NgramCounts& operator=(const NgramCounts&) = delete;

  std::size_t length() const { return length_; }
  const std::unordered_map<std::string_view, std::int64_t>& counts() const { return counts_; }

 private:
  std::string text_;
  std::size_t length_;
  std::unordered_map<std::string_view, std::int64_t> counts_;
};

std::size_t order_of(std::string_view ngram) {
  return 1 + static_cast<std::size_t>(std::count(ngram.begin(), ngram.end(), ' '));
}

// sum(my_log(p) for p in precisions) as sacreBLEU computes it under Python >= 3.12, whose sum()
// adds floats with Neumaier's compensated summation (CPython's builtin_sum). my_log(0) is the
// integer -9999999999, which CPython adds without compensation. Python <= 3.11 summed plainly;
// the two differ by an ulp or so, and the real sacreBLEU's expected values match this one.
double sum_my_log(const std::vector<double>& precisions, std::size_t count) {
  double sum = 0, c = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (precisions[i] == 0) {
      sum += -9999999999.0;
      continue;
    }
    const double x = std::log(precisions[i]), t = sum + x;
    c += std::abs(sum) >= std::abs(x) ? (sum - t) + x : (x - t) + sum;
    sum = t;
  }
  if (c != 0 && std::isfinite(c)) sum += c;
  return sum;
}

double default_smooth_value(BleuSmooth s) {
  return s == BleuSmooth::floor ? 0.1 : s == BleuSmooth::add_k ? 1.0 : 0.0;
}

double smooth_value(const BleuOptions& o) {
  return o.smooth_value < 0 ? default_smooth_value(o.smooth) : o.smooth_value;
}

void check_options(const BleuOptions& o) {
  if (o.max_ngram_order < 1 || o.max_ngram_order > 100)
    throw InputError(fmt::format("BLEU max n-gram order {} is out of range", o.max_ngram_order), {},
                     "use an order from 1 to 100 (sacreBLEU's default is 4)");
}

// Per segment: hypothesis length, closest reference length (ties -> shorter), and per order the
// clipped matches (against the maximum count over the references) and hypothesis n-grams.
struct SegmentStats {
  std::int64_t sys_len = 0, ref_len = 0;
  std::vector<std::int64_t> correct, total;
};

SegmentStats segment_stats(const std::string& hyp, const std::vector<const std::string*>& refs,
                           const BleuOptions& o) {
  std::vector<std::unique_ptr<NgramCounts>> ref_counts;  // own the texts ref_max points into
  std::unordered_map<std::string_view, std::int64_t> ref_max;
  std::vector<std::int64_t> ref_lens;
  for (const std::string* r : refs) {
    ref_counts.push_back(std::make_unique<NgramCounts>(bleu_tokens(*r, o), o.max_ngram_order));
    ref_lens.push_back(static_cast<std::int64_t>(ref_counts.back()->length()));
    for (const auto& [g, c] : ref_counts.back()->counts()) {
      auto [it, inserted] = ref_max.try_emplace(g, c);
      if (!inserted) it->second = std::max(it->second, c);
    }
  }
  NgramCounts hc(bleu_tokens(hyp, o), o.max_ngram_order);
  SegmentStats s;
  s.sys_len = static_cast<std::int64_t>(hc.length());
  std::int64_t closest_diff = -1;
  for (std::int64_t len : ref_lens) {
    const std::int64_t diff = std::abs(s.sys_len - len);
    if (closest_diff == -1 || diff < closest_diff) {
      closest_diff = diff;
      s.ref_len = len;
    } else if (diff == closest_diff && len < s.ref_len) {
      s.ref_len = len;
    }
  }
  s.correct.assign(static_cast<std::size_t>(o.max_ngram_order), 0);
  s.total = s.correct;
  for (const auto& [g, c] : hc.counts()) {
    const std::size_t n = order_of(g) - 1;
    s.total[n] += c;
    if (auto it = ref_max.find(g); it != ref_max.end()) s.correct[n] += std::min(c, it->second);
  }
  return s;
}

void check_utf8(const std::string& line, const char* what, std::size_t segment) {
  if (auto at = find_invalid_utf8(line); at != std::string_view::npos)
    throw InputError(fmt::format("{} of segment {} is not valid UTF-8 (byte {} of the line)", what,
                                 segment + 1, at + 1),
                     {}, "convert the text to UTF-8");
}

}  // namespace

BleuScore bleu_from_stats(std::vector<std::int64_t> counts, std::vector<std::int64_t> totals,
                          std::int64_t sys_len, std::int64_t ref_len, const BleuOptions& o) {
  check_options(o);
  const auto order = static_cast<std::size_t>(o.max_ngram_order);
  if (counts.size() != order || totals.size() != order)
    throw InputError(fmt::format("BLEU statistics have {} counts and {} totals for order {}",
                                 counts.size(), totals.size(), order));
  BleuScore r;
  r.sys_len = sys_len;
  r.ref_len = ref_len;
  r.ratio = ref_len ? static_cast<double>(sys_len) / static_cast<double>(ref_len) : 0.0;
  if (sys_len < ref_len)
    r.bp = sys_len > 0 ? std::exp(1.0 - static_cast<double>(ref_len) / static_cast<double>(sys_len))
                       : 0.0;
  else
    r.bp = 1.0;
  r.precisions.assign(order, 0.0);
  r.counts = counts;
  r.totals = totals;
  // No match at all: 0, whatever the smoothing (sacreBLEU #141).
  if (std::all_of(counts.begin(), counts.end(), [](std::int64_t c) { return c == 0; })) return r;

  const double k = smooth_value(o);
  double smooth_mteval = 1.0;
  std::size_t eff_order = order;
  for (std::size_t n = 1; n <= order; ++n) {
    double correct = static_cast<double>(counts[n - 1]), total = static_cast<double>(totals[n - 1]);
    if (o.smooth == BleuSmooth::add_k && n > 1) {  // sacreBLEU adds k before the zero test
      correct += k;
      total += k;
    }
    if (total == 0) break;
    if (o.effective_order) eff_order = n;
    if (correct == 0) {
      if (o.smooth == BleuSmooth::exp) {
        smooth_mteval *= 2;
        r.precisions[n - 1] = 100. / (smooth_mteval * total);
      } else if (o.smooth == BleuSmooth::floor) {
        r.precisions[n - 1] = 100. * k / total;
      }
    } else {
      r.precisions[n - 1] = 100. * correct / total;
    }
  }
  r.score = r.bp * std::exp(sum_my_log(r.precisions, eff_order) / static_cast<double>(eff_order));
  return r;
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps,
                      const std::vector<std::vector<std::string>>& refs, const BleuOptions& o) {
  check_options(o);
  if (refs.empty())
    throw InputError("BLEU needs at least one reference stream", {}, "pass reference texts");
  if (hyps.empty()) throw InputError("BLEU of an empty corpus (no segments)", {}, "pass text");
  for (std::size_t k = 0; k < refs.size(); ++k)
    if (refs[k].size() != hyps.size())
      throw InputError(fmt::format("reference stream {} has {} segments but the hypotheses have {}",
                                   k + 1, refs[k].size(), hyps.size()),
                       {}, "give every reference one line per hypothesis line");

  const auto order = static_cast<std::size_t>(o.max_ngram_order);
  std::vector<std::int64_t> correct(order, 0), total(order, 0);
  std::int64_t sys_len = 0, ref_len = 0;
  int nrefs = 0;
  std::vector<const std::string*> seg_refs;
  for (std::size_t i = 0; i < hyps.size(); ++i) {
    check_utf8(hyps[i], "the hypothesis", i);
    seg_refs.clear();
    for (const auto& stream : refs) {
      check_utf8(stream[i], "a reference", i);
      if (!stream[i].empty()) seg_refs.push_back(&stream[i]);  // "" = fewer refs here
    }
    if (seg_refs.empty())
      throw InputError(fmt::format("segment {} has no non-empty reference", i + 1), {},
                       "every segment needs at least one non-empty reference line");
    const int n = static_cast<int>(seg_refs.size());
    nrefs = i == 0 ? n : (nrefs == n ? n : -1);
    const SegmentStats s = segment_stats(hyps[i], seg_refs, o);
    sys_len += s.sys_len;
    ref_len += s.ref_len;
    for (std::size_t j = 0; j < order; ++j) {
      correct[j] += s.correct[j];
      total[j] += s.total[j];
    }
  }
  BleuScore r = bleu_from_stats(std::move(correct), std::move(total), sys_len, ref_len, o);
  r.nrefs = nrefs;
  return r;
}

BleuScore sentence_bleu(const std::string& hyp, const std::vector<std::string>& refs,
                        BleuOptions options) {
  std::vector<std::vector<std::string>> streams;
  streams.reserve(refs.size());
  for (const auto& r : refs) streams.push_back({r});
  return corpus_bleu({hyp}, streams, options);
}

std::vector<std::string> bleu_tokens(std::string_view line, const BleuOptions& o) {
  std::string lowered;
  if (o.lowercase) {
    lowered = lowercase_utf8(line);
    line = lowered;
  }
  line = rstrip_whitespace(line);
  std::string tokenized;
  switch (o.tokenize) {
    case BleuTokenizer::none:
      tokenized.assign(line);
      break;
    case BleuTokenizer::t13a:
      tokenized = tokenize_13a(line);
      break;
    case BleuTokenizer::intl:
      tokenized = tokenize_intl(line);
      break;
    case BleuTokenizer::char_:
      tokenized = tokenize_char(line);
      break;
  }
  std::vector<std::string> out;
  for (auto t : split_whitespace(tokenized)) out.emplace_back(t);
  return out;
}

const char* to_string(BleuTokenizer t) {
  switch (t) {
    case BleuTokenizer::none:
      return "none";
    case BleuTokenizer::t13a:
      return "13a";
    case BleuTokenizer::intl:
      return "intl";
    case BleuTokenizer::char_:
      return "char";
  }
  return "?";
}

const char* to_string(BleuSmooth s) {
  switch (s) {
    case BleuSmooth::none:
      return "none";
    case BleuSmooth::floor:
      return "floor";
    case BleuSmooth::add_k:
      return "add-k";
    case BleuSmooth::exp:
      return "exp";
  }
  return "?";
}

BleuTokenizer parse_bleu_tokenizer(std::string_view name) {
  for (auto t :
       {BleuTokenizer::t13a, BleuTokenizer::none, BleuTokenizer::intl, BleuTokenizer::char_})
    if (name == to_string(t)) return t;
  throw InputError(fmt::format("unknown BLEU tokenizer '{}'", name), {},
                   "use 13a, none, intl or char");
}

BleuSmooth parse_bleu_smooth(std::string_view name) {
  for (auto s : {BleuSmooth::exp, BleuSmooth::floor, BleuSmooth::add_k, BleuSmooth::none})
    if (name == to_string(s)) return s;
  throw InputError(fmt::format("unknown BLEU smoothing '{}'", name), {},
                   "use exp, floor, add-k or none");
}

std::string bleu_signature(const BleuOptions& o, int nrefs) {
  std::string smooth = to_string(o.smooth);
  if (o.smooth == BleuSmooth::floor || o.smooth == BleuSmooth::add_k)
    smooth += fmt::format("[{:.2f}]", smooth_value(o));
  return fmt::format("nrefs:{}|case:{}|eff:{}|tok:{}|smooth:{}|version:keel-{}",
                     nrefs < 0 ? std::string("var") : std::to_string(nrefs),
                     o.lowercase ? "lc" : "mixed", o.effective_order ? "yes" : "no",
                     to_string(o.tokenize), smooth, KEEL_VERSION);
}

std::string bleu_format(const BleuScore& s) {
  std::string prec;
  for (double p : s.precisions) prec += fmt::format("{}{:.1f}", prec.empty() ? "" : "/", p);
  return fmt::format("BLEU = {:.2f} {} (BP = {:.3f} ratio = {:.3f} hyp_len = {} ref_len = {})",
                     s.score, prec, s.bp, s.ratio, s.sys_len, s.ref_len);
}

}  // namespace keel::nmt
