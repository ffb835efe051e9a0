// keel nmt serve's API without HTTP: LibreTranslate request bodies (JSON and form), keel's
// /v1 body, errors naming the field or limit, language pairs, keys, HTML runs, Prometheus text.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "keel/core/error.h"
#include "keel/nmt/html_text.h"
#include "keel/nmt/serve_api.h"
#include "keel/nmt/serve_metrics.h"

using namespace keel::nmt;

namespace {

int status_of(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const ApiError& e) {
    if (message) *message = e.what();
    return e.status();
  }
  return 0;
}

}  // namespace

TEST(ServeApi, LibreJsonTakesAStringOrAListAndAnswersLikeIt) {
  ServeLimits lim;
  const auto one = parse_libre_json(R"({"q": "hello", "source": "en", "target": "es"})", lim);
  EXPECT_FALSE(one.list);
  EXPECT_EQ(one.q, std::vector<std::string>{"hello"});
  const LanguagePair pair{"en", "es"};
  EXPECT_EQ(nlohmann::json::parse(libre_response(one, {"hola"}, pair)),
            nlohmann::json::parse(R"({"translatedText": "hola"})"));
  const auto many =
      parse_libre_json(R"({"q": ["a", "b"], "source": "auto", "target": "es", "api_key": "k"})", lim);
  EXPECT_TRUE(many.list);
  EXPECT_EQ(many.api_key, "k");
  const auto j = nlohmann::json::parse(libre_response(many, {"x", "y"}, pair));
  EXPECT_EQ(j["translatedText"], nlohmann::json::parse(R"(["x", "y"])"));
  EXPECT_EQ(j["detectedLanguage"][1]["language"], "en");
}

TEST(ServeApi, FormFieldsWorkLikeJson) {
  const std::multimap<std::string, std::string> f = {
      {"q", "hello"}, {"source", "en"}, {"target", "es"}, {"api_key", "k"}};
  const auto r = parse_libre_form(f, {});
  EXPECT_EQ(r.q, std::vector<std::string>{"hello"});
  EXPECT_EQ(r.target, "es");
  EXPECT_EQ(r.api_key, "k");
  std::string msg;
  EXPECT_EQ(status_of([] { parse_libre_form({{"q", "x"}}, {}); }, &msg), 400);
  EXPECT_NE(msg.find("\"target\""), std::string::npos) << msg;
}

TEST(ServeApi, BadBodiesName400AndTheFieldOrLimit) {
  ServeLimits lim;
  lim.max_texts = 2;
  std::string msg;
  EXPECT_EQ(status_of([&] { parse_libre_json("{\"q\": ", lim); }, &msg), 400);
  EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
  EXPECT_EQ(status_of([&] { parse_libre_json("[1]", lim); }, &msg), 400);
  EXPECT_EQ(status_of([&] { parse_libre_json(R"({"q": 5, "target": "es"})", lim); }, &msg), 400);
  EXPECT_NE(msg.find("\"q\""), std::string::npos) << msg;
  EXPECT_EQ(status_of([&] { parse_libre_json(R"({"q": ["a", 1], "target": "es"})", lim); }, &msg), 400);
  EXPECT_EQ(status_of([&] { parse_libre_json(R"({"q": "a", "target": 3})", lim); }, &msg), 400);
  EXPECT_NE(msg.find("\"target\""), std::string::npos) << msg;
  EXPECT_EQ(status_of([&] { parse_libre_json(R"({"q": "a", "target": "es", "format": "pdf"})", lim); }, &msg), 400);
  EXPECT_NE(msg.find("\"format\""), std::string::npos) << msg;
  EXPECT_EQ(status_of([&] { parse_libre_json(R"({"q": ["a","b","c"], "target": "es"})", lim); }, &msg), 400);
  EXPECT_NE(msg.find("--max-texts-per-request"), std::string::npos) << msg;
  EXPECT_EQ(status_of([&] { parse_v1(R"({"text": ["a"], "beam_size": 0})", {}, lim); }, &msg), 400);
  EXPECT_NE(msg.find("\"beam_size\""), std::string::npos) << msg;
  EXPECT_EQ(status_of([&] { parse_v1(R"({"text": ["a"], "beam_size": 2.5})", {}, lim); }, &msg), 400);
  EXPECT_EQ(status_of([&] { parse_v1(R"({"text": ["a"], "max_decoding_length": "9"})", {}, lim); }, &msg), 400);
  EXPECT_NE(msg.find("\"max_decoding_length\""), std::string::npos) << msg;
}

// What a hostile client sends: numbers past any type, integers that would wrap when narrowed,
// bytes that are not UTF-8 (a form's fields are not checked by a JSON parser). Each is a 400
// naming the field, never a 500 or a silently different value.
TEST(ServeApi, OverflowingNumbersWrappingIntegersAndBadUtf8Are400) {
  const ServeLimits lim;
  std::string msg;
  EXPECT_EQ(
      status_of([&] { parse_v1(R"({"text": "a", "length_penalty": 1e400})", {}, lim); }, &msg),
      400);
  EXPECT_NE(msg.find("malformed JSON"), std::string::npos) << msg;
  for (const char* v :
       {"4294967297", "-4294967295", "18446744073709551615", "9223372036854775808"}) {
    EXPECT_EQ(
        status_of(
            [&] { parse_v1(std::string(R"({"text": "a", "beam_size": )") + v + "}", {}, lim); },
            &msg),
        400)
        << v;
    EXPECT_NE(msg.find(std::string("is ") + v), std::string::npos) << msg;
  }
  EXPECT_EQ(
      status_of([&] { parse_v1(R"({"text": "a", "max_decoding_length": 4294967296})", {}, lim); },
                &msg),
      400);
  EXPECT_EQ(parse_v1(R"({"text": "a", "beam_size": 16})", {}, lim).decode.beam_size,
            16);  // the bound itself
  EXPECT_EQ(status_of(
                [&] {
                  parse_libre_form({{"q", "hello"}, {"target", "es\xff"}}, lim);
                },
                &msg),
            400);
  EXPECT_NE(msg.find("\"target\" is not valid UTF-8"), std::string::npos) << msg;
  EXPECT_EQ(status_of(
                [&] {
                  parse_libre_form({{"q", "<b title=\"\xff\">hi</b>"}, {"target", "es"}}, lim);
                },
                &msg),
            400);
  // An error message quoting such bytes still makes a JSON body.
  const auto body = nlohmann::json::parse(error_json("no endpoint GET /\xff\xfe"));
  EXPECT_NE(body["error"].get<std::string>().find("no endpoint"), std::string::npos);
}

TEST(ServeApi, V1OptionsOverrideTheDefaults) {
  DecodeOptions d;
  d.max_length = 100;
  const auto r = parse_v1(R"({"text": "a b", "beam_size": 4, "length_penalty": 0.6})", d, {});
  EXPECT_EQ(r.text, std::vector<std::string>{"a b"});
  EXPECT_EQ(r.decode.beam_size, 4);
  EXPECT_FLOAT_EQ(r.decode.length_penalty, 0.6f);
  EXPECT_EQ(r.decode.max_length, 100);
}

TEST(ServeApi, LanguagePairsFromNamesAndChecks) {
  EXPECT_EQ(pair_from_name("en-es-int8")->target, "es");
  EXPECT_EQ(pair_from_name("opus-mt-de-en")->source, "de");
  EXPECT_FALSE(pair_from_name("model.keel"));
  EXPECT_THROW(parse_pair("english-spanish"), keel::core::InputError);
  const LanguagePair pair{"en", "es"};
  LibreRequest r;
  r.source = "auto";
  r.target = "es";
  EXPECT_NO_THROW(check_pair(r, pair));
  r.target = "fr";
  std::string msg;
  EXPECT_EQ(status_of([&] { check_pair(r, pair); }, &msg), 400);
  EXPECT_NE(msg.find("en-es"), std::string::npos) << msg;
  const auto langs = nlohmann::json::parse(languages_json(pair));
  EXPECT_EQ(langs[0]["code"], "en");
  EXPECT_EQ(langs[0]["targets"][0], "es");
  EXPECT_EQ(langs[1]["name"], "Spanish");
}

TEST(ServeApi, KeysMatchExactlyOnly) {
  const std::vector<std::string> keys = {"secret-one", "two"};
  EXPECT_TRUE(key_matches(keys, "two"));
  EXPECT_TRUE(key_matches(keys, "secret-one"));
  EXPECT_FALSE(key_matches(keys, "secret-on"));
  EXPECT_FALSE(key_matches(keys, "secret-one "));
  EXPECT_FALSE(key_matches(keys, ""));
}

TEST(HtmlText, MarkupStaysTextRunsAreTranslatedAndEscaped) {
  const std::string html =
      "<p class=\"x\">Tom &amp; Jerry <b>run</b>.</p><!-- a note --><script>if (a < b) go();</script>"
      "  <br/>&#233;t&eacute;";
  const auto pieces = split_html(html);
  std::vector<std::string> cores;
  for (const auto& p : pieces)
    if (p.text && !p.core.empty()) cores.push_back(p.core);
  // Entities decoded where known (&eacute; is not in the list: kept), script and comment not text.
  EXPECT_EQ(cores, (std::vector<std::string>{"Tom & Jerry", "run", ".", "\xC3\xA9t&eacute;"}));
  // Joining the cores back gives the same document, up to entity spelling.
  std::string same = join_html(pieces, cores);
  EXPECT_EQ(same,
            "<p class=\"x\">Tom &amp; Jerry <b>run</b>.</p><!-- a note --><script>if (a < b) "
            "go();</script>  <br/>\xC3\xA9t&amp;eacute;");
  const std::string out = join_html(pieces, {"A<B", "x", "y", "z"});
  EXPECT_NE(out.find("A&lt;B <b>x</b>y</p>"), std::string::npos) << out;
  EXPECT_THROW(join_html(pieces, {"only one"}), std::out_of_range);
}

TEST(ServeMetrics, PrometheusTextIsWellFormedAndCounts) {
  ServeMetrics m;
  m.request("/translate", 200, 0.003);
  m.request("/translate", 200, 0.2);
  m.request("/translate", 400, 0.001);
  BatchInfo b;
  b.sentences = 3;
  b.target_tokens = 17;
  b.source_tokens = 12;
  b.seconds = 0.02;
  m.batch(b);
  const std::string text = m.prometheus(4, 1);
  const std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? [-+0-9.eInf]+$)");
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
    EXPECT_TRUE(std::regex_match(line, sample)) << line;
  }
  EXPECT_NE(text.find("keel_nmt_requests_total{endpoint=\"/translate\",status=\"200\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("keel_nmt_requests_total{endpoint=\"/translate\",status=\"400\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("keel_nmt_target_tokens_total 17\n"), std::string::npos);
  EXPECT_NE(text.find("keel_nmt_queue_depth 4\n"), std::string::npos);
  // Cumulative buckets: 2 of 3 requests within 5 ms, all 3 by +Inf.
  EXPECT_NE(text.find("keel_nmt_request_duration_seconds_bucket{endpoint=\"/translate\",le=\"0.005\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("keel_nmt_request_duration_seconds_bucket{endpoint=\"/translate\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("keel_nmt_batch_size_bucket{le=\"4\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("keel_nmt_batch_size_bucket{le=\"2\"} 0\n"), std::string::npos);
}
