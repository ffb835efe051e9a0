#include <vector>

#include "fuzz.h"
#include "keel/nmt/bleu.h"

// Lines before the first empty line are hypotheses, the rest references; every tokenizer.
KEEL_FUZZ_TARGET({
  std::vector<std::string> hyp, ref;
  bool refs = false;
  std::size_t pos = 0;
  while (pos <= input.size()) {
    auto end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    std::string line(input.substr(pos, end - pos));
    if (line.empty() && !refs)
      refs = true;
    else
      (refs ? ref : hyp).push_back(std::move(line));
    pos = end + 1;
  }
  ref.resize(hyp.size());
  for (auto t : {keel::nmt::BleuTokenizer::t13a, keel::nmt::BleuTokenizer::intl,
                 keel::nmt::BleuTokenizer::char_, keel::nmt::BleuTokenizer::none}) {
    keel::nmt::BleuOptions o;
    o.tokenize = t;
    o.lowercase = t == keel::nmt::BleuTokenizer::intl;
    keel::nmt::corpus_bleu(hyp, {ref}, o);
  }
})
