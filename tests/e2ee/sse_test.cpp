#include "e2ee/sse.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace vp::e2ee {
namespace {

struct split {
  std::vector<std::string> events;
  std::string pending;
};

/// Feeds `stream` in pieces of `piece` bytes, taking events after every feed.
split read_all(std::string_view stream, std::size_t piece) {
  sse_event_reader reader;
  split out;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    EXPECT_TRUE(reader.feed(stream.substr(at, piece)));
    while (auto e = reader.next()) out.events.push_back(std::move(*e));
  }
  out.pending = std::string(reader.pending());
  return out;
}

std::string joined(const split& s) {
  std::string all;
  for (const auto& e : s.events) all += e;
  return all + s.pending;
}

constexpr std::string_view mixed_stream =
    "data: {\"a\":1}\n\n"
    ": keep-alive comment\r\n\r\n"
    "event: error\r\ndata: {\"error\":\"x\"}\r\n\r\n"
    "data: one\rdata: two\r\r"
    "data: first\ndata:second\n\n"
    "data: [DONE]\n\n"
    "data: partial";

TEST(E2eeSseReader, SplitsLfCrlfAndCrStreamsByteExact) {
  const split s = read_all(mixed_stream, mixed_stream.size());
  ASSERT_EQ(s.events.size(), 6u);
  EXPECT_EQ(s.events[0], "data: {\"a\":1}\n\n");
  EXPECT_EQ(s.events[1], ": keep-alive comment\r\n\r\n");
  EXPECT_EQ(s.events[2], "event: error\r\ndata: {\"error\":\"x\"}\r\n\r\n");
  EXPECT_EQ(s.events[3], "data: one\rdata: two\r\r");
  EXPECT_EQ(s.events[4], "data: first\ndata:second\n\n");
  EXPECT_EQ(s.events[5], "data: [DONE]\n\n");
  EXPECT_EQ(s.pending, "data: partial");
  EXPECT_EQ(joined(s), mixed_stream);
}

TEST(E2eeSseReader, PieceSizesDoNotChangeTheEvents) {
  const split whole = read_all(mixed_stream, mixed_stream.size());
  for (const std::size_t piece : {1u, 2u, 3u, 7u, 16u}) {
    const split pieces = read_all(mixed_stream, piece);
    EXPECT_EQ(pieces.events, whole.events) << "piece " << piece;
    EXPECT_EQ(pieces.pending, whole.pending) << "piece " << piece;
  }
}

TEST(E2eeSseReader, ABlankLineEndingInCrWaitsForTheNextByte) {
  sse_event_reader reader;
  ASSERT_TRUE(reader.feed("data: a\r\n\r"));
  // The CR may be the first half of a CRLF: the event is not complete yet.
  EXPECT_FALSE(reader.next());
  EXPECT_EQ(reader.pending(), "data: a\r\n\r");
  ASSERT_TRUE(reader.feed("\n"));
  EXPECT_EQ(reader.next(), "data: a\r\n\r\n");
  EXPECT_EQ(reader.pending(), "");

  ASSERT_TRUE(reader.feed("data: b\r\r"));
  EXPECT_FALSE(reader.next());
  ASSERT_TRUE(reader.feed("d"));
  EXPECT_EQ(reader.next(), "data: b\r\r");
  EXPECT_EQ(reader.pending(), "d");
}

TEST(E2eeSseReader, BoundsTheIncompleteEventOnly) {
  sse_event_reader reader(16);
  // Complete events larger in total than the bound are fine.
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(reader.feed("data: 0123\n\n"));
  int events = 0;
  while (reader.next()) ++events;
  EXPECT_EQ(events, 8);
  ASSERT_TRUE(reader.feed("data: 012345678"));  // 15 bytes pending
  ASSERT_TRUE(reader.feed("9"));               // 16: at the bound
  EXPECT_FALSE(reader.feed("a"));              // 17: over it
  EXPECT_FALSE(reader.feed("\n\n"));           // and nothing more is accepted
  EXPECT_FALSE(reader.next());

  sse_event_reader one_feed(16);
  EXPECT_FALSE(one_feed.feed("data: 0123\n\ndata: 0123456789abcdef"));
  EXPECT_EQ(one_feed.next(), "data: 0123\n\n");  // what was complete still comes out
}

TEST(E2eeSseReader, LongStreamsCompactAndStayInOrder) {
  sse_event_reader reader(64);
  std::string expected_last;
  int seen = 0;
  for (int i = 0; i < 20000; ++i) {
    const std::string event = "data: " + std::to_string(i) + "\n\n";
    // Split each event in two to keep a partial event across compaction.
    ASSERT_TRUE(reader.feed(std::string_view(event).substr(0, 3)));
    ASSERT_TRUE(reader.feed(std::string_view(event).substr(3)));
    if (i % 3 == 0) {
      while (auto e = reader.next()) {
        EXPECT_EQ(*e, "data: " + std::to_string(seen) + "\n\n");
        ++seen;
      }
    }
  }
  while (auto e = reader.next()) {
    EXPECT_EQ(*e, "data: " + std::to_string(seen) + "\n\n");
    ++seen;
  }
  EXPECT_EQ(seen, 20000);
  EXPECT_EQ(reader.pending(), "");
}

TEST(E2eeSseReader, LeadingBlankLineIsAnEmptyEvent) {
  const split s = read_all("\ndata: x\n\n", 1);
  ASSERT_EQ(s.events.size(), 2u);
  EXPECT_EQ(s.events[0], "\n");
  EXPECT_FALSE(parse_sse_event(s.events[0]).data);
  EXPECT_EQ(parse_sse_event(s.events[1]).data, "x");
}

TEST(E2eeSseParse, FollowsTheWhatwgFieldRules) {
  EXPECT_EQ(parse_sse_event("data: {\"a\":1}\n\n").data, "{\"a\":1}");
  EXPECT_EQ(parse_sse_event("data:no-space\n\n").data, "no-space");
  EXPECT_EQ(parse_sse_event("data:  two spaces\n\n").data, " two spaces");  // only one is dropped
  EXPECT_EQ(parse_sse_event("data: a\ndata: b\r\ndata:c\rdata\n\n").data, "a\nb\nc\n");
  EXPECT_EQ(parse_sse_event("data\n\n").data, "");  // a field without ':' has an empty value
  EXPECT_EQ(parse_sse_event("data:\n\n").data, "");
  EXPECT_EQ(parse_sse_event("data: x:y: z\n\n").data, "x:y: z");

  const sse_event comment = parse_sse_event(": ping\n\n");
  EXPECT_FALSE(comment.data);
  EXPECT_EQ(comment.type, "");
  EXPECT_EQ(parse_sse_event(":data: not data\ndata: real\n\n").data, "real");

  const sse_event error = parse_sse_event("event: error\ndata: {\"error\":{}}\n\n");
  EXPECT_EQ(error.type, "error");
  EXPECT_EQ(error.data, "{\"error\":{}}");
  EXPECT_EQ(parse_sse_event("event:first\nevent: second\n\n").type, "second");
  EXPECT_FALSE(parse_sse_event("id: 7\nretry: 100\n\n").data);
  EXPECT_FALSE(parse_sse_event("Data: case matters\n\n").data);
  EXPECT_EQ(parse_sse_event("data: no terminator").data, "no terminator");
  EXPECT_FALSE(parse_sse_event("").data);
}

}  // namespace
}  // namespace vp::e2ee
