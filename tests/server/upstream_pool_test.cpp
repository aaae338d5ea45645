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

#include <boost/asio/co_spawn.hpp>

#include <atomic>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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

/// The connections of this file's tests (no WebPKI: the pool knows nothing of certificates).
const upstream::tls_client_context& test_tls() {
  static const upstream::tls_client_context tls(upstream::tls_client_options{false, {}});
  return tls;
}

/// Runs `work` on `ioc` until it finished (at most loop_limit), unlike run_bounded not
/// until the io_context runs out of work: a pool's expiry timer is work for a minute.
asio::awaitable<void> store_result(asio::awaitable<bool> work, std::optional<bool>& slot, bool& done) {
  slot.emplace(co_await std::move(work));
  done = true;
}

std::optional<bool> run_until_done(asio::io_context& ioc, asio::awaitable<bool> work) {
  std::optional<bool> out;
  bool done = false;
  std::exception_ptr failure;
  ioc.restart();
  asio::co_spawn(ioc, store_result(std::move(work), out, done), [&](std::exception_ptr e) {
    failure = e;
    done = true;
  });
  const auto until = std::chrono::steady_clock::now() + loop_limit;
  while (!done && std::chrono::steady_clock::now() < until) ioc.run_one_until(until);
  if (failure) std::rethrow_exception(failure);
  return out;
}

asio::awaitable<std::optional<upstream::upstream_connection>> connect(
    asio::io_context& ioc, const test::test_http_server& server, const upstream::tls_client_context& tls = test_tls()) {
  upstream::connect_options o;
  o.connect_to = upstream::dial_address{"127.0.0.1", server.port()};
  auto conn = co_await upstream::connect_upstream(ioc.get_executor(), tls, domain, 443, o);
  if (!conn) co_return std::nullopt;
  co_return std::move(*conn);
}

const auto always_fresh = [](const upstream::upstream_connection&) { return true; };

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
  auto work = [&]() -> asio::awaitable<bool> {
    auto conn = co_await connect(ioc, server);
    if (!conn || co_await get(*conn, "/one") != "answer to /one") co_return false;
    co_return co_await then(*conn);
  };
  EXPECT_EQ(run_until_done(ioc, work()), std::optional<bool>(true));
}

std::size_t open_test_connections() { return test_tls().open_connections(); }

class UpstreamPool : public ::testing::Test {
 protected:
  asio::io_context ioc;          // outlives the pool's connections
  upstream_pool pool{ioc.get_executor(), {4, 60s}, open_test_connections};
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
  EXPECT_EQ(run_until_done(ioc, work()), std::optional<bool>(true));
  EXPECT_EQ(server.connection_count(), 1u);
}

TEST_F(UpstreamPool, BytesAfterTheResponseKeepTheConnectionFromAnotherRequest) {
  auto server = server_sending("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED");
  after_one_exchange(ioc, server, [&](upstream::upstream_connection& conn) -> asio::awaitable<bool> {
    const auto hazard = conn.reuse_hazard();
    EXPECT_TRUE(hazard);
    EXPECT_EQ(hazard.value_or("").find("INJECTED"), std::string::npos) << "no content in the reason";
    pool.put(std::move(conn));
    EXPECT_FALSE(pool.take(domain, always_fresh)) << "handed out with another response waiting on it";
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
    co_return !pool.take(domain, [](const upstream::upstream_connection&) { return false; });
  });
  EXPECT_EQ(pool.idle_count(), 0u);
}

// ---------------------------------------------------------------------------------------
// Sized to the load, evicted by idle time

/// `n` connections to `server` open at once, each after one exchange (nullopt: one failed).
asio::awaitable<std::optional<std::vector<upstream::upstream_connection>>> open_connections(
    asio::io_context& ioc, const test::test_http_server& server, std::size_t n) {
  std::vector<upstream::upstream_connection> out;
  for (std::size_t i = 0; i < n; ++i) {
    auto conn = co_await connect(ioc, server);
    if (!conn || co_await get(*conn, "/one") != "answer to /one") co_return std::nullopt;
    out.push_back(std::move(*conn));
  }
  co_return out;
}

TEST(UpstreamPoolSizing, EveryConnectionOfAsManyConcurrentRequestsAsTheBoundIsKept) {
  constexpr std::size_t bound = 24;  // more than a per-domain cap of old would keep of one domain
  asio::io_context ioc;
  upstream_pool pool(ioc.get_executor(), {bound, 60s}, open_test_connections);
  auto server = server_sending("");
  auto work = [&]() -> asio::awaitable<bool> {
    auto conns = co_await open_connections(ioc, server, bound);
    if (!conns) co_return false;
    // The requests end; every connection goes back, none is evicted.
    for (auto& c : *conns) pool.put(std::move(c));
    EXPECT_EQ(pool.idle_count(), bound);
    // The next wave of as many requests finds a connection each: no new handshake.
    std::vector<upstream::upstream_connection> taken;
    for (std::size_t i = 0; i < bound; ++i) {
      auto c = pool.take(domain, always_fresh);
      if (!c || co_await get(*c, "/again") != "answer to /again") co_return false;
      taken.push_back(std::move(*c));
    }
    co_return true;
  };
  EXPECT_EQ(run_until_done(ioc, work()), std::optional<bool>(true));
  EXPECT_EQ(server.connection_count(), bound);
}

TEST(UpstreamPoolSizing, OpenConnectionsInUseAndIdleStayWithinTheBound) {
  constexpr std::size_t bound = 4;
  asio::io_context ioc;
  upstream_pool pool(ioc.get_executor(), {bound, 60s}, open_test_connections);
  auto server = server_sending("");
  auto work = [&]() -> asio::awaitable<bool> {
    auto conns = co_await open_connections(ioc, server, bound + 2);
    if (!conns) co_return false;
    EXPECT_EQ(open_test_connections(), bound + 2) << "in use: the pool never refuses a connection being made";
    // Returned while the others are still in use: the first two would take the open
    // connections beyond the bound and are closed.
    for (auto& c : *conns) pool.put(std::move(c));
    conns->clear();
    EXPECT_EQ(pool.idle_count(), bound);
    EXPECT_EQ(open_test_connections(), bound);
    // A new connection about to be made takes the place of the oldest idle one.
    pool.make_room_for_one();
    EXPECT_EQ(pool.idle_count(), bound - 1);
    EXPECT_EQ(open_test_connections(), bound - 1);
    // Two connections in use of a bound of 4 leave room for two idle ones.
    auto busy = co_await open_connections(ioc, server, 2);
    if (!busy) co_return false;
    EXPECT_EQ(open_test_connections(), bound + 1) << "3 idle + 2 new";
    auto more = co_await open_connections(ioc, server, 1);
    if (!more) co_return false;
    pool.put(std::move(more->front()));
    more->clear();
    EXPECT_EQ(open_test_connections(), bound) << "returning one more closed two idle ones";
    EXPECT_EQ(pool.idle_count(), 2u);
    co_return true;
  };
  EXPECT_EQ(run_until_done(ioc, work()), std::optional<bool>(true));
}

TEST(UpstreamPoolSizing, ConnectionsGoingBackAndForthKeepTheirKeysAndOrder) {
  // Each request takes a connection and returns it: the entries taken are reused for the
  // returns, a key emptied by a take is found again, and the most recent comes out first.
  asio::io_context ioc;
  upstream_pool pool(ioc.get_executor(), {4, 60s}, open_test_connections);
  auto server = server_sending("");
  auto work = [&]() -> asio::awaitable<bool> {
    auto conns = co_await open_connections(ioc, server, 3);
    if (!conns) co_return false;
    const int a = descriptor_of((*conns)[0]);
    const int b = descriptor_of((*conns)[1]);
    const int c = descriptor_of((*conns)[2]);
    pool.put(std::move((*conns)[0]), "model-a");
    pool.put(std::move((*conns)[1]), "model-b");
    pool.put(std::move((*conns)[2]), "model-a");
    for (int round = 0; round < 3; ++round) {
      auto first = pool.take("model-a", always_fresh);
      auto second = pool.take("model-a", always_fresh);
      EXPECT_FALSE(pool.take("model-a", always_fresh)) << "model-a has two";
      auto other = pool.take("model-b", always_fresh);
      if (!first || !second || !other) co_return false;
      EXPECT_EQ(descriptor_of(*first), round % 2 == 0 ? c : a);
      EXPECT_EQ(descriptor_of(*second), round % 2 == 0 ? a : c);
      EXPECT_EQ(descriptor_of(*other), b);
      EXPECT_EQ(pool.idle_count(), 0u);
      if (co_await get(*first, "/r") != "answer to /r" || co_await get(*other, "/r") != "answer to /r") co_return false;
      pool.put(std::move(*other), "model-b");
      pool.put(std::move(*first), "model-a");
      pool.put(std::move(*second), "model-a");
      EXPECT_EQ(pool.idle_count(), 3u);
    }
    EXPECT_FALSE(pool.take("model-c", always_fresh));
    co_return true;
  };
  EXPECT_EQ(run_until_done(ioc, work()), std::optional<bool>(true));
  EXPECT_EQ(server.connection_count(), 3u);
}

TEST(UpstreamPoolSizing, ContextsSharingAGroupCountEachOthersConnections) {
  // One TLS context per thread, one bound for the process: each context counts its own
  // connections, the group all of them.
  auto group = std::make_shared<std::atomic<std::size_t>>(0);
  const upstream::tls_client_context first(upstream::tls_client_options{false, {}}, group);
  const upstream::tls_client_context second(upstream::tls_client_options{false, {}}, group);
  const upstream::tls_client_context alone(upstream::tls_client_options{false, {}});
  asio::io_context ioc;
  auto server = server_sending("");
  auto work = [&]() -> asio::awaitable<bool> {
    auto one = co_await connect(ioc, server, first);
    auto two = co_await connect(ioc, server, second);
    auto three = co_await connect(ioc, server, second);
    auto other = co_await connect(ioc, server, alone);
    if (!one || !two || !three || !other) co_return false;
    EXPECT_EQ(first.open_connections(), 1u);
    EXPECT_EQ(second.open_connections(), 2u);
    EXPECT_EQ(first.open_in_group(), 3u);
    EXPECT_EQ(second.open_in_group(), 3u);
    EXPECT_EQ(alone.open_in_group(), 1u) << "without a group: its own";
    two.reset();
    EXPECT_EQ(first.open_in_group(), 2u);
    one.reset();
    three.reset();
    EXPECT_EQ(group->load(), 0u);
    co_return true;
  };
  EXPECT_EQ(run_until_done(ioc, work()), std::optional<bool>(true));
}

TEST(UpstreamPoolSizing, ABoundOfZeroPoolsNothing) {
  asio::io_context ioc;
  upstream_pool pool(ioc.get_executor(), {0, 60s}, open_test_connections);
  auto server = server_sending("");
  after_one_exchange(ioc, server, [&](upstream::upstream_connection& conn) -> asio::awaitable<bool> {
    pool.put(std::move(conn));
    co_return pool.idle_count() == 0;
  });
}

/// Runs `ioc` until `pool` holds no idle connection (at most loop_limit); true if it came to that.
bool drained_by_the_timer(asio::io_context& ioc, const upstream_pool& pool) {
  ioc.restart();
  const auto until = std::chrono::steady_clock::now() + loop_limit;
  while (pool.idle_count() != 0 && std::chrono::steady_clock::now() < until) ioc.run_one_until(until);
  return pool.idle_count() == 0;
}

TEST(UpstreamPoolSizing, IdleConnectionsAreClosedByTheTimerWithoutAnyTakeOrPut) {
  asio::io_context ioc;
  upstream_pool pool(ioc.get_executor(), {8, 100ms}, open_test_connections);
  auto server = server_sending("");
  auto work = [&]() -> asio::awaitable<bool> {
    auto conns = co_await open_connections(ioc, server, 3);
    if (!conns) co_return false;
    for (auto& c : *conns) pool.put(std::move(c));
    co_return pool.idle_count() == 3;
  };
  ASSERT_EQ(run_until_done(ioc, work()), std::optional<bool>(true));
  // Nothing but the io_context running: the expiry timer closes them.
  EXPECT_TRUE(drained_by_the_timer(ioc, pool));
  EXPECT_EQ(open_test_connections(), 0u) << "closed, not only forgotten";
  // A connection returned later arms the timer again.
  after_one_exchange(ioc, server, [&](upstream::upstream_connection& conn) -> asio::awaitable<bool> {
    pool.put(std::move(conn));
    co_return pool.idle_count() == 1;
  });
  EXPECT_TRUE(drained_by_the_timer(ioc, pool));
}

TEST(UpstreamPoolSizing, ClearedOrDestroyedPoolsLeaveNoTimerBehind) {
  asio::io_context ioc;
  auto server = server_sending("");
  upstream_pool cleared(ioc.get_executor(), {8, 60s}, open_test_connections);
  {
    upstream_pool destroyed(ioc.get_executor(), {8, 60s}, open_test_connections);
    for (auto* pool : {&cleared, &destroyed}) {
      after_one_exchange(ioc, server, [&](upstream::upstream_connection& conn) -> asio::awaitable<bool> {
        pool->put(std::move(conn));
        co_return pool->idle_count() == 1;
      });
    }
    cleared.clear();
  }
  EXPECT_EQ(open_test_connections(), 0u);
  // Both expiry waits (a minute away) were cancelled, and their handlers touch nothing:
  // the io_context runs out of work long before the limit.
  ioc.restart();
  ioc.run_for(loop_limit);
  EXPECT_TRUE(ioc.stopped()) << "a timer wait was still pending";
}

}  // namespace
}  // namespace vp::server
