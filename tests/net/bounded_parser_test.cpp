// net::bounded_parser on the response side: the parser every response the proxy reads goes
// through (backend answers, attestation answers, the discovery list, collateral). Hostile
// trailer sections must be refused with an error code, never with an exception.

#include "net/bounded_parser.hpp"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <stdexcept>
#include <string>

namespace vp::net {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

/// A chunked 200 response with body "hello" and the given trailer lines (each "Name: value").
std::string chunked_response(const std::string& trailer_lines, const std::string& header_lines = "") {
  return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n" + header_lines + "\r\n5\r\nhello\r\n0\r\n" +
         trailer_lines + "\r\n";
}

/// Feeds `message` to `parser` as a peer would (in one buffer) until it is done or fails.
template <class Parser>
beast::error_code feed(Parser& parser, const std::string& message) {
  beast::error_code ec;
  std::size_t at = 0;
  while (!parser.is_done() && at < message.size()) {
    const std::size_t used = parser.put(boost::asio::buffer(message.data() + at, message.size() - at), ec);
    at += used;
    if (ec == http::error::need_more) ec = {};
    if (ec) break;
    if (used == 0) break;
  }
  return ec;
}

using string_parser = bounded_response_parser<http::string_body>;

TEST(BoundedResponseParser, PlainBeastParserThrowsOnAHugeTrailerValue) {
  // The behaviour bounded_parser exists for: Beast's own parser bounds the header section
  // but not the trailer section, and basic_fields::insert throws for a value over 64 KiB.
  http::response_parser<http::string_body> plain;
  plain.header_limit(max_header_bytes);
  EXPECT_THROW(feed(plain, chunked_response("X-Huge: " + std::string(70'000, 'x') + "\r\n")), std::length_error);
}

TEST(BoundedResponseParser, HugeTrailerValueIsRefusedWithoutThrowing) {
  string_parser parser;
  beast::error_code ec;
  EXPECT_NO_THROW(ec = feed(parser, chunked_response("X-Huge: " + std::string(70'000, 'x') + "\r\n")));
  EXPECT_EQ(ec, http::error::header_limit);
  ASSERT_TRUE(parser.violation());
  EXPECT_EQ(parser.violation()->status, 431u);
  EXPECT_EQ(parser.violation()->reason.find('x'), std::string::npos) << "no field bytes in the reason";
}

TEST(BoundedResponseParser, HugeTrailerNameIsRefusedWithoutThrowing) {
  string_parser parser;
  beast::error_code ec;
  EXPECT_NO_THROW(ec = feed(parser, chunked_response(std::string(70'000, 'n') + ": v\r\n")));
  EXPECT_TRUE(ec);
  EXPECT_FALSE(parser.is_done());
}

TEST(BoundedResponseParser, TrailerSectionOverTheLimitInManySmallFieldsIsRefused) {
  std::string trailer;
  for (int i = 0; trailer.size() <= max_header_bytes + 1024; ++i) {
    trailer += "X-T-" + std::to_string(i) + ": " + std::string(40, 'v') + "\r\n";
  }
  string_parser parser;
  beast::error_code ec;
  EXPECT_NO_THROW(ec = feed(parser, chunked_response(trailer)));
  EXPECT_EQ(ec, http::error::header_limit);
  ASSERT_TRUE(parser.violation());
  EXPECT_EQ(parser.violation()->status, 431u);
}

TEST(BoundedResponseParser, FramingAndCredentialFieldsInATrailerAreRefused) {
  for (const char* field : {"Content-Length: 5", "Transfer-Encoding: chunked", "Host: evil.example",
                            "Authorization: Bearer x", "Connection: close", "X-Backend-Domain: evil.example"}) {
    string_parser parser;
    beast::error_code ec;
    EXPECT_NO_THROW(ec = feed(parser, chunked_response(std::string(field) + "\r\n"))) << field;
    // Beast refuses framing fields in a trailer itself; bounded_parser refuses the rest.
    EXPECT_TRUE(ec) << field;
    EXPECT_FALSE(parser.is_done()) << field;
    if (parser.violation()) {
      EXPECT_EQ(parser.violation()->status, 400u) << field;
    }
  }
  for (const char* field : {"Host: evil.example", "Authorization: Bearer x", "X-Backend-Domain: evil.example"}) {
    string_parser parser;
    EXPECT_EQ(feed(parser, chunked_response(std::string(field) + "\r\n")), http::error::bad_field) << field;
    ASSERT_TRUE(parser.violation()) << field;
    EXPECT_EQ(parser.violation()->status, 400u) << field;
  }
}

TEST(BoundedResponseParser, OrdinaryTrailersAreAcceptedAndNotMergedIntoTheHeader) {
  string_parser parser;
  const auto ec = feed(parser, chunked_response("X-Checksum: abc\r\nServer-Timing: total;dur=12\r\n",
                                                "X-Header: kept\r\n"));
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.is_done());
  EXPECT_FALSE(parser.violation());
  const auto& m = parser.get();
  EXPECT_EQ(m.body(), "hello");
  EXPECT_EQ(m["X-Header"], "kept");
  EXPECT_EQ(m.count("X-Checksum"), 0u);
  EXPECT_EQ(m.count("Server-Timing"), 0u);
}

TEST(BoundedResponseParser, HeaderFieldOverTheValueLimitIsRefusedWithoutThrowing) {
  const std::string message = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(max_field_value_bytes + 1, 'b') +
                              "\r\nContent-Length: 0\r\n\r\n";
  string_parser parser;
  beast::error_code ec;
  EXPECT_NO_THROW(ec = feed(parser, message));
  EXPECT_EQ(ec, http::error::header_limit);
  ASSERT_TRUE(parser.violation());
  EXPECT_EQ(parser.violation()->status, 431u);
}

TEST(BoundedResponseParser, HeaderFieldJustUnderTheValueLimitIsAccepted) {
  const std::string message = "HTTP/1.1 200 OK\r\nX-Big: " + std::string(max_field_value_bytes, 'b') +
                              "\r\nContent-Length: 0\r\n\r\n";
  string_parser parser;
  const auto ec = feed(parser, message);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(parser.get()["X-Big"].size(), max_field_value_bytes);
}

}  // namespace
}  // namespace vp::net
