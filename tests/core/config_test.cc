#include "keel/core/config.h"

#include <gtest/gtest.h>

using keel::core::ConfigDoc;
using keel::core::InputError;

namespace {
// Runs `fn` and returns the InputError message it throws ("" when it does not throw).
template <typename F>
std::string input_error_of(F&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Config, ReadsTypedValuesAndDefaults) {
  auto doc = ConfigDoc::parse("a = 3\nb = 2.5\nname = \"x\"\nflag = true\n[sec]\nk = 1\n", "t.toml");
  auto r = doc.root();
  EXPECT_DOUBLE_EQ(r.number("a"), 3.0);  // integers are numbers too
  EXPECT_DOUBLE_EQ(r.number("b"), 2.5);
  EXPECT_DOUBLE_EQ(r.number_or("missing", 7.0), 7.0);
  EXPECT_EQ(r.integer("a"), 3);
  EXPECT_EQ(r.string("name"), "x");
  EXPECT_TRUE(r.boolean_or("flag", false));
  auto sec = r.table("sec");
  ASSERT_TRUE(sec.has_value());
  EXPECT_EQ(sec->integer_or("k", 0), 1);
  EXPECT_FALSE(r.table("nope").has_value());
  EXPECT_NO_THROW(doc.reject_unknown_keys());
}

TEST(Config, SyntaxErrorNamesFileLineColumn) {
  auto msg = input_error_of([] { ConfigDoc::parse("a = 1\nb = = 2\n", "bad.toml"); });
  EXPECT_NE(msg.find("bad.toml:2:"), std::string::npos) << msg;
  EXPECT_NE(msg.find("TOML syntax error"), std::string::npos) << msg;
}

TEST(Config, MissingFileIsInputError) {
  auto msg = input_error_of([] { ConfigDoc::load_file("/nonexistent/x.toml"); });
  EXPECT_NE(msg.find("/nonexistent/x.toml: cannot open file"), std::string::npos) << msg;
}

TEST(Config, UnknownKeyIsRejectedWithNameLocationAndSuggestion) {
  auto doc = ConfigDoc::parse("[job]\ngpus = 8\ncompute_msec = 10\n", "s.toml");
  auto job = doc.root().table("job");
  job->integer("gpus");
  job->number_or("compute_ms", 1.0);
  auto msg = input_error_of([&] { doc.reject_unknown_keys(); });
  EXPECT_NE(msg.find("s.toml:3:1: key 'job.compute_msec': unknown key"), std::string::npos) << msg;
  EXPECT_NE(msg.find("did you mean 'compute_ms'?"), std::string::npos) << msg;
}

TEST(Config, UnknownTableAndArrayEntriesAreRejected) {
  auto doc = ConfigDoc::parse("[[job]]\ngpus = 1\n[[job]]\ngpus = 2\nextra = 1\n[other]\nx=1\n",
                              "s.toml");
  for (auto& j : doc.root().table_array("job")) j.integer("gpus");
  auto msg = input_error_of([&] { doc.reject_unknown_keys(); });
  EXPECT_NE(msg.find("key 'job[1].extra'"), std::string::npos) << msg;
  EXPECT_NE(msg.find(":5:"), std::string::npos) << msg;
}

TEST(Config, SuggestionsAreOfTheSameKindAsTheUnknownEntry) {
  // [job.gpu] is a table: 'gpus' (a value) is no suggestion for it.
  auto doc = ConfigDoc::parse("[[job]]\ngpus = 8\n[job.gpu]\ntdp_w = 1\n", "s.toml");
  for (auto& j : doc.root().table_array("job")) {
    j.integer("gpus");
    (void)j.table("storage");
  }
  auto msg = input_error_of([&] { doc.reject_unknown_keys(); });
  EXPECT_NE(msg.find("key 'job[0].gpu': unknown table"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("did you mean"), std::string::npos) << msg;
  // A misspelt table is matched to a table asked for there, present in the file or not.
  auto doc2 = ConfigDoc::parse("[mitigation.smothing]\nx = 1\n", "s.toml");
  auto mit = doc2.root().table("mitigation");
  (void)mit->table("smoothing");
  (void)mit->number_or("smothing_level", 1.0);
  msg = input_error_of([&] { doc2.reject_unknown_keys(); });
  EXPECT_NE(msg.find("did you mean 'smoothing'?"), std::string::npos) << msg;
}

TEST(Config, WrongTypeAndMissingRequiredNameTheKey) {
  auto doc = ConfigDoc::parse("[sim]\nduration_s = \"long\"\n", "s.toml");
  auto sim = *doc.root().table("sim");
  auto msg = input_error_of([&] { sim.number("duration_s"); });
  EXPECT_EQ(msg, "s.toml:2:14: key 'sim.duration_s': expected a number, got a string");
  msg = input_error_of([&] { sim.number("step_ms"); });
  EXPECT_NE(msg.find("s.toml:1:1: key 'sim.step_ms': missing required number"), std::string::npos)
      << msg;
}

TEST(Config, CheckFailsAtTheKey) {
  auto doc = ConfigDoc::parse("x = -1\n", "c.toml");
  auto r = doc.root();
  double x = r.number("x");
  EXPECT_NO_THROW(r.check(true, "x", "fine"));
  auto msg = input_error_of([&] { r.check(x > 0, "x", "must be positive", "use x > 0"); });
  EXPECT_EQ(msg, "c.toml:1:5: key 'x': must be positive (use x > 0)");
}

TEST(Config, EditDistance) {
  EXPECT_EQ(keel::core::edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(keel::core::edit_distance("", "abc"), 3u);
  EXPECT_EQ(keel::core::edit_distance("same", "same"), 0u);
}
