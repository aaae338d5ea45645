// upstream_pool's reuse rules on real loopback TLS connections (test_http_server): a
// connection is pooled and handed out only while nothing but its own answers ever
// arrived on it.

#include "server/upstream_pool.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/ssl.h>
#include <poll.h>

#include <optional>
#include <string>

#include "support/run_bounded.hpp"
#include "support/test_http_server.hpp"

namespace vp::server {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr auto loop_limit = 10s;
constexpr const char* domain = "localhost";

/// A TLS server whose answers are followed by `trailing` (after `delay`).
test::test_http_server server_sending(std::string trailing, std::chrono::milliseconds delay = 0ms) {
  test::test_http_server_options o;
  o.tls = true;
  return test::test_http_server(
      [trailing, delay](const test::http_request_record& r) {
        test::scripted_response out;
        out.body = "answer to " + r.target;
        out.trailing_bytes = trailing;
        out.trailing_delay = delay;
        return out;
      },
      o);
}

/// Connects (no WebPKI: the pool knows nothing of certificates) and makes one GET; the
/// body of the answer, or nullopt.
asio::awaitable<std::optional<std::string>> get(upstream::upstream_connection& conn, std::string target) {
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, conn.host_header());
  if (auto [ec, n] = co_await http::async_write(conn.stream(), request, asio::as_tuple(asio::use_awaitable)); ec) {
    co_return std::nullopt;
  }
  http::response<http::string_body> response;
  auto [ec, n] = co_await http::async_read(conn.stream(), conn.buffer(), response, asio::as_tuple(asio::use_awaitable));
  if (ec) co_return std::nullopt;
  co_return response.body();
}

asio::awaitable<std::optional<upstream::upstream_connection>> connect(asio::io_context& ioc,
                                                                      const test::test_http_server& server) {
  static const upstream::tls_client_context tls(upstream::tls_client_options{false, {}});
  upstream::connect_options o;
  o.connect_to = upstream::dial_address{"127.0.0.1", server.port()};
  auto conn = co_await upstream::connect_upstream(ioc.get_executor(), tls, domain, 443, o);
  if (!conn) co_return std::nullopt;
  co_return std::move(*conn);
}

const auto always_fresh = [](const sha256_digest&) { return true; };

int descriptor_of(upstream::upstream_connection& conn) {
  return boost::beast::get_lowest_layer(conn.stream()).socket().native_handle();
}

/// True once bytes are readable on socket `fd` (polled with a generous deadline).
bool readable_eventually(int fd) {
  return test::eventually([fd] {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;
  });
}

/// Connects to `server`, makes one GET (/one) and runs `then(connection)`, a coroutine
/// returning whether it got as far as it should.
template <class Then>
void after_one_exchange(asio::io_context& ioc, const test::test_http_server& server, Then then) {
  ioc.restart();
  auto work = [&]() -> asio::awaitable<bool> {
    auto conn = co_await connect(ioc, server);
    if (!conn || co_await get(*conn, "/one") != "answer to /one") co_return false;
    co_return co_await then(*conn);
  };
  EXPECT_EQ(test::run_bounded(ioc, loop_limit, work()), std::optional<bool>(true));
}

class UpstreamPool : public ::testing::Test {
 protected:
  asio::io_context ioc;          // outlives the pool's connections
  upstream_pool pool{4, 60s};
};

TEST_F(UpstreamPool, CleanConnectionIsPooledAndHandedOutAgain) {
  auto server = server_sending("");
  after_one_exchange(ioc, server, [&](upstream::upstream_connection& conn) -> asio::awaitable<bool> {
    EXPECT_FALSE(conn.reuse_hazard());
    pool.put(std::move(conn));
    EXPECT_EQ(pool.idle_count(), 1u);
    auto again = pool.take(domain, always_fresh);
    if (!again) co_return false;
    co_return co_await get(*again, "/two") == "answer to /two";
  });
  EXPECT_EQ(server.connection_count(), 1u);
}

TEST_F(UpstreamPool, SessionTicketsAfterTheHandshakeAreConsumedNotTakenForAnAnswer) {
  // A connection admitted by a cached verdict whose client left before the request was
  // written has read nothing since the handshake: the TLS 1.3 server's NewSessionTicket
  // messages wait on its socket. They are TLS's, not an answer nobody asked for.
  auto server = server_sending("");
  ioc.restart();
  auto work = [&]() -> asio::awaitable<bool> {
    auto conn = co_await connect(ioc, server);
    if (!conn) co_return false;
    SSL* ssl = conn->stream().native_handle();
    EXPECT_EQ(::SSL_version(ssl), TLS1_3_VERSION);
    EXPECT_TRUE(readable_eventually(descriptor_of(*conn))) << "the server sends its tickets after the handshake";
    EXPECT_EQ(::SSL_SESSION_has_ticket(::SSL_get_session(ssl)), 0) << "not read yet";
    EXPECT_EQ(conn->reuse_hazard(), std::nullopt);
    // What was readable were the tickets: OpenSSL read them into the session.
    EXPECT_EQ(::SSL_SESSION_has_ticket(::SSL_get_session(ssl)), 1);
    pool.put(std::move(*conn));
    EXPECT_EQ(pool.idle_count(), 1u);
    auto again = pool.take(domain, always_fresh);
    if (!again) co_return false;
    co_return co_await get(*again, "/after-tickets") == "answer to /after-tickets";
  };
  EXPECT_EQ(test::run_bounded(ioc, loop_limit, work()), std::optional<bool>(true));
  EXPECT_EQ(server.connection_count(), 1u);
}

TEST_F(UpstreamPool, BytesAfterTheResponseKeepTheConnectionOutOfThePool) {
  auto server = server_sending("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED");
  after_one_exchange(ioc, server, [&](upstream::upstream_connection& conn) -> asio::awaitable<bool> {
    const auto hazard = conn.reuse_hazard();
    EXPECT_TRUE(hazard);
    EXPECT_EQ(hazard.value_or("").find("INJECTED"), std::string::npos) << "no content in the reason";
    pool.put(std::move(conn));
    co_return true;
  });
  EXPECT_EQ(pool.idle_count(), 0u);
}

TEST_F(UpstreamPool, BytesArrivingWhileIdleAreCaughtWhenTheConnectionIsTaken) {
  auto server = server_sending("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED", 50ms);
  after_one_exchange(ioc, server, [&](upstream::upstream_connection& conn) -> asio::awaitable<bool> {
    const int fd = descriptor_of(conn);
    pool.put(std::move(conn));
    EXPECT_EQ(pool.idle_count(), 1u) << "clean when it was returned";
    // The server speaks up while the connection sits in the pool.
    EXPECT_TRUE(readable_eventually(fd));
    EXPECT_FALSE(pool.take(domain, always_fresh));
    co_return true;
  });
  EXPECT_EQ(pool.idle_count(), 0u);
}

TEST_F(UpstreamPool, NotReusableOrNoLongerFreshConnectionsAreNotHandedOut) {
  auto server = server_sending("");
  after_one_exchange(ioc, server, [&](upstream::upstream_connection& conn) -> asio::awaitable<bool> {
    conn.mark_not_reusable();
    pool.put(std::move(conn));
    co_return pool.idle_count() == 0;
  });
  after_one_exchange(ioc, server, [&](upstream::upstream_connection& conn) -> asio::awaitable<bool> {
    pool.put(std::move(conn));
    EXPECT_EQ(pool.idle_count(), 1u);
    co_return !pool.take(domain, [](const sha256_digest&) { return false; });
  });
  EXPECT_EQ(pool.idle_count(), 0u);
}

}  // namespace
}  // namespace vp::server
