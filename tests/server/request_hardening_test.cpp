// Hostile and malformed client requests against the proxy in-process, with the simulator
// behind it: each is answered with OpenAI-style JSON naming what was wrong (or the
// connection is closed when nobody is left to answer), nothing of it reaches a backend,
// and the proxy goes on serving the next client.

#include <gtest/gtest.h>


#include <cctype>
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include "core/log.hpp"
#include "server/proxy_harness.hpp"
#include "support/http_test_client.hpp"

namespace vp::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view domain = "sim.completions.near.ai";

std::string chunked_head(std::string_view transfer_encoding = "chunked") {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Backend-Domain: " + std::string(domain) +
         "\r\nContent-Type: application/json\r\nTransfer-Encoding: " + std::string(transfer_encoding) + "\r\n\r\n";
}

/// The proxy still serves a well-formed request after whatever came before.
void expect_still_serving(const running_proxy& proxy) {
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 200u) << r.body << r.error;
}

struct served {
  sim::simulator sim{harness_options()};
  running_proxy proxy{sim};
};

// ---------------------------------------------------------------------------------------
// Trailers: bounded like headers, never a crash.

TEST(RequestHardening, TrailerWithAHugeFieldValueIs431AndTheProxyKeepsServing) {
  served s;
  http_test_client client(s.proxy.port());
  const auto r = client.send_raw(chunked_head() + "2\r\n{}\r\n0\r\nX-Big: " + std::string(70'000, 'v') + "\r\n\r\n");
  EXPECT_EQ(r.status, 431u);
  EXPECT_EQ(error_code_of(r), "header_too_large");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(s.sim.request_count(domain), 0u);
  expect_still_serving(s.proxy);
}

TEST(RequestHardening, TrailerWithAHugeFieldNameIs431) {
  served s;
  http_test_client client(s.proxy.port());
  const auto r = client.send_raw(chunked_head() + "2\r\n{}\r\n0\r\n" + std::string(70'000, 'n') + ": v\r\n\r\n");
  EXPECT_EQ(r.status, 431u);
  EXPECT_EQ(s.sim.request_count(domain), 0u);
  expect_still_serving(s.proxy);
}

TEST(RequestHardening, TrailerSectionThatNeverEndsIs431NotUnboundedMemory) {
  served s;
  http_test_client client(s.proxy.port());
  std::string many;
  while (many.size() < 400'000) many += "X-Field-" + std::to_string(many.size()) + ": value\r\n";
  const auto r = client.send_raw(chunked_head() + "2\r\n{}\r\n0\r\n" + many + "\r\n");
  EXPECT_EQ(r.status, 431u) << r.body << r.error;
  EXPECT_EQ(s.sim.request_count(domain), 0u);
  expect_still_serving(s.proxy);
}

TEST(RequestHardening, FramingFieldInATrailerIs400) {
  served s;
  http_test_client client(s.proxy.port());
  const auto r = client.send_raw(chunked_head() + "2\r\n{}\r\n0\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(error_code_of(r), "malformed_request");
  EXPECT_EQ(s.sim.request_count(domain), 0u);
}

TEST(RequestHardening, OrdinaryTrailerIsAcceptedAndNotForwarded) {
  served s;
  http_test_client client(s.proxy.port());
  const std::string body = R"({"model":"sim-model","messages":[]})";
  std::ostringstream size;
  size << std::hex << body.size();
  const auto r = client.send_raw(chunked_head() + size.str() + "\r\n" + body + "\r\n0\r\nX-Checksum: abc\r\n\r\n");
  EXPECT_EQ(r.status, 200u) << r.body;
  const auto headers = s.sim.request_headers(domain);
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_FALSE(find_header(headers[0], "X-Checksum"));
  EXPECT_EQ(s.sim.request_bodies(domain), std::vector<std::string>{body});
}

// ---------------------------------------------------------------------------------------
// Framing (RFC 9112 §6): a body whose length is not certain is refused, never guessed.

struct coding_case {
  const char* transfer_encoding;
  unsigned status;
};

class TransferCodings : public ::testing::TestWithParam<coding_case> {};

TEST_P(TransferCodings, AreRefusedAndTheBodyIsNeverParsedAsASecondRequest) {
  served s;
  http_test_client client(s.proxy.port());
  // Were the body length taken as 0, the body would be read as a smuggled request.
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Backend-Domain: " +
                               std::string(domain) + "\r\n\r\n";
  const auto r = client.send_raw(chunked_head(GetParam().transfer_encoding) + smuggled);
  EXPECT_EQ(r.status, GetParam().status) << r.body << r.error;
  EXPECT_EQ(error_code_of(r), GetParam().status == 501 ? "unsupported_transfer_coding" : "malformed_request");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_TRUE(client.closed_by_peer(5s));
  EXPECT_EQ(s.sim.request_count(domain), 0u);
  EXPECT_EQ(s.sim.connection_count(domain), 0u);
}

INSTANTIATE_TEST_SUITE_P(RequestHardening, TransferCodings,
                         ::testing::Values(coding_case{"chunked, identity", 400}, coding_case{"chunked, gzip", 400},
                                           coding_case{"identity", 400}, coding_case{"gzip", 400},
                                           coding_case{"chunked, chunked", 400}, coding_case{"gzip, chunked", 501},
                                           coding_case{"chunked;q=1", 400}, coding_case{",", 400}),
                         [](const ::testing::TestParamInfo<coding_case>& param_info) {
                           std::string name;
                           for (const char c : std::string_view(param_info.param.transfer_encoding)) {
                             name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           }
                           return name + "_" + std::to_string(param_info.index);
                         });

TEST(RequestHardening, TransferCodingsSplitOverTwoFieldsAreReadTogether) {
  served s;
  http_test_client client(s.proxy.port());
  const auto r = client.send_raw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Backend-Domain: sim.completions.near.ai\r\n"
      "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 501u);
  EXPECT_EQ(s.sim.connection_count(domain), 0u);
}

class BadChunks : public ::testing::TestWithParam<const char*> {};

TEST_P(BadChunks, AreAnswered400) {
  served s;
  http_test_client client(s.proxy.port());
  const auto r = client.send_raw(chunked_head() + GetParam());
  EXPECT_EQ(r.status, 400u) << r.body << r.error;
  EXPECT_EQ(error_code_of(r), "malformed_request");
  EXPECT_EQ(s.sim.request_count(domain), 0u);
}

INSTANTIATE_TEST_SUITE_P(RequestHardening, BadChunks,
                         ::testing::Values("zz\r\nab\r\n0\r\n\r\n",                      // not hex
                                           "100000000000000000000\r\nab\r\n0\r\n\r\n",   // 21 hex digits
                                           "2\r\n{}XX0\r\n\r\n",                          // no CRLF after data
                                           "2;ext\nx\r\n{}\r\n0\r\n\r\n",                 // bare LF in extension
                                           "0\r\nTransfer-Encoding: chunked\r\n\r\n"));  // framing in trailer

TEST(RequestHardening, HostMustAppearExactlyOnce) {
  served s;
  const std::string rest = "X-Backend-Domain: sim.completions.near.ai\r\nContent-Length: 0\r\n\r\n";
  for (const std::string& hosts : {std::string(), std::string("Host: a\r\nHost: b\r\n")}) {
    http_test_client client(s.proxy.port());
    const auto r = client.send_raw("POST /v1/chat/completions HTTP/1.1\r\n" + hosts + rest);
    EXPECT_EQ(r.status, 400u) << hosts;
    EXPECT_EQ(error_code_of(r), "malformed_request");
  }
  EXPECT_EQ(s.sim.connection_count(domain), 0u);
}

TEST(RequestHardening, OverlongMethodIs400) {
  served s;
  http_test_client client(s.proxy.port());
  const auto r = client.send_raw(std::string(10'000, 'P') + " / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(s.sim.connection_count(domain), 0u);
}

TEST(RequestHardening, AbsoluteFormTargetIsForwardedInOriginForm) {
  served s;
  http_test_client client(s.proxy.port());
  const std::string body = R"({"model":"sim-model","messages":[]})";
  const auto r = client.send_raw("POST http://evil.example.com/v1/chat/completions?x=1 HTTP/1.1\r\nHost: "
                                 "evil.example.com\r\nContent-Type: application/json\r\nContent-Length: " +
                                 std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(r.status, 200u) << r.body;
  const auto connections = s.sim.connections(domain);
  ASSERT_EQ(connections.size(), 1u);
  ASSERT_EQ(connections[0].request_targets.size(), 2u);  // the attestation GET, then the request
  EXPECT_EQ(connections[0].request_targets[1], "/v1/chat/completions?x=1");
  EXPECT_EQ(connections[0].received.find("evil.example.com"), std::string::npos);
}

TEST(RequestHardening, ConnectIs405WithAllow) {
  served s;
  http_test_client client(s.proxy.port());
  const auto r = client.send_raw("CONNECT evil.example.com:443 HTTP/1.1\r\nHost: evil.example.com:443\r\n\r\n");
  EXPECT_EQ(r.status, 405u);
  EXPECT_EQ(error_code_of(r), "method_not_allowed");
  EXPECT_TRUE(r.header("Allow").has_value());
  EXPECT_EQ(s.sim.connection_count(domain), 0u);
}

TEST(RequestHardening, TargetThatIsNeitherAPathNorAnHttpUrlIs400) {
  served s;
  for (const char* target : {"ftp://host/x", "evil.example.com:443", "*"}) {
    http_test_client client(s.proxy.port());
    const auto r =
        client.send_raw("GET " + std::string(target) + " HTTP/1.1\r\nHost: x\r\nX-Backend-Domain: " +
                        std::string(domain) + "\r\n\r\n");
    EXPECT_EQ(r.status, 400u) << target;
  }
  EXPECT_EQ(s.sim.connection_count(domain), 0u);
}

// ---------------------------------------------------------------------------------------
// Routing ambiguities.

TEST(RequestHardening, RepeatedBackendDomainHeaderIs400) {
  served s;
  auto request = chat_request("sim-model", false);
  request.headers.emplace_back("X-Backend-Domain", std::string(domain));
  request.headers.emplace_back("X-Backend-Domain", "other.completions.near.ai");
  const auto r = http_exchange(s.proxy.port(), request);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(error_code_of(r), "ambiguous_backend_domain");
  EXPECT_EQ(s.sim.connection_count(domain), 0u);
}

TEST(RequestHardening, RepeatedModelKeyIs400) {
  served s;
  auto request = chat_request("sim-model", false);
  request.body = R"({"model":"sim-model","messages":[],"model":"other-model"})";
  const auto r = http_exchange(s.proxy.port(), request);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(error_code_of(r), "ambiguous_model");
  EXPECT_EQ(s.sim.connection_count(domain), 0u);
}

TEST(RequestHardening, DeeplyNestedJsonIsMalformedSayingWhy) {
  served s;
  auto request = chat_request("sim-model", false);
  request.body = R"({"model":"sim-model","x":)" + std::string(300, '[') + std::string(300, ']') + "}";
  const auto r = http_exchange(s.proxy.port(), request);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(error_code_of(r), "malformed_request");
  EXPECT_NE(r.body.find("deeper than"), std::string::npos) << r.body;
}

TEST(RequestHardening, JsonNestedFortyLevelsStillRoutesByModel) {
  served s;
  auto request = chat_request("sim-model", false);
  request.body = R"({"model":"sim-model","tools":)" + std::string(40, '[') + std::string(40, ']') + "}";
  const auto r = http_exchange(s.proxy.port(), request);
  // Routed and forwarded (the simulator's own JSON parser then refuses 40 levels).
  EXPECT_EQ(s.sim.request_bodies(domain), std::vector<std::string>{request.body}) << r.body;
}

TEST(RequestHardening, BodyThatIsNotJsonIsMalformedNotMissingModel) {
  served s;
  auto request = chat_request("sim-model", false);
  request.body = R"({"model":"sim-model",)";
  const auto r = http_exchange(s.proxy.port(), request);
  EXPECT_EQ(r.status, 400u);
  EXPECT_EQ(error_code_of(r), "malformed_request");
}

// ---------------------------------------------------------------------------------------
// Expect: 100-continue only for requests that will be read.

TEST(RequestHardening, ExpectContinueOnARefusedRequestGetsTheFinalStatusInstead) {
  served s;
  http_test_client client(s.proxy.port());
  const auto r = client.send_raw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Backend-Domain: evil.example.com\r\n"
      "Expect: 100-continue\r\nContent-Length: 10\r\n\r\n");
  EXPECT_EQ(r.status, 403u);  // not 100
  EXPECT_EQ(error_code_of(r), "domain_not_allowed");
  EXPECT_FALSE(r.keep_alive);
}

// ---------------------------------------------------------------------------------------
// Slow clients: the header section has its own deadline, the body a per-read one.

TEST(RequestHardening, HeaderSectionTricklingPastItsDeadlineIs408) {
  sim::simulator sim{harness_options()};
  running_proxy proxy(sim, [](server::proxy_config& c) { c.timeouts.client_header = 300ms; });
  http_test_client client(proxy.port());
  ASSERT_EQ(client.write_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"), "");
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(50ms);  // the slowloris pace, not a synchronisation
    ASSERT_EQ(client.write_raw("X-A: b\r\n"), "");
  }
  const auto r = client.read_response();
  EXPECT_EQ(r.status, 408u) << r.error;
  EXPECT_EQ(error_code_of(r), "request_timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
}

TEST(RequestHardening, IdleKeepAliveConnectionIsClosedQuietly) {
  sim::simulator sim{harness_options()};
  running_proxy proxy(sim, [](server::proxy_config& c) { c.timeouts.client_keep_alive = 200ms; });
  http_test_client client(proxy.port(), 10s);
  ASSERT_EQ(client.write_raw(""), "");
  EXPECT_TRUE(client.closed_by_peer(5s));  // no 408 for a connection that never asked
}

TEST(RequestHardening, BodyThatStopsArrivingIs408) {
  sim::simulator sim{harness_options()};
  running_proxy proxy(sim, [](server::proxy_config& c) { c.timeouts.client_body = 300ms; });
  http_test_client client(proxy.port());
  const auto r = client.send_raw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Backend-Domain: sim.completions.near.ai\r\n"
      "Content-Length: 100\r\n\r\n{\"model\":");
  EXPECT_EQ(r.status, 408u) << r.error;
  EXPECT_EQ(error_code_of(r), "request_timeout");
  EXPECT_EQ(sim.connection_count(domain), 0u);
}

// ---------------------------------------------------------------------------------------
// One memory budget for all request bodies.

TEST(RequestHardening, BodiesOverTheMemoryBudgetAre503UntilItIsFreed) {
  sim::simulator sim{harness_options()};
  running_proxy proxy(sim, [](server::proxy_config& c) {
    c.max_body = 48 * 1024;
    c.max_buffered_bodies = 64 * 1024;
  });
  const std::string body = R"({"model":"sim-model","messages":[],"pad":")" + std::string(40'000, 'p') + "\"}";
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           "Content-Length: " +
                           std::to_string(body.size()) + "\r\n\r\n";
  http_test_client holder(proxy.port());
  ASSERT_EQ(holder.write_raw(head + body.substr(0, 100)), "");  // leased whole on its header

  // Until the holder's lease is taken the second request could still fit: wait for it.
  client_response second;
  for (int attempt = 0; attempt < 200; ++attempt) {
    http_test_client other(proxy.port());
    second = other.send_raw(head + body);
    if (second.status == 503) break;
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(second.status, 503u) << second.body;
  EXPECT_EQ(error_code_of(second), "body_memory_exhausted");
  EXPECT_TRUE(second.header("Retry-After").has_value());

  ASSERT_EQ(holder.write_raw(body.substr(100)), "");
  const auto first = holder.read_response();
  EXPECT_EQ(first.status, 200u) << first.body;
  const auto third = http_exchange(proxy.port(), client_request{"POST", "/v1/chat/completions",
                                                                {{"Content-Type", "application/json"}}, body});
  EXPECT_EQ(third.status, 200u) << third.body;  // the lease was returned
}

TEST(RequestHardening, ChunkedBodyOutgrowingTheBudgetIs503) {
  sim::simulator sim{harness_options()};
  running_proxy proxy(sim, [](server::proxy_config& c) {
    c.max_body = 1 << 20;
    c.max_buffered_bodies = 1 << 20;
  });
  http_test_client client(proxy.port());
  std::string bytes = chunked_head();
  const std::string piece(64 * 1024, 'x');
  std::ostringstream size;
  size << std::hex << piece.size();
  for (int i = 0; i < 24; ++i) bytes += size.str() + "\r\n" + piece + "\r\n";  // 1.5 MiB
  bytes += "0\r\n\r\n";
  // max_body is not what stops it here: the whole budget equals max_body and the string
  // that holds a growing body reserves ahead of its size.
  const auto r = client.send_raw(bytes);
  EXPECT_TRUE(r.status == 503u || r.status == 413u) << r.status << r.error;
  EXPECT_EQ(sim.connection_count(domain), 0u);
}

// ---------------------------------------------------------------------------------------
// A client that leaves while the backend is attested.

TEST(RequestHardening, ClientLeavingDuringTheAttestationIsNotForwarded) {
  sim::simulator_options o = harness_options();
  o.domains[0].faults.attestation_delay = 400ms;
  sim::simulator sim(o);
  running_proxy proxy(sim);
  {
    http_test_client client(proxy.port());
    const auto request = chat_request("sim-model", false);
    ASSERT_EQ(client.write_raw("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                               "Content-Length: " +
                               std::to_string(request.body.size()) + "\r\n\r\n" + request.body),
              "");
    for (int i = 0; i < 500 && sim.attestation_count(domain) == 0; ++i) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(sim.attestation_count(domain), 1u);
  }  // closed while the attestation answer is delayed
  // The verified connection goes to the pool once the proxy has seen the client leave.
  for (int i = 0; i < 500 && proxy.statistics().idle_upstream == 0; ++i) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(proxy.statistics().idle_upstream, 1u);
  EXPECT_EQ(sim.request_count(domain), 0u);
}

}  // namespace
}  // namespace vp::test
