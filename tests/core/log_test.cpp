#include "core/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

namespace vp::log {
namespace {

struct captured_lines {
  captured_lines() {
    set_sink([this](std::string_view line) { lines.emplace_back(line); });
  }
  ~captured_lines() {
    set_sink({});
    set_min_level(level::info);
    set_format(format::text);
  }
  std::vector<std::string> lines;
};

TEST(Log, LinesCarryTimestampLevelAndMessage) {
  captured_lines out;
  info("listening");
  ASSERT_EQ(out.lines.size(), 1u);
  const auto& line = out.lines[0];
  ASSERT_GE(line.size(), 24u);
  EXPECT_EQ(line[4], '-');
  EXPECT_EQ(line[10], 'T');
  EXPECT_EQ(line[23], 'Z');
  EXPECT_NE(line.find(" INFO  listening"), std::string::npos) << line;
}

TEST(Log, ControlCharactersCannotForgeLines) {
  captured_lines out;
  warn("host evil\n2026-01-01T00:00:00.000Z INFO  attested\r\x1b[31m\\");
  ASSERT_EQ(out.lines.size(), 1u);
  EXPECT_EQ(out.lines[0].find('\n'), std::string::npos);
  EXPECT_EQ(out.lines[0].find('\r'), std::string::npos);
  EXPECT_NE(out.lines[0].find("evil\\x0a2026"), std::string::npos) << out.lines[0];
  EXPECT_NE(out.lines[0].find("\\x1b[31m\\\\"), std::string::npos) << out.lines[0];
}

TEST(Log, InvisibleCharactersCannotReorderWhatAnOperatorReads) {
  captured_lines out;
  // A right-to-left override makes "denied" render after the rest of the line; isolates,
  // marks and zero-width characters hide or reorder text the same way.
  info("domain evil\u202e.example.com\u202c denied \u2066x\u2069\u200e\u200f\u061c\u200b\ufeff\u2028 "
       "c1\u009b[31m é → ok");
  ASSERT_EQ(out.lines.size(), 1u);
  const auto& line = out.lines[0];
  for (const char* hidden : {"\u202e", "\u202c", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\u200b",
                             "\ufeff", "\u2028", "\u009b"}) {
    EXPECT_EQ(line.find(hidden), std::string::npos) << "raw U+" << hidden << " in " << line;
  }
  EXPECT_NE(line.find("evil\\u202e.example.com\\u202c denied \\u2066x\\u2069\\u200e\\u200f\\u061c\\u200b"
                      "\\ufeff\\u2028 c1\\u009b[31m"),
            std::string::npos)
      << line;
  // Ordinary non-ASCII text is kept as it is.
  EXPECT_NE(line.find(" \u00e9 \u2192 ok"), std::string::npos) << line;
  // A truncated sequence at the end is not misread.
  info("cut \xe2\x80");
  ASSERT_EQ(out.lines.size(), 2u);
  EXPECT_TRUE(out.lines[1].ends_with("cut \xe2\x80")) << out.lines[1];
}

TEST(Log, RateLimiterReportsTheFirstEventAtOnceThenOneSummaryPerInterval) {
  using namespace std::chrono_literals;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  rate_limiter limiter(1s, [&] { return now; });
  EXPECT_FALSE(limiter.due("refused"));
  const auto first = limiter.record("refused");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->events, 1u);
  EXPECT_EQ(first->span, 0ms);
  EXPECT_FALSE(limiter.due("refused"));

  // A burst within the interval is counted, not reported…
  for (int i = 0; i < 1000; ++i) {
    now += 100us;
    EXPECT_FALSE(limiter.record("refused")) << i;
  }
  EXPECT_EQ(limiter.due("refused"), std::chrono::steady_clock::time_point{} + 1h + 1s);
  EXPECT_FALSE(limiter.flush("refused"));  // not due yet
  // …other keys are independent…
  EXPECT_TRUE(limiter.record("accept"));
  // …and once the interval is over the waiting events come out as one summary.
  now = std::chrono::steady_clock::time_point{} + 1h + 1s;
  const auto summary = limiter.flush("refused");
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->events, 1000u);
  EXPECT_EQ(summary->span, 999ms);  // from the first waiting event (1h + 100us) to now, whole ms
  EXPECT_FALSE(limiter.flush("refused"));
  EXPECT_FALSE(limiter.due("refused"));

  // An event right after a summary waits for the next interval; one long after is due at once.
  now += 10ms;
  EXPECT_FALSE(limiter.record("refused"));
  now += 1s;
  const auto late = limiter.record("refused");
  ASSERT_TRUE(late);
  EXPECT_EQ(late->events, 2u);
  EXPECT_EQ(late->span, 1000ms);
  EXPECT_FALSE(limiter.flush("unknown key"));
}

TEST(Log, LevelsBelowTheMinimumAreDropped) {
  captured_lines out;
  set_min_level(level::warn);
  info("dropped");
  debug("dropped");
  error("kept");
  ASSERT_EQ(out.lines.size(), 1u);
  EXPECT_NE(out.lines[0].find("ERROR kept"), std::string::npos);
  level l{};
  EXPECT_TRUE(parse_level("debug", l));
  EXPECT_EQ(l, level::debug);
  EXPECT_FALSE(parse_level("verbose", l));
}

/// `line` parsed as one JSON object with exactly ts, level and msg, in that order.
boost::json::object json_object_of(const std::string& line) {
  boost::system::error_code ec;
  const auto value = boost::json::parse(line, ec);
  EXPECT_FALSE(ec) << ec.message() << ": " << line;
  if (ec || !value.is_object()) return {};
  const auto& o = value.as_object();
  std::vector<std::string> keys;
  for (const auto& [key, v] : o) keys.emplace_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"ts", "level", "msg"})) << line;
  return o;
}

TEST(Log, JsonLinesCarryTsLevelAndMsgOnly) {
  captured_lines out;
  set_format(format::json);
  warn("listening");
  ASSERT_EQ(out.lines.size(), 1u);
  const auto o = json_object_of(out.lines[0]);
  ASSERT_TRUE(o.contains("ts"));
  // RFC 3339, UTC, milliseconds.
  static const std::regex rfc3339("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z");
  const std::string ts(o.at("ts").as_string());
  EXPECT_TRUE(std::regex_match(ts, rfc3339)) << ts;
  EXPECT_EQ(o.at("level").as_string(), "warn");
  EXPECT_EQ(o.at("msg").as_string(), "listening");
  format f{};
  EXPECT_TRUE(parse_format("json", f));
  EXPECT_EQ(f, format::json);
  EXPECT_TRUE(parse_format("text", f));
  EXPECT_EQ(f, format::text);
  EXPECT_FALSE(parse_format("JSON lines", f));
}

TEST(Log, JsonLinesStayOneValidObjectWhateverTheMessageHolds) {
  captured_lines out;
  set_format(format::json);
  const std::string hostile = std::string("quote \" backslash \\ newline\n2026-01-01T00:00:00.000Z INFO  forged\r\t") +
                              std::string("nul\0esc\x1b[31m del\x7f", 17) + " rlo\u202e bom\ufeff c1\u009b" +
                              " bad \xff\xfe cut \xe2\x80";
  error(hostile);
  ASSERT_EQ(out.lines.size(), 1u);
  const auto& line = out.lines[0];
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\r'), std::string::npos) << line;
  for (const char* raw : {"\u202e", "\ufeff", "\u009b", "\x7f", "\x1b", "\xff"}) {
    EXPECT_EQ(line.find(raw), std::string::npos) << "raw bytes of " << raw << " in " << line;
  }
  const auto o = json_object_of(line);
  ASSERT_TRUE(o.contains("msg"));
  EXPECT_EQ(o.at("level").as_string(), "error");
  // What a log shipper reads back is the message, with U+FFFD for the bytes that were not
  // UTF-8, so the invisible characters are escaped in the raw line only.
  std::string expected = hostile;
  expected.replace(expected.find("\xff\xfe"), 2, "\uFFFD\uFFFD");
  expected.replace(expected.rfind("\xe2\x80"), 2, "\uFFFD\uFFFD");
  EXPECT_EQ(std::string(o.at("msg").as_string()), expected);
  EXPECT_NE(line.find("\\u202e"), std::string::npos) << line;
}

}  // namespace
}  // namespace vp::log
