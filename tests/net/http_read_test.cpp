// net/http_read.hpp without sockets: which statuses are interim, and the words every HTTP
// client of the proxy uses for a failed read.

#include "net/http_read.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include <string>

namespace vp::net {
namespace {

namespace http = boost::beast::http;

const read_wording wording{"response", "response timeout", std::chrono::milliseconds{250}, 1024};

read_failure describe(boost::system::error_code ec, std::optional<message_violation> violation = std::nullopt) {
  response_read read;
  read.ec = ec;
  return describe_read_failure(read, violation, wording);
}

TEST(InterimStatus, OnlyInformationalStatusesOtherThan101AreInterim) {
  EXPECT_TRUE(is_interim_status(100));
  EXPECT_TRUE(is_interim_status(103));
  EXPECT_TRUE(is_interim_status(199));
  EXPECT_FALSE(is_interim_status(101));  // the connection changes protocol: nothing follows
  EXPECT_FALSE(is_interim_status(99));
  EXPECT_FALSE(is_interim_status(200));
  EXPECT_FALSE(is_interim_status(0));
}

TEST(ReadFailure, KindsAndWords) {
  const auto timeout = describe(boost::beast::error::timeout);
  EXPECT_EQ(timeout.what, read_failure::kind::timeout);
  EXPECT_EQ(timeout.cause, "no complete response within the response timeout of 250 ms");

  const auto large = describe(http::error::body_limit);
  EXPECT_EQ(large.what, read_failure::kind::too_large);
  EXPECT_EQ(large.cause, "response body exceeds the limit of 1024 bytes");

  EXPECT_EQ(describe(http::error::end_of_stream).cause, "connection closed without a response");
  EXPECT_EQ(describe(http::error::partial_message).cause, "connection closed mid-message (truncated response)");
  EXPECT_EQ(describe(boost::asio::ssl::error::stream_truncated).cause,
            "connection closed mid-message without TLS close_notify (truncated response)");
  EXPECT_EQ(describe(http::error::header_limit).cause, "response header exceeds 65536 bytes");
  EXPECT_EQ(describe(http::error::bad_version).cause.rfind("malformed response: ", 0), 0u);
  for (auto ec : {http::error::end_of_stream, http::error::partial_message, http::error::header_limit}) {
    EXPECT_EQ(describe(ec).what, read_failure::kind::protocol);
  }
}

TEST(ReadFailure, TheParsersOwnReasonWinsOverTheBeastCode) {
  const auto f = describe(http::error::header_limit, message_violation{431, "trailer section too large"});
  EXPECT_EQ(f.what, read_failure::kind::protocol);
  EXPECT_EQ(f.cause, "malformed response: trailer section too large");
}

TEST(ReadFailure, TooManyInterimResponses) {
  response_read read;
  read.too_many_interim = true;
  ASSERT_TRUE(read.failed());
  const auto f = describe_read_failure(read, std::nullopt, wording);
  EXPECT_EQ(f.what, read_failure::kind::protocol);
  EXPECT_EQ(f.cause, "more than 8 interim responses");
}

}  // namespace
}  // namespace vp::net
