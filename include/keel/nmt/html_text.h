#pragma once
// Translating HTML (LibreTranslate's format "html"): markup is kept verbatim and the text between
// tags is translated, entities decoded before and the result escaped after. Script and style
// contents and comments are markup. Written here: what is needed is a tokenizer of tags and text,
// not a DOM, and no HTML library is among keel's dependencies.

#include <string>
#include <string_view>
#include <vector>

namespace keel::nmt {

struct HtmlPiece {
  bool text = false;        // a text run (translated when `core` is not empty)
  std::string raw;          // the markup, or the run as written
  std::string lead, trail;  // a text run's surrounding whitespace, kept
  std::string core;         // a text run without it, entities decoded
};

std::vector<HtmlPiece> split_html(std::string_view html);
// `pieces` with each translatable run's core replaced by the next of `translations`.
std::string join_html(const std::vector<HtmlPiece>& pieces,
                      const std::vector<std::string>& translations);

}  // namespace keel::nmt
