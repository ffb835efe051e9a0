// HTML split into markup and translatable text (html_text.h).
#include "keel/nmt/html_text.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <stdexcept>

#include "keel/core/html.h"

namespace keel::nmt {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// The common named entities and numeric references; anything else stays as written.
std::string decode_entities(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out += s[i];
      continue;
    }
    const auto semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    const std::string_view name = s.substr(i + 1, semi - i - 1);
    std::uint32_t cp = 0;
    if (name == "amp") cp = '&';
    else if (name == "lt") cp = '<';
    else if (name == "gt") cp = '>';
    else if (name == "quot") cp = '"';
    else if (name == "apos") cp = '\'';
    else if (name == "nbsp") cp = 0xA0;
    else if (name.size() > 1 && name[0] == '#') {
      try {
        const bool hex = name[1] == 'x' || name[1] == 'X';
        cp = static_cast<std::uint32_t>(
            std::stoul(std::string(name.substr(hex ? 2 : 1)), nullptr, hex ? 16 : 10));
      } catch (const std::exception&) {
        cp = 0;
      }
      if (cp > 0x10FFFF) cp = 0;
    }
    if (cp == 0) {
      out += s[i];
      continue;
    }
    append_utf8(out, cp);
    i = semi;
  }
  return out;
}

void add_text(std::vector<HtmlPiece>& out, std::string_view run) {
  if (run.empty()) return;
  HtmlPiece p;
  p.text = true;
  p.raw = std::string(run);
  const auto b = run.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) {
    p.lead = p.raw;
  } else {
    const auto e = run.find_last_not_of(" \t\r\n");
    p.lead = std::string(run.substr(0, b));
    p.trail = std::string(run.substr(e + 1));
    p.core = decode_entities(run.substr(b, e - b + 1));
  }
  out.push_back(std::move(p));
}

}  // namespace

std::vector<HtmlPiece> split_html(std::string_view html) {
  std::vector<HtmlPiece> out;
  std::size_t i = 0, text_start = 0;
  auto markup = [&](std::size_t end) {
    add_text(out, html.substr(text_start, i - text_start));
    out.push_back({false, std::string(html.substr(i, end - i)), {}, {}, {}});
    i = text_start = end;
  };
  while (i < html.size()) {
    if (html[i] != '<') {
      ++i;
      continue;
    }
    if (html.substr(i, 4) == "<!--") {
      const auto end = html.find("-->", i + 4);
      markup(end == std::string_view::npos ? html.size() : end + 3);
      continue;
    }
    const auto close = html.find('>', i);
    if (close == std::string_view::npos) break;  // a lone '<': text to the end
    std::size_t end = close + 1;
    // <script> and <style> hold code, not text: up to their closing tag is markup.
    const std::string tag = lower(html.substr(i, std::min<std::size_t>(8, close - i + 1)));
    for (const char* name : {"script", "style"}) {
      const std::string open = std::string("<") + name;
      if (tag.rfind(open, 0) == 0 && tag.size() > open.size() &&
          (tag[open.size()] == '>' || std::isspace(static_cast<unsigned char>(tag[open.size()])))) {
        const auto closing = lower(html).find(std::string("</") + name, end);
        const auto gt = closing == std::string::npos ? std::string::npos : html.find('>', closing);
        end = gt == std::string_view::npos ? html.size() : gt + 1;
      }
    }
    markup(end);
  }
  add_text(out, html.substr(text_start));
  return out;
}

std::string join_html(const std::vector<HtmlPiece>& pieces,
                      const std::vector<std::string>& translations) {
  std::string out;
  std::size_t k = 0;
  for (const auto& p : pieces) {
    if (!p.text) {
      out += p.raw;
    } else if (p.core.empty()) {
      out += p.lead;
    } else {
      out += p.lead + core::html_escape(translations.at(k++)) + p.trail;
    }
  }
  if (k != translations.size()) throw std::logic_error("join_html: translations left over");
  return out;
}

}  // namespace keel::nmt
