#include "core/log.hpp"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace vp::log
