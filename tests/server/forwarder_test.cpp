// The relay on its own: one client request over a loopback TLS upstream connection
// (test_http_server, no attestation, no proxy around it) and a loopback client socket
// whose bytes the test reads raw. Each outcome of relay_result, the framing chosen for
// the client, the fields that must not cross, and when a request may be sent again.

#include "server/forwarder.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <future>
#include <optional>
#include <sstream>
#include <string>

#include "support/run_bounded.hpp"
#include "support/test_http_server.hpp"

namespace vp::server {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr auto loop_limit = 10s;
constexpr const char* domain = "localhost";

/// What one relay produced: its result, and every byte the client received until the
/// proxy side was closed.
struct relayed {
  relay_result result;
  std::string client_bytes;
  bool upstream_reusable = false;  ///< the connection may go back to the pool
};

class Forwarder : public ::testing::Test {
 protected:
  test::test_http_server backend(test::http_handler handler) {
    test::test_http_server_options o;
    o.tls = true;
    return test::test_http_server(std::move(handler), o);
  }

  static client_request post(std::string body) {
    client_request r{http::verb::post, "/v1/chat/completions", 11};
    r.set(http::field::host, "127.0.0.1:8080");
    r.set(http::field::content_type, "application/json");
    r.set("X-Backend-Domain", domain);
    r.body() = std::move(body);
    r.prepare_payload();
    return r;
  }

  /// Relays `request` to `server` on a fresh connection; `before` runs on the connection
  /// first, `during` once the request was sent (with the test's end of the client socket).
  template <class Before = void (*)(upstream::upstream_connection&)>
  std::optional<relayed> relay_once(
      const test::test_http_server& server, const client_request& request,
      Before before = [](upstream::upstream_connection&) {}, bool close_client_early = false) {
    auto work = [&]() -> asio::awaitable<std::optional<relayed>> {
      static const upstream::tls_client_context tls(upstream::tls_client_options{false, {}});
      upstream::connect_options o;
      o.connect_to = upstream::dial_address{"127.0.0.1", server.port()};
      auto conn = co_await upstream::connect_upstream(ioc.get_executor(), tls, domain, 443, o);
      if (!conn) co_return std::nullopt;
      before(*conn);

      tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
      tcp::socket test_end(ioc);
      co_await test_end.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
      beast::tcp_stream proxy_end(co_await acceptor.async_accept(asio::use_awaitable));
      proxy_end.socket().non_blocking(true);  // as the server accepts its clients
      if (close_client_early) test_end.close();

      auto result = co_await relay(proxy_end, *conn, request, deadlines, keep_client, integrity);
      proxy_end.close();
      std::string received;
      if (test_end.is_open()) {
        // Reads until the relay's side closed (an error ends the read, with what arrived kept).
        (void)co_await asio::async_read(test_end, asio::dynamic_buffer(received), asio::as_tuple(asio::use_awaitable));
      }
      co_return relayed{std::move(result), std::move(received), conn->reusable() && !conn->reuse_hazard()};
    };
    ioc.restart();
    auto out = test::run_bounded(ioc, loop_limit, work());
    return out ? *out : std::nullopt;
  }

  asio::io_context ioc;
  timeouts deadlines;
  /// What relay_once passes to relay().
  bool keep_client = true;
  const relay_integrity* integrity = nullptr;
};

TEST_F(Forwarder, ContentLengthResponseIsRelayedWholeAndTheClientKeptAlive) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.headers = {{"Content-Type", "application/json"}, {"Connection", "x-internal"}, {"X-Internal", "secret"}};
    r.body = R"({"id":"chatcmpl-1"})";
    return r;
  });
  const auto out = relay_once(server, post(R"({"model":"m"})"));
  ASSERT_TRUE(out);
  const auto* done = std::get_if<relay_completed>(&out->result);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->status, 200u);
  EXPECT_EQ(done->body_bytes, 19u);
  EXPECT_FALSE(done->streamed);
  EXPECT_TRUE(done->client_reusable);
  EXPECT_NE(out->client_bytes.find("Content-Length: 19\r\n"), std::string::npos) << out->client_bytes;
  EXPECT_EQ(out->client_bytes.find("X-Internal"), std::string::npos) << "named by Connection: hop-by-hop";
  EXPECT_TRUE(out->client_bytes.ends_with(R"({"id":"chatcmpl-1"})"));
  EXPECT_TRUE(out->upstream_reusable);

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("Host"), "localhost") << "the backend's domain, default port omitted";
  EXPECT_FALSE(requests[0].header("X-Backend-Domain")) << "routing field must not reach the backend";
  EXPECT_EQ(requests[0].header("Content-Length"), "13");
}

TEST_F(Forwarder, RequestBodiesOfAnySizeReachTheBackendWhole) {
  // Around one TLS record (16 KiB), where the head stops leaving in the same write as the
  // body: each body arrives whole, with its length.
  auto server = backend([](const test::http_request_record& r) {
    test::scripted_response out;
    out.body = std::to_string(r.body.size());
    return out;
  });
  for (const std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{16 * 1024 - 400}, std::size_t{16 * 1024},
                                 std::size_t{16 * 1024 + 1}, std::size_t{40'000}, std::size_t{1 << 20}}) {
    std::string body(size, 'b');
    if (size != 0) body.back() = 'e';
    const auto out = relay_once(server, post(body));
    ASSERT_TRUE(out) << size;
    const auto* done = std::get_if<relay_completed>(&out->result);
    ASSERT_NE(done, nullptr) << size;
    EXPECT_TRUE(out->client_bytes.ends_with("\r\n\r\n" + std::to_string(size))) << size << ": " << out->client_bytes;
    const auto requests = server.requests();
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests.back().body, body) << size;
    EXPECT_EQ(requests.back().header("Content-Length"), std::to_string(size));
  }
}

TEST_F(Forwarder, TheProxysOwnFieldsAreNotTakenFromTheBackend) {
  // A backend cannot vouch for itself: the verdict fields the proxy sets (on held answers,
  // and on every verified answer) replace whatever the backend sent under those names.
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.headers = {
        {"X-Verified-Backend", "forged.example"}, {"x-signature-status", "valid"}, {"X-Signature-Kind", "tee"}};
    r.body = "{}";
    return r;
  });
  relay_integrity verified;
  verified.response_fields = {{"X-Verified-Backend", domain}};
  integrity = &verified;
  keep_client = false;
  const auto out = relay_once(server, post("{}"));
  ASSERT_TRUE(out);
  const std::string& head = out->client_bytes;
  EXPECT_NE(head.find("X-Verified-Backend: " + std::string(domain) + "\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("forged.example"), std::string::npos) << head;
  EXPECT_EQ(head.find("signature-status"), std::string::npos) << head;
  EXPECT_EQ(head.find("X-Signature-Kind"), std::string::npos) << head;
  EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos) << "the client is not kept: " << head;
}

TEST_F(Forwarder, ABurstOfRecordsThatArrivedTogetherLeavesInOneWrite) {
  // Head and body in TLS records of 21 bytes, arriving in one TCP segment: the records
  // OpenSSL already holds are decrypted without waiting and relayed in one write (one
  // chunk), not one write per record.
  std::string body;
  for (int i = 0; i < 12; ++i) body += "data: {\"n\":" + std::to_string(i) + "}\n\n";
  auto server = backend([&](const test::http_request_record&) {
    test::scripted_response r;
    r.headers = {{"Content-Type", "text/event-stream"}};
    r.body = body;
    r.chunked = true;
    r.chunk_size = 14;
    r.burst_piece = 21;
    return r;
  });
  const auto out = relay_once(server, post(R"({"model":"m","stream":true})"));
  ASSERT_TRUE(out);
  const auto* done = std::get_if<relay_completed>(&out->result);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->body_bytes, body.size());
  const std::string& bytes = out->client_bytes;
  const auto body_start = bytes.find("\r\n\r\n");
  ASSERT_NE(body_start, std::string::npos);
  const std::string framed = bytes.substr(body_start + 4);
  // One chunk with every event, then the last chunk.
  const std::string size_line = [&] {
    std::ostringstream hex;
    hex << std::hex << body.size();
    return hex.str();
  }();
  EXPECT_EQ(framed, size_line + "\r\n" + body + "\r\n0\r\n\r\n") << framed;
}

TEST_F(Forwarder, ChunkedResponseIsReframedChunkedWithoutTheBackendsTrailers) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.body = "data: one\n\ndata: two\n\ndata: [DONE]\n\n";
    r.chunked = true;
    r.trailers = {{"X-Trailer", "t"}};
    return r;
  });
  const auto out = relay_once(server, post("{}"));
  ASSERT_TRUE(out);
  const auto* done = std::get_if<relay_completed>(&out->result);
  ASSERT_NE(done, nullptr);
  EXPECT_TRUE(done->streamed);
  EXPECT_EQ(done->body_bytes, 36u);
  EXPECT_NE(out->client_bytes.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_TRUE(out->client_bytes.ends_with("\r\n0\r\n\r\n")) << "last chunk, no trailer";
  EXPECT_EQ(out->client_bytes.find("X-Trailer"), std::string::npos);
  // The backend's six 7-byte chunks came in one read: they leave as one chunk, in one write.
  EXPECT_NE(out->client_bytes.find("\r\n\r\n24\r\ndata: one\n\ndata: two"), std::string::npos) << out->client_bytes;
}

TEST_F(Forwarder, TheHeadLeavesAtOnceWhenNoBodyBytesCameWithIt) {
  // The backend sends its head and holds the body back until the client has seen that
  // head: a relay that waited for body bytes to send the head with would stall here.
  std::promise<void> head_seen;
  std::shared_future<void> seen = head_seen.get_future().share();
  std::atomic<bool> released_by_client{false};
  auto server = backend([&](const test::http_request_record&) {
    test::scripted_response r;
    r.headers = {{"Content-Type", "text/event-stream"}};
    r.body = "data: one\n\ndata: [DONE]\n\n";
    r.chunked = true;
    r.chunk_size = 64;
    r.before_body = [&] { released_by_client = seen.wait_for(5s) == std::future_status::ready; };
    return r;
  });
  auto work = [&]() -> asio::awaitable<std::optional<std::pair<relay_result, std::string>>> {
    static const upstream::tls_client_context tls(upstream::tls_client_options{false, {}});
    upstream::connect_options o;
    o.connect_to = upstream::dial_address{"127.0.0.1", server.port()};
    auto conn = co_await upstream::connect_upstream(ioc.get_executor(), tls, domain, 443, o);
    if (!conn) co_return std::nullopt;
    tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    tcp::socket test_end(ioc);
    co_await test_end.async_connect(acceptor.local_endpoint(), asio::use_awaitable);
    beast::tcp_stream proxy_end(co_await acceptor.async_accept(asio::use_awaitable));
    const auto request = post("{}");
    std::optional<relay_result> result;
    asio::co_spawn(ioc, relay(proxy_end, *conn, request, deadlines, true), [&](std::exception_ptr, relay_result r) {
      result = std::move(r);
      proxy_end.close();
    });
    std::string received;
    auto [head_ec, head_n] = co_await asio::async_read_until(test_end, asio::dynamic_buffer(received), "\r\n\r\n",
                                                             asio::as_tuple(asio::use_awaitable));
    if (!head_ec) head_seen.set_value();
    (void)co_await asio::async_read(test_end, asio::dynamic_buffer(received), asio::as_tuple(asio::use_awaitable));
    while (!result) {
      asio::steady_timer pause(ioc, 5ms);
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return std::pair<relay_result, std::string>{std::move(*result), std::move(received)};
  };
  auto out = test::run_bounded(ioc, loop_limit, work());
  ASSERT_TRUE(out && *out);
  EXPECT_TRUE(released_by_client) << "the head reached the client only after the backend sent body bytes";
  const auto* done = std::get_if<relay_completed>(&(*out)->first);
  ASSERT_NE(done, nullptr);
  EXPECT_TRUE((*out)->second.ends_with("data: [DONE]\n\n\r\n0\r\n\r\n")) << (*out)->second;
}

TEST_F(Forwarder, AClientThatStopsReadingIsCutAfterTheIdleTimeout) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.body = std::string(48u << 20, 'x');  // more than both sockets' buffers hold
    return r;
  });
  deadlines.idle = 200ms;
  const auto out = relay_once(server, post("{}"));  // the test end reads only after the relay ended
  ASSERT_TRUE(out);
  const auto* cut = std::get_if<relay_cut_short>(&out->result);
  ASSERT_NE(cut, nullptr);
  EXPECT_EQ(cut->why, relay_cut_short::cause::client_gone);
  EXPECT_NE(cut->detail.find("read nothing for 200 ms"), std::string::npos) << cut->detail;
  EXPECT_LT(cut->body_bytes, 48u << 20);
  EXPECT_FALSE(out->upstream_reusable);
}

TEST_F(Forwarder, AnHttp10ClientGetsACloseDelimitedBodyAndIsNotKept) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.body = "streamed";
    r.chunked = true;
    return r;
  });
  auto request = post("{}");
  request.version(10);
  const auto out = relay_once(server, request);
  ASSERT_TRUE(out);
  const auto* done = std::get_if<relay_completed>(&out->result);
  ASSERT_NE(done, nullptr);
  EXPECT_TRUE(done->streamed);
  EXPECT_FALSE(done->client_reusable);
  EXPECT_TRUE(out->client_bytes.starts_with("HTTP/1.0 200")) << out->client_bytes;
  EXPECT_TRUE(out->client_bytes.ends_with("\r\n\r\nstreamed"));
}

TEST_F(Forwarder, HeadAnswerHasNoBodyButKeepsItsContentLength) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.headers = {{"Content-Length", "1234"}};
    return r;
  });
  client_request head{http::verb::head, "/v1/models", 11};
  head.set(http::field::host, "127.0.0.1:8080");
  const auto out = relay_once(server, head);
  ASSERT_TRUE(out);
  const auto* done = std::get_if<relay_completed>(&out->result);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->body_bytes, 0u);
  EXPECT_NE(out->client_bytes.find("Content-Length: 1234\r\n"), std::string::npos);
  EXPECT_TRUE(out->client_bytes.ends_with("\r\n\r\n"));
}

TEST_F(Forwarder, BackendClosingBeforeAByteIsARefusalThatMayGoAgainOnlyOnAPooledConnection) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.fault = test::http_fault::close_without_response;
    return r;
  });
  const auto out = relay_once(server, post("{}"));
  ASSERT_TRUE(out);
  const auto* refused = std::get_if<relay_refused>(&out->result);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->may_resend, relay_refused::resend::if_pooled);
  EXPECT_EQ(refused->answer.status, 502u);
  EXPECT_EQ(out->client_bytes, "") << "the session writes the refusal, not the relay";
}

TEST_F(Forwarder, AConnectionUnfitBeforeTheRequestCarriesNothingAndMaySafelyGoAgain) {
  auto server = backend([](const test::http_request_record&) { return test::scripted_response{}; });
  const auto out =
      relay_once(server, post("{}"), [](upstream::upstream_connection& conn) { conn.mark_not_reusable(); });
  ASSERT_TRUE(out);
  const auto* refused = std::get_if<relay_refused>(&out->result);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->may_resend, relay_refused::resend::safe);
  EXPECT_EQ(server.request_count(), 0u);
}

TEST_F(Forwarder, NoResponseHeadersInTimeIsA504ThatIsNeverResent) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.fault = test::http_fault::hang;
    return r;
  });
  deadlines.response_headers = 100ms;
  const auto out = relay_once(server, post("{}"));
  ASSERT_TRUE(out);
  const auto* refused = std::get_if<relay_refused>(&out->result);
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->answer.status, 504u);
  EXPECT_EQ(refused->may_resend, relay_refused::resend::never);
}

TEST_F(Forwarder, SwitchingProtocolsIsRefused) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.status = 101;
    r.headers = {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Content-Length", "0"}};
    return r;
  });
  const auto out = relay_once(server, post("{}"));
  ASSERT_TRUE(out);
  const auto* refused = std::get_if<relay_refused>(&out->result);
  ASSERT_NE(refused, nullptr);
  EXPECT_NE(refused->answer.body.find("switched protocols"), std::string::npos) << refused->answer.body;
}

TEST_F(Forwarder, ATruncatedBodyCutsTheResponseShortAndPoisonsTheConnection) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.body = std::string(1000, 'x');
    r.fault = test::http_fault::truncated_body;
    r.truncate_at = 400;
    return r;
  });
  const auto out = relay_once(server, post("{}"));
  ASSERT_TRUE(out);
  const auto* cut = std::get_if<relay_cut_short>(&out->result);
  ASSERT_NE(cut, nullptr);
  EXPECT_EQ(cut->why, relay_cut_short::cause::upstream_failed);
  EXPECT_EQ(cut->status, 200u);
  EXPECT_EQ(cut->body_bytes, 400u);
  EXPECT_NE(out->client_bytes.find("Content-Length: 1000\r\n"), std::string::npos);
  EXPECT_FALSE(out->upstream_reusable);
}

TEST_F(Forwarder, AClientThatLeavesWhileTheBackendThinksCancelsTheUpstreamRequest) {
  auto server = backend([](const test::http_request_record&) {
    test::scripted_response r;
    r.fault = test::http_fault::hang;
    return r;
  });
  const auto started = std::chrono::steady_clock::now();
  const auto out = relay_once(
      server, post("{}"), [](upstream::upstream_connection&) {}, /*close_client_early=*/true);
  ASSERT_TRUE(out);
  const auto* cut = std::get_if<relay_cut_short>(&out->result);
  ASSERT_NE(cut, nullptr);
  EXPECT_EQ(cut->why, relay_cut_short::cause::client_gone);
  EXPECT_EQ(cut->status, 0u) << "no response head reached the client";
  EXPECT_FALSE(out->upstream_reusable);
  EXPECT_LT(std::chrono::steady_clock::now() - started, loop_limit / 2)
      << "the hanging backend was not waited for";
}

}  // namespace
}  // namespace vp::server
