#include "net/http_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <exception>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/run_bounded.hpp"
#include "support/test_http_server.hpp"

namespace vp::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using vp::test::http_fault;
using vp::test::http_request_record;
using vp::test::scripted_response;
using vp::test::test_http_server;
using kind = http_error::kind;

/// Upper bound for any single test's event loop: a hang in the client fails the test
/// instead of stalling the suite.
constexpr auto loop_limit = 5s;

http_client_options fast_options() {
  http_client_options o;
  o.connect_timeout = 2s;
  o.response_timeout = 2s;
  return o;
}

http_result fetch(const std::string& url, http_client_options options = fast_options(),
                  std::vector<std::pair<std::string, std::string>> headers = {}) {
  asio::io_context ioc;
  http_client client(ioc.get_executor(), std::move(options));
  auto result = test::run_bounded(ioc, loop_limit, client.get(url, std::move(headers)));
  if (!result) {
    ADD_FAILURE() << "get(" << url << ") did not complete within the loop limit";
    return http_error{kind::timeout, "loop limit"};
  }
  return std::move(*result);
}

http_client_options trusting(const test_http_server& server) {
  auto o = fast_options();
  o.ca_file = server.ca_file();
  return o;
}

scripted_response ok(std::string body) {
  scripted_response r;
  r.body = std::move(body);
  return r;
}

/// The error of a result that must have failed (with a readable test message otherwise).
http_error error_of(const http_result& r) {
  if (r) {
    ADD_FAILURE() << "expected an error, got status " << r->status;
    return http_error{kind::protocol, ""};
  }
  return r.error();
}

// ---------------------------------------------------------------------------------------

TEST(HttpClient, ReturnsStatusBodyAndHeadersAndSendsTheRequestFields) {
  test_http_server server([](const http_request_record&) {
    scripted_response r;
    r.headers = {{"Content-Type", "text/plain"}, {"X-Custom", "v1"}, {"x-custom", "v2"}};
    r.body = "hello world";
    return r;
  });
  auto options = fast_options();
  options.user_agent = "vp-test-agent/1";
  const auto r = fetch(server.url("/a/b?q=1&r=%20x"), options, {{"Accept", "application/json"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->body, "hello world");
  EXPECT_EQ(r->header("content-type"), "text/plain");
  EXPECT_EQ(r->header("X-CUSTOM"), "v1");  // the first of a repeated field
  EXPECT_EQ(r->header("x-missing"), std::nullopt);
  EXPECT_EQ(r->header("Content-Length"), "11");

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const auto& req = requests[0];
  EXPECT_EQ(req.method, "GET");
  EXPECT_EQ(req.target, "/a/b?q=1&r=%20x");
  EXPECT_EQ(req.header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(req.header("user-agent"), "vp-test-agent/1");
  EXPECT_EQ(req.header("connection"), "close");
  EXPECT_EQ(req.header("accept"), "application/json");
  EXPECT_EQ(server.request_count("/a/b?q=1&r=%20x"), 1u);
}

TEST(HttpClient, EmptyPathBecomesSlashAndCallerMayOverrideUserAgent) {
  test_http_server server([](const http_request_record&) { return ok("root"); });
  const auto r = fetch(server.base_url(), fast_options(), {{"User-Agent", "override"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "root");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/");
  EXPECT_EQ(requests[0].header("user-agent"), "override");
}

TEST(HttpClient, ErrorStatusesAreResponsesNotErrors) {
  test_http_server server([](const http_request_record& req) {
    scripted_response r;
    r.status = req.target == "/missing" ? 404u : 500u;
    r.body = req.target == "/missing" ? "not here" : "boom";
    return r;
  });
  const auto missing = fetch(server.url("/missing"));
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_EQ(missing->status, 404u);
  EXPECT_EQ(missing->body, "not here");
  const auto broken = fetch(server.url("/broken"));
  ASSERT_TRUE(broken) << broken.error().message;
  EXPECT_EQ(broken->status, 500u);
  EXPECT_EQ(broken->body, "boom");
}

TEST(HttpClient, DecodesChunkedBodies) {
  std::string body;
  for (int i = 0; i < 200; ++i) body += static_cast<char>('a' + i % 26);
  test_http_server server([&](const http_request_record&) {
    auto r = ok(body);
    r.chunked = true;
    r.chunk_size = 3;
    return r;
  });
  const auto r = fetch(server.url("/chunked"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->header("transfer-encoding"), "chunked");
  EXPECT_EQ(r->body, body);
}

TEST(HttpClient, HttpsWithTheServersCaFile) {
  test_http_server server([](const http_request_record&) { return ok("secure"); }, {.tls = true});
  const auto r = fetch(server.url("/tls"), trusting(server));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->body, "secure");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].tls_server_name, "");  // no SNI for IP literals (RFC 6066 §3)
}

TEST(HttpClient, HttpsByHostNameSendsSniAndResolvesTheName) {
  test_http_server server([](const http_request_record&) { return ok("named"); }, {.tls = true});
  const std::string url = "https://localhost:" + std::to_string(server.port()) + "/sni";
  const auto r = fetch(url, trusting(server));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "named");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].tls_server_name, "localhost");
  EXPECT_EQ(requests[0].header("host"), "localhost:" + std::to_string(server.port()));
}

TEST(HttpClient, DialRedirectsTheConnectionWhileTheNameStaysTheUrls) {
  test_http_server server([](const http_request_record&) { return ok("redirected"); },
                          {.tls = true, .dns_names = {"gateway.invalid"}, .ip_addresses = {}});
  auto options = trusting(server);
  const std::uint16_t port = server.port();
  options.dial = [port](std::string_view host,
                        std::uint16_t url_port) -> std::optional<std::pair<std::string, std::uint16_t>> {
    if (host == "gateway.invalid" && url_port == 443) return std::pair<std::string, std::uint16_t>{"127.0.0.1", port};
    return std::nullopt;
  };
  // A name that never resolves (RFC 6761): only the dial rule can reach the server.
  const auto r = fetch("https://gateway.invalid/v1/models", options);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "redirected");
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].tls_server_name, "gateway.invalid");
  EXPECT_EQ(requests[0].header("host"), "gateway.invalid");
  // Another host is not redirected.
  EXPECT_EQ(error_of(fetch("https://other.invalid/x", options)).what, kind::resolve);
}

TEST(HttpClient, HttpsWithAnotherCaFileIsATlsError) {
  test_http_server server([](const http_request_record&) { return ok("x"); }, {.tls = true});
  test_http_server other([](const http_request_record&) { return ok("y"); }, {.tls = true});
  const auto r = fetch(server.url("/x"), trusting(other));
  const auto e = error_of(r);
  EXPECT_EQ(e.what, kind::tls) << e.message;
  EXPECT_NE(e.message.find("GET " + server.url("/x")), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("certificate verify failed: unable to get local issuer certificate"),
            std::string::npos)
      << e.message;
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(HttpClient, HttpsWithTheSystemStoreRejectsTheTestCa) {
  test_http_server server([](const http_request_record&) { return ok("x"); }, {.tls = true});
  const auto e = error_of(fetch(server.url("/x")));  // no ca_file: system trust store
  EXPECT_EQ(e.what, kind::tls) << e.message;
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(HttpClient, CertificateWithoutTheIpAddressIsATlsError) {
  test_http_server server([](const http_request_record&) { return ok("x"); },
                          {.tls = true, .dns_names = {"localhost"}, .ip_addresses = {}});
  const auto e = error_of(fetch(server.url("/x"), trusting(server)));
  EXPECT_EQ(e.what, kind::tls) << e.message;
  EXPECT_NE(e.message.find("mismatch"), std::string::npos) << e.message;
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(HttpClient, CertificateWithoutTheHostNameIsATlsError) {
  test_http_server server([](const http_request_record&) { return ok("x"); },
                          {.tls = true, .dns_names = {"other.example"}, .ip_addresses = {"127.0.0.1"}});
  const std::string url = "https://localhost:" + std::to_string(server.port()) + "/x";
  const auto e = error_of(fetch(url, trusting(server)));
  EXPECT_EQ(e.what, kind::tls) << e.message;
  EXPECT_NE(e.message.find("mismatch"), std::string::npos) << e.message;
}

TEST(HttpClient, ConnectionRefusedIsAConnectError) {
  std::uint16_t port = 0;
  {
    asio::io_context ioc;
    asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address_v4("127.0.0.1"), 0});
    port = acceptor.local_endpoint().port();
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/x";
  const auto e = error_of(fetch(url));
  EXPECT_EQ(e.what, kind::connect) << e.message;
  EXPECT_NE(e.message.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << e.message;
}

TEST(HttpClient, ServerThatNeverAnswersTimesOutWithinTheResponseTimeout) {
  test_http_server server([](const http_request_record&) {
    scripted_response r;
    r.fault = http_fault::hang;
    return r;
  });
  auto options = fast_options();
  options.response_timeout = 200ms;
  const auto start = std::chrono::steady_clock::now();
  const auto e = error_of(fetch(server.url("/hang"), options));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(e.what, kind::timeout) << e.message;
  EXPECT_GE(elapsed, 180ms);
  EXPECT_LT(elapsed, 1500ms);
  EXPECT_EQ(server.request_count("/hang"), 1u);
}

TEST(HttpClient, SlowButTimelyResponseSucceeds) {
  test_http_server server([](const http_request_record&) {
    auto r = ok("late");
    r.delay = 100ms;
    return r;
  });
  const auto r = fetch(server.url("/slow"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "late");
}

TEST(HttpClient, StalledTlsHandshakeTimesOutWithinTheConnectTimeout) {
  // A listener that never accepts: the kernel completes the TCP handshake, nobody
  // answers the ClientHello.
  asio::io_context listener_ioc;
  asio::ip::tcp::acceptor silent(listener_ioc, {asio::ip::make_address_v4("127.0.0.1"), 0});
  const std::string url = "https://127.0.0.1:" + std::to_string(silent.local_endpoint().port()) + "/x";
  auto options = fast_options();
  options.connect_timeout = 200ms;
  const auto start = std::chrono::steady_clock::now();
  const auto e = error_of(fetch(url, options));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(e.what, kind::timeout) << e.message;
  EXPECT_NE(e.message.find("TLS handshake"), std::string::npos) << e.message;
  EXPECT_GE(elapsed, 180ms);
  EXPECT_LT(elapsed, 1500ms);
}

TEST(HttpClient, TruncatedBodyIsAProtocolError) {
  test_http_server server([](const http_request_record&) {
    auto r = ok(std::string(1000, 'z'));
    r.fault = http_fault::truncated_body;
    r.truncate_at = 400;
    return r;
  });
  const auto e = error_of(fetch(server.url("/short")));
  EXPECT_EQ(e.what, kind::protocol) << e.message;
  EXPECT_NE(e.message.find("truncated"), std::string::npos) << e.message;
}

TEST(HttpClient, TruncatedBodyOverTlsIsAProtocolError) {
  test_http_server server(
      [](const http_request_record&) {
        auto r = ok(std::string(1000, 'z'));
        r.fault = http_fault::truncated_body;
        return r;
      },
      {.tls = true});
  const auto e = error_of(fetch(server.url("/short"), trusting(server)));
  EXPECT_EQ(e.what, kind::protocol) << e.message;
}

TEST(HttpClient, CloseWithoutResponseIsAProtocolError) {
  test_http_server server([](const http_request_record&) {
    scripted_response r;
    r.fault = http_fault::close_without_response;
    return r;
  });
  const auto e = error_of(fetch(server.url("/gone")));
  EXPECT_EQ(e.what, kind::protocol) << e.message;
  EXPECT_EQ(server.request_count("/gone"), 1u);
}

TEST(HttpClient, BodyOverMaxBodyIsTooLarge) {
  test_http_server server([](const http_request_record& req) {
    auto r = ok(std::string(5000, 'b'));
    r.chunked = req.target == "/chunked";
    r.chunk_size = 512;
    return r;
  });
  auto options = fast_options();
  options.max_body = 1000;
  for (const char* target : {"/declared", "/chunked"}) {
    const auto e = error_of(fetch(server.url(target), options));
    EXPECT_EQ(e.what, kind::too_large) << target << ": " << e.message;
  }
  options.max_body = 5000;  // exactly at the limit is fine
  const auto r = fetch(server.url("/declared"), options);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body.size(), 5000u);
}

TEST(HttpClient, HugeTrailerFieldsAreAProtocolErrorNotACrash) {
  // A trailer field over 64 KiB used to throw std::length_error out of Beast's parser,
  // from the discovery list's and the PCCS's responses alike.
  for (const bool tls : {false, true}) {
    test_http_server server(
        [](const http_request_record& r) {
          scripted_response out;
          out.body = "body";
          out.chunked = true;
          if (r.target == "/value") out.trailers = {{"X-Huge", std::string(70'000, 'x')}};
          if (r.target == "/name") out.trailers = {{std::string(70'000, 'n'), "v"}};
          return out;
        },
        {.tls = tls});
    const auto options = tls ? trusting(server) : fast_options();
    for (const char* target : {"/value", "/name"}) {
      const auto e = error_of(fetch(server.url(target), options));
      EXPECT_EQ(e.what, kind::protocol) << target << ": " << e.message;
      EXPECT_NE(e.message.find("trailer"), std::string::npos) << e.message;
      EXPECT_EQ(e.message.find("xxxx"), std::string::npos) << "no field bytes in the message";
    }
    const auto fine = fetch(server.url("/ordinary"), options);
    ASSERT_TRUE(fine) << fine.error().message;
    EXPECT_EQ(fine->body, "body");
  }
}

TEST(HttpClient, InvalidUrlsAreRejectedWithoutNetworkAccess) {
  for (const std::string url :
       {"ftp://127.0.0.1/x", "http:///x", "http://", "garbage", "", "/relative/path", "http://exa mple.com/",
        "http://user:pw@127.0.0.1/x", "http://127.0.0.1:99999/x", "https://[v1.x]/", "mailto:a@b.c",
        "http://ex%00ample.com/"}) {
    const auto r = fetch(url);
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error().what, kind::invalid_url) << url << ": " << r.error().message;
    EXPECT_EQ(r.error().message.rfind("GET ", 0), 0u) << r.error().message;
  }
}

TEST(HttpClient, InvalidRequestHeadersAreRefused) {
  test_http_server server([](const http_request_record&) { return ok("x"); });
  const auto e = error_of(fetch(server.url("/x"), fast_options(), {{"X-Evil", "a\r\nInjected: yes"}}));
  EXPECT_EQ(e.what, kind::protocol) << e.message;
  EXPECT_EQ(server.request_count(), 0u);
}

TEST(HttpClient, UnresolvableHostIsAResolveError) {
  auto options = fast_options();
  options.connect_timeout = 500ms;
  const auto start = std::chrono::steady_clock::now();
  const auto e = error_of(fetch("http://no-such-host.invalid/x", options));
  EXPECT_TRUE(e.what == kind::resolve || e.what == kind::timeout) << e.message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);
  EXPECT_NE(e.message.find("no-such-host.invalid"), std::string::npos) << e.message;
}

TEST(HttpClient, UnreadableCaFileFailsAtConstruction) {
  asio::io_context ioc;
  http_client_options missing;
  missing.ca_file = "/nonexistent/vp-ca.pem";
  EXPECT_THROW(http_client(ioc.get_executor(), missing), std::runtime_error);

  const vp::test::temp_file garbage("this is not a certificate\n");
  http_client_options bad;
  bad.ca_file = garbage.path();
  EXPECT_THROW(http_client(ioc.get_executor(), bad), std::runtime_error);
}

void expect_concurrent_gets_succeed(bool tls) {
  test_http_server server(
      [](const http_request_record& req) {
        auto r = ok("body of " + req.target);
        r.delay = 20ms;  // keep the exchanges overlapping
        return r;
      },
      {.tls = tls});
  asio::io_context ioc;
  http_client client(ioc.get_executor(), tls ? trusting(server) : fast_options());
  constexpr int count = 20;
  std::vector<std::optional<http_result>> results(count);
  for (int i = 0; i < count; ++i) {
    asio::co_spawn(ioc, client.get(server.url("/c/" + std::to_string(i))),
                   [&results, i](std::exception_ptr e, http_result r) {
                     if (!e) results[static_cast<std::size_t>(i)] = std::move(r);
                   });
  }
  ioc.run_for(loop_limit);
  for (int i = 0; i < count; ++i) {
    const auto& r = results[static_cast<std::size_t>(i)];
    ASSERT_TRUE(r.has_value()) << "get " << i << " did not finish";
    ASSERT_TRUE(*r) << r->error().message;
    EXPECT_EQ((*r)->body, "body of /c/" + std::to_string(i));
    EXPECT_EQ(server.request_count("/c/" + std::to_string(i)), 1u);
  }
  EXPECT_EQ(server.request_count(), static_cast<std::size_t>(count));
  EXPECT_EQ(server.connection_count(), static_cast<std::size_t>(count));
}

TEST(HttpClient, TwentyConcurrentGetsOnOneClient) { expect_concurrent_gets_succeed(false); }
TEST(HttpClient, TwentyConcurrentHttpsGetsOnOneClient) { expect_concurrent_gets_succeed(true); }

// ---------------------------------------------------------------------------------------
// The test server itself: behaviour later suites rely on.

TEST(TestHttpServer, ServesSeveralRequestsPerKeepAliveConnection) {
  test_http_server server([](const http_request_record& req) { return ok("echo " + req.target); });
  asio::io_context ioc;
  auto exchange = [&]() -> asio::awaitable<std::vector<std::string>> {
    namespace http = boost::beast::http;
    boost::beast::tcp_stream stream(ioc);
    stream.expires_after(2s);
    co_await stream.async_connect(asio::ip::tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), server.port()),
                                  asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    std::vector<std::string> bodies;
    for (const char* target : {"/one", "/two", "/three"}) {
      http::request<http::empty_body> req{http::verb::get, target, 11};
      req.set(http::field::host, "127.0.0.1");
      co_await http::async_write(stream, req, asio::use_awaitable);
      http::response<http::string_body> res;
      co_await http::async_read(stream, buffer, res, asio::use_awaitable);
      bodies.push_back(res.body());
    }
    co_return bodies;
  };
  const auto bodies = test::run_bounded(ioc, loop_limit, exchange());
  ASSERT_TRUE(bodies.has_value());
  EXPECT_EQ(*bodies, (std::vector<std::string>{"echo /one", "echo /two", "echo /three"}));
  EXPECT_EQ(server.connection_count(), 1u);
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[2].request_on_connection, 3u);
}

TEST(TestHttpServer, StopsPromptlyWithHangingConnectionsAndWritesTheCaFile) {
  const auto start = std::chrono::steady_clock::now();
  std::string ca_path;
  {
    test_http_server server(
        [](const http_request_record&) {
          scripted_response r;
          r.fault = http_fault::hang;
          return r;
        },
        {.tls = true});
    ca_path = server.ca_file();
    std::ifstream in(ca_path);
    const std::string pem((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(pem, server.ca_pem());
    EXPECT_NE(pem.find("BEGIN CERTIFICATE"), std::string::npos);

    asio::io_context ioc;
    auto options = trusting(server);
    options.response_timeout = 100ms;
    http_client client(ioc.get_executor(), options);
    const auto r = test::run_bounded(ioc, loop_limit, client.get(server.url("/hang")));
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(*r);
    EXPECT_TRUE(server.wait_for_requests(1, 1s));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_FALSE(std::ifstream(ca_path).good()) << "CA file left behind: " << ca_path;
}

}  // namespace
}  // namespace vp::net
