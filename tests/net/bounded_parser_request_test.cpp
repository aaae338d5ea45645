// The request side of net::bounded_parser, fed byte strings directly (no sockets).

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

#include "net/bounded_parser.hpp"

namespace vp::net {
namespace {

namespace http = boost::beast::http;

struct parsed {
  boost::beast::error_code ec;
  std::optional<message_violation> violation;
  bool done = false;
  std::string body;
};

/// Feeds `bytes` in pieces of `step` bytes, as reads from a socket would.
parsed parse_request(const std::string& bytes, std::size_t step = 7) {
  bounded_request_parser<http::string_body> parser;
  parser.eager(true);
  std::string pending;
  parsed out;
  for (std::size_t at = 0; at < bytes.size() && !out.ec && !parser.is_done(); at += step) {
    pending += bytes.substr(at, step);
    const auto used = parser.put(boost::asio::buffer(pending), out.ec);
    pending.erase(0, used);
    if (out.ec == http::error::need_more) out.ec = {};
  }
  out.violation = parser.violation();
  out.done = parser.is_done();
  if (out.done) out.body = parser.get().body();
  return out;
}

const std::string chunked = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

TEST(BoundedRequestParser, PlainBeastParserThrowsOnAHugeTrailerFieldAndThisOneDoesNot) {
  const std::string bytes = chunked + "0\r\nX-Big: " + std::string(70'000, 'v') + "\r\n\r\n";
  http::request_parser<http::string_body> plain;
  plain.eager(true);
  boost::beast::error_code ec;
  EXPECT_THROW(plain.put(boost::asio::buffer(bytes), ec), std::length_error);  // what used to end the process

  const auto r = parse_request(bytes, bytes.size());
  EXPECT_EQ(r.ec, http::error::header_limit);
  ASSERT_TRUE(r.violation);
  EXPECT_EQ(r.violation->status, 431u);
}

TEST(BoundedRequestParser, TrailerFieldsAreScreenedAndNeverMerged) {
  const auto ok = parse_request(chunked + "2\r\nab\r\n0\r\nX-Sum: 1\r\n\r\n");
  EXPECT_FALSE(ok.ec) << ok.ec.message();
  EXPECT_TRUE(ok.done);
  EXPECT_EQ(ok.body, "ab");
  // Beast itself refuses framing fields after a chunked header; the rest are ours.
  for (const char* name : {"Content-Length", "Transfer-Encoding"}) {
    EXPECT_TRUE(parse_request(chunked + "0\r\n" + name + ": 1\r\n\r\n").ec) << name;
  }
  for (const char* name : {"Host", "Authorization", "X-Backend-Domain", "Connection", "Trailer"}) {
    const auto r = parse_request(chunked + "0\r\n" + name + ": x\r\n\r\n");
    EXPECT_EQ(r.ec, http::error::bad_field) << name;
    ASSERT_TRUE(r.violation) << name;
    EXPECT_EQ(r.violation->status, 400u);
  }
  std::string many;
  while (many.size() <= max_header_bytes) many += "X-F: " + std::string(100, 'v') + "\r\n";
  EXPECT_EQ(parse_request(chunked + "0\r\n" + many + "\r\n", 4096).violation->status, 431u);
}

TEST(BoundedRequestParser, HeaderFieldOverItsLimitIs431WithoutThrowing) {
  const auto r = parse_request("GET / HTTP/1.1\r\nHost: h\r\nX-A: " + std::string(max_field_value_bytes + 1, 'a') +
                               "\r\n\r\n");
  EXPECT_EQ(r.ec, http::error::header_limit);
  EXPECT_EQ(r.violation->status, 431u);
  EXPECT_FALSE(parse_request("GET / HTTP/1.1\r\nHost: h\r\nX-A: " + std::string(max_field_value_bytes, 'a') +
                             "\r\n\r\n")
                   .ec);
}

TEST(BoundedRequestParser, TransferCodingRulesOfRfc9112) {
  struct row {
    std::string fields;
    unsigned status;  // 0: accepted
  };
  for (const auto& [fields, status] : std::vector<row>{
           {"Transfer-Encoding: chunked\r\n", 0},
           {"Transfer-Encoding: CHUNKED\r\n", 0},
           {"Transfer-Encoding: , chunked ,\r\n", 0},
           {"Transfer-Encoding: chunked, identity\r\n", 400},
           {"Transfer-Encoding: identity\r\n", 400},
           {"Transfer-Encoding: chunked, chunked\r\n", 400},
           {"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", 400},
           {"Transfer-Encoding: gzip, chunked\r\n", 501},
           {"Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", 501},
           {"Transfer-Encoding: chunked;q=1\r\n", 400},
           {"Transfer-Encoding: \r\n", 400},
       }) {
    const auto r = parse_request("POST / HTTP/1.1\r\nHost: h\r\n" + fields + "\r\n0\r\n\r\n");
    if (status == 0) {
      EXPECT_FALSE(r.ec) << fields << r.ec.message();
      EXPECT_TRUE(r.done) << fields;
    } else if (!r.violation && status == 400) {
      EXPECT_EQ(r.ec, http::error::bad_transfer_encoding) << fields;  // Beast's own refusal: also a 400
    } else {
      EXPECT_TRUE(r.ec) << fields;
      ASSERT_TRUE(r.violation) << fields << " " << r.ec.message();
      EXPECT_EQ(r.violation->status, status) << fields;
    }
  }
  EXPECT_EQ(parse_request("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").violation->status, 400u);
}

TEST(BoundedRequestParser, HostAndMethodRules) {
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\n\r\n").violation->status, 400u);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").violation->status, 400u);
  EXPECT_FALSE(parse_request("GET / HTTP/1.0\r\n\r\n").ec);  // HTTP/1.0 needs no Host
  EXPECT_EQ(parse_request(std::string(max_method_bytes + 1, 'M') + " / HTTP/1.1\r\nHost: h\r\n\r\n").violation->status,
            400u);
  EXPECT_FALSE(parse_request(std::string(max_method_bytes, 'M') + " / HTTP/1.1\r\nHost: h\r\n\r\n").ec);
}

}  // namespace
}  // namespace vp::net
