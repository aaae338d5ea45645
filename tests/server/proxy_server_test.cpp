// End-to-end: the proxy server in-process against the simulator (a fake NEAR deployment
// with a test DCAP PKI) on 127.0.0.1. Issue #5 "End-to-end tests".

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <charconv>
#include <future>
#include <mutex>
#include <thread>

#include "core/log.hpp"
#include "net/spawn.hpp"
#include "policy/policy.hpp"
#include "server/proxy_harness.hpp"
#include "support/http_test_client.hpp"
#include "support/run_bounded.hpp"

namespace vp::test {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr std::string_view domain = "sim.completions.near.ai";

/// The SSE data lines of a streamed body.
std::vector<std::string> sse_events(std::string_view body) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string_view::npos) {
    const auto end = body.find("\n\n", at);
    if (end == std::string_view::npos) break;
    out.emplace_back(body.substr(at + 6, end - at - 6));
    at = end + 2;
  }
  return out;
}

/// Log lines written, by any thread, while it lives. Declared before the proxy, so that it
/// outlives the proxy's last line.
class log_capture {
 public:
  log_capture() {
    log::set_sink([this](std::string_view line) {
      const std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    });
  }
  ~log_capture() { log::set_sink({}); }
  log_capture(const log_capture&) = delete;
  log_capture& operator=(const log_capture&) = delete;

  std::vector<std::string> matching(std::string_view needle) const {
    const std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& l : lines_) {
      if (l.find(needle) != std::string::npos) out.push_back(l);
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

/// Polls `condition` until it holds or `within` has passed.
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds within = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

sim::simulator_options one_backend(sim::backend_faults faults = {}, unsigned tokens = 8) {
  sim::simulator_options o = harness_options();
  o.domains[0].faults = faults;
  o.stream_tokens = tokens;
  return o;
}


// ---------------------------------------------------------------------------------------
// Happy paths

TEST(ProxyEndToEnd, ChatCompletionRoutedByModelIsAttestedThenForwarded) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim);
  auto request = chat_request("sim-model", false, "the prompt");
  request.headers.emplace_back("Connection", "keep-alive, X-Hop");
  request.headers.emplace_back("X-Hop", "hop-only");
  request.headers.emplace_back("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0");
  request.headers.emplace_back("X-End-To-End", "kept");
  const auto r = http_exchange(proxy.port(), request);
  ASSERT_EQ(r.status, 200u) << r.body << r.error;
  EXPECT_TRUE(r.complete);
  EXPECT_NE(r.body.find("chat.completion"), std::string::npos) << r.body;
  EXPECT_EQ(sim.attestation_count(domain), 1u);
  EXPECT_EQ(sim.request_count(domain), 1u);

  const auto headers = sim.request_headers(domain);
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_EQ(find_header(headers[0], "Host"), std::optional<std::string_view>(domain));
  EXPECT_EQ(find_header(headers[0], "Authorization"), std::optional<std::string_view>("Bearer sk-test-secret"));
  EXPECT_EQ(find_header(headers[0], "X-End-To-End"), std::optional<std::string_view>("kept"));
  EXPECT_FALSE(find_header(headers[0], "X-Hop"));
  EXPECT_FALSE(find_header(headers[0], "Proxy-Authorization"));
  EXPECT_FALSE(find_header(headers[0], "X-Backend-Domain"));
  EXPECT_EQ(sim.request_bodies(domain), std::vector<std::string>{request.body});
}

TEST(ProxyEndToEnd, BackendDomainHeaderRoutesAnyPathWithoutAModel) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim);
  client_request request;
  request.target = "/v1/models";
  request.headers = {{"X-Backend-Domain", std::string(domain)}, {"Authorization", "Bearer sk-test-secret"}};
  const auto r = http_exchange(proxy.port(), request);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(sim.request_count(domain), 1u);  // answered by the backend, not locally
  const auto headers = sim.request_headers(domain);
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_FALSE(find_header(headers[0], "X-Backend-Domain"));
}

TEST(ProxyEndToEnd, ModelsAreListedLocallyFromTheDiscoveryList) {
  sim::simulator_options o = harness_options();
  o.domains[0].models = {"sim-model", "other-model"};
  sim::simulator sim(o);
  const auto seconds_now = [] {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
  };
  const auto before = seconds_now();
  running_proxy proxy(sim);
  client_request request;
  request.target = "/v1/models";
  const auto r = http_exchange(proxy.port(), request);
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto v = json::parse(r.body);
  EXPECT_EQ(v.at("object"), "list");
  ASSERT_EQ(v.at("data").as_array().size(), 2u);
  EXPECT_EQ(v.at("data").at(0).at("id"), "sim-model");
  EXPECT_EQ(v.at("data").at(1).at("object"), "model");
  // `created` like OpenAI's: Unix seconds, here the time the discovery list was fetched.
  const auto created = v.at("data").at(0).at("created").as_int64();
  EXPECT_GE(created, before);
  EXPECT_LE(created, seconds_now());
  EXPECT_EQ(sim.connection_count(domain), 0u);  // no backend involved
}

TEST(ProxyEndToEnd, StreamedAnswerArrivesEventByEvent) {
  auto o = one_backend({}, 6);
  o.token_delay = 150ms;
  sim::simulator sim(o);
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", true));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(r.header("Content-Type").value_or(""), "text/event-stream");
  const auto events = sse_events(r.body);
  ASSERT_EQ(events.size(), 7u) << r.body;  // 6 tokens + [DONE]
  EXPECT_EQ(events.back(), "[DONE]");
  // Buffering the answer whole would deliver it in one burst at the end; relayed event by
  // event, the pieces are spread over the generation (5 gaps of 150 ms; half is plenty).
  ASSERT_GE(r.pieces.size(), 3u);
  EXPECT_GE(r.pieces.back().first - r.pieces.front().first, 350ms);
}

TEST(ProxyEndToEnd, KeepAliveReusesTheVerifiedUpstreamConnection) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim);
  http_test_client client(proxy.port());
  for (int i = 0; i < 5; ++i) {
    const auto r = client.send(chat_request("sim-model", i % 2 == 0));
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_TRUE(r.keep_alive);
  }
  // A second client connection reuses the pooled upstream connection too.
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
  EXPECT_EQ(sim.attestation_count(domain), 1u);
  EXPECT_EQ(sim.connection_count(domain), 1u);
  EXPECT_EQ(sim.request_count(domain), 6u);
  EXPECT_EQ(proxy.statistics().upstream_connections, 1u);
}

TEST(ProxyEndToEnd, HundredConcurrentFirstRequestsShareOneAttestation) {
  auto o = one_backend();
  o.domains[0].faults.attestation_delay = 200ms;  // keep the first attestation in flight
  sim::simulator sim(o);
  running_proxy proxy(sim);
  std::vector<std::future<client_response>> results;
  for (int i = 0; i < 100; ++i) {
    results.push_back(
        std::async(std::launch::async, [&] { return http_exchange(proxy.port(), chat_request("sim-model", false)); }));
  }
  for (auto& f : results) EXPECT_EQ(f.get().status, 200u);
  EXPECT_EQ(sim.attestation_count(domain), 1u);
  EXPECT_EQ(proxy.statistics().attestations, 1u);
  EXPECT_EQ(sim.request_count(domain), 100u);
}

TEST(ProxyEndToEnd, EveryConnectionOfAWaveOfConcurrentRequestsServesTheNextWave) {
  auto o = one_backend();
  o.domains[0].faults.answer_delay = 300ms;  // the requests of a wave overlap
  sim::simulator sim(o);
  running_proxy proxy(sim);
  constexpr std::size_t wave = 48;  // beyond what a small per-domain cap would keep
  const auto run_wave = [&] {
    std::vector<std::future<client_response>> results;
    for (std::size_t i = 0; i < wave; ++i) {
      results.push_back(
          std::async(std::launch::async, [&] { return http_exchange(proxy.port(), chat_request("sim-model", false)); }));
    }
    for (auto& f : results) EXPECT_EQ(f.get().status, 200u);
  };
  run_wave();
  // Each request of the first wave found the pool empty and opened its own connection;
  // every one of them goes back to the pool, none is evicted.
  EXPECT_EQ(proxy.statistics().upstream_connections, wave);
  EXPECT_TRUE(eventually([&] { return proxy.statistics().idle_upstream == wave; }))
      << proxy.statistics().idle_upstream << " idle";
  run_wave();
  EXPECT_EQ(proxy.statistics().upstream_connections, wave) << "the second wave needed no new connection";
  EXPECT_EQ(sim.attestation_count(domain), 1u);
}

TEST(ProxyEndToEnd, TwoHundredConcurrentStreamsCompleteIntact) {
  auto o = one_backend({}, 20);
  o.token_delay = 5ms;
  sim::simulator sim(o);
  running_proxy proxy(sim);
  const auto reference = http_exchange(proxy.port(), chat_request("sim-model", true));
  ASSERT_EQ(reference.status, 200u);
  const auto expected = sse_events(reference.body);
  ASSERT_EQ(expected.size(), 21u);

  std::atomic<int> intact{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 200; ++i) {
    threads.emplace_back([&] {
      const auto r = http_exchange(proxy.port(), chat_request("sim-model", true));
      if (r.status == 200 && r.complete && sse_events(r.body).size() == expected.size() &&
          sse_events(r.body).back() == "[DONE]") {
        ++intact;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(intact.load(), 200);
  EXPECT_EQ(sim.attestation_count(domain), 1u);
}

// ---------------------------------------------------------------------------------------
// Ordering: nothing of the client's request before the verdict

TEST(ProxyEndToEnd, BackendReceivesOnlyTheAttestationRequestBeforeTheVerdict) {
  auto o = one_backend();
  o.domains[0].faults.attestation_delay = 300ms;  // time for a proxy that pipelines to do so
  sim::simulator sim(o);
  running_proxy proxy(sim);
  auto request = chat_request("sim-model", false, "SECRET-PROMPT-MARKER");
  const auto r = http_exchange(proxy.port(), request);
  ASSERT_EQ(r.status, 200u) << r.body;

  const auto records = sim.connections(domain);
  ASSERT_EQ(records.size(), 1u);
  const auto& c = records[0];
  ASSERT_TRUE(c.received_when_first_response_began.has_value());
  const std::string before = c.received.substr(0, *c.received_when_first_response_began);
  EXPECT_TRUE(before.starts_with("GET /v1/attestation/report?include_tls_fingerprint=true&nonce=")) << before;
  EXPECT_EQ(before.find("SECRET-PROMPT-MARKER"), std::string::npos);
  EXPECT_EQ(before.find("Authorization"), std::string::npos);
  EXPECT_EQ(before.find("sk-test-secret"), std::string::npos);
  EXPECT_EQ(before.find("/v1/chat/completions"), std::string::npos);
  EXPECT_EQ(before.find("\r\n\r\n"), before.size() - 4) << "exactly one request before the answer";
  // …and afterwards the client's request on the same connection.
  EXPECT_NE(c.received.find("SECRET-PROMPT-MARKER", before.size()), std::string::npos);
  ASSERT_EQ(c.request_targets.size(), 2u);
  EXPECT_EQ(c.request_targets[1], "/v1/chat/completions");
}

TEST(ProxyEndToEnd, NothingOfTheRequestReachesABackendThatFailsVerification) {
  sim::simulator sim(one_backend({.wrong_nonce = true}));
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, "SECRET-PROMPT-MARKER"));
  EXPECT_EQ(r.status, 502u);
  const auto records = sim.connections(domain);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].request_targets.size(), 1u);
  EXPECT_EQ(records[0].received.find("SECRET-PROMPT-MARKER"), std::string::npos);
  EXPECT_EQ(records[0].received.find("sk-test-secret"), std::string::npos);
  EXPECT_EQ(sim.request_count(domain), 0u);
}

// ---------------------------------------------------------------------------------------
// Every fault switch is refused with the right status and check

struct fault_case {
  const char* name;
  sim::backend_faults faults;
  std::vector<std::string> codes;  ///< acceptable error codes
};

class ProxyFaults : public ::testing::TestWithParam<fault_case> {};

TEST_P(ProxyFaults, AreRefusedWithTheFailedCheck) {
  sim::simulator sim(one_backend(GetParam().faults));
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 502u) << r.body;
  const auto code = error_code_of(r);
  EXPECT_NE(std::find(GetParam().codes.begin(), GetParam().codes.end(), code), GetParam().codes.end())
      << "code " << code << ": " << r.body;
  EXPECT_EQ(error_of(r).at("type"), "attestation_error");
  EXPECT_EQ(r.header("x-should-retry").value_or(""), "false");
  EXPECT_EQ(sim.request_count(domain), 0u);
  EXPECT_FALSE(error_message_of(r).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Switches, ProxyFaults,
    ::testing::Values(
        fault_case{"wrong_fingerprint", {.wrong_fingerprint = true}, {"fingerprint_mismatch", "report_data_binding"}},
        fault_case{"wrong_nonce", {.wrong_nonce = true}, {"nonce_mismatch"}},
        fault_case{"untrusted_root", {.untrusted_root = true}, {"untrusted_chain", "untrusted_root"}},
        fault_case{"revoked_pck", {.revoked_pck = true}, {"pck_revoked", "certificate_revoked"}},
        fault_case{"out_of_date_tcb", {.out_of_date_tcb = true}, {"tcb_status"}},
        fault_case{"debug_td", {.debug_td = true}, {"debug_td", "td_debug"}},
        fault_case{"oversized", {.oversized_attestation = true}, {"report_too_large"}}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(ProxyEndToEnd, OutOfDateRefusalNamesTheTcbStatus) {
  sim::simulator sim(one_backend({.out_of_date_tcb = true}));
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 502u);
  EXPECT_NE(error_message_of(r).find("OutOfDate"), std::string::npos) << r.body;
}

TEST(ProxyEndToEnd, BuiltInNearaiPolicyRefusesAGenuineTdxMachineRunningOtherSoftware) {
  // The simulator's quotes are genuine for its (trusted) test PKI and bound correctly:
  // only the workload policy can tell that it is not NEAR's software.
  sim::simulator sim(one_backend());
  running_proxy proxy(sim, {}, app::load_workload_policy("").policy);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_of(r).at("type"), "attestation_error");
  EXPECT_NE(error_message_of(r).find("workload policy 'nearai'"), std::string::npos) << r.body;
  EXPECT_EQ(sim.request_count(domain), 0u);
}

TEST(ProxyEndToEnd, PolicyPinningAnotherAppIdRefusesWithThatFactor) {
  sim::simulator sim(one_backend());
  const std::string policy_text =
      R"({"name":"other-app","model":{"app_id":["0000000000000000000000000000000000000000"]}})";
  ASSERT_TRUE(policy::parse_policy(policy_text)) << "the policy file format changed";
  temp_file file(policy_text, ".json");
  running_proxy proxy(sim, {}, app::load_workload_policy(file.path()).policy);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), "app_id") << r.body;
}

TEST(ProxyEndToEnd, FailedAttestationIsRememberedByTheNegativeCache) {
  sim::simulator sim(one_backend({.wrong_nonce = true}));
  running_proxy proxy(sim);
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 502u);
  const auto again = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(again.status, 502u);
  EXPECT_EQ(error_code_of(again), "nonce_mismatch");
  EXPECT_NE(error_message_of(again).find("ago"), std::string::npos) << again.body;
  EXPECT_EQ(sim.attestation_count(domain), 1u);
}

TEST(ProxyEndToEnd, HangingBackendTimesOutWith504) {
  sim::simulator sim(one_backend({.hang = true}));
  running_proxy proxy(sim, [](server::proxy_config& c) { c.timeouts.response_headers = 500ms; });
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 504u) << r.body;
  EXPECT_EQ(error_code_of(r), "response_headers_timeout");
  // The request had been sent: an SDK's automatic retry could start a second generation.
  EXPECT_EQ(r.header("x-should-retry").value_or(""), "false");
}

TEST(ProxyEndToEnd, AnAttestationLongerThanTheKeepAliveTimeoutStillAnswers) {
  // The keep-alive wait's deadline must end with the wait: the request that follows it is
  // attested for longer than that deadline.
  sim::simulator sim(one_backend({.attestation_delay = 600ms}));
  running_proxy proxy(sim, [](server::proxy_config& c) { c.timeouts.client_keep_alive = 200ms; });
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 200u) << r.error << r.body;
}

TEST(ProxyEndToEnd, SlowAttestationTimesOutWith504AndIsNotRemembered) {
  sim::simulator sim(one_backend({.attestation_delay = 1000ms}));
  running_proxy proxy(sim, [](server::proxy_config& c) { c.timeouts.attestation = 200ms; });
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 504u) << r.body;
  EXPECT_EQ(error_code_of(r), "attestation_timeout");
  // A timeout says nothing about the backend's key: the next request attests again.
  sim.set_faults(domain, 0, {});
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
  EXPECT_EQ(sim.attestation_count(domain), 2u);
}

TEST(ProxyEndToEnd, StreamSilentLongerThanTheIdleTimeoutIsCut) {
  auto o = one_backend({}, 5);
  o.token_delay = 600ms;
  sim::simulator sim(o);
  running_proxy proxy(sim, [](server::proxy_config& c) { c.timeouts.idle = 200ms; });
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", true));
  EXPECT_EQ(r.status, 200u);  // the headers had gone out
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
}

TEST(ProxyEndToEnd, SlowBackendStillAnswers) {
  sim::simulator sim(one_backend({.answer_delay = 300ms}));
  running_proxy proxy(sim);
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
}

TEST(ProxyEndToEnd, MidStreamDisconnectReachesTheClientAsATruncatedStream) {
  sim::simulator sim(one_backend({.disconnect_mid_stream = true}, 10));
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", true));
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(r.complete) << "a cut stream must not look complete";
  EXPECT_LT(sse_events(r.body).size(), 11u);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
  // The proxy stays usable.
  sim.set_faults(domain, 0, {});
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", true)).status, 200u);
}

TEST(ProxyEndToEnd, ClientGoingAwayCancelsTheUpstreamRequest) {
  auto o = one_backend({}, 40);
  o.token_delay = 50ms;
  sim::simulator sim(o);
  running_proxy proxy(sim);
  http_test_client client(proxy.port());
  const auto r = client.send(chat_request("sim-model", true), 1);
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(r.complete);
  // The backend stops generating soon after (the proxy closed its connection), far from
  // the 40 events it would have sent…
  std::this_thread::sleep_for(300ms);
  const auto records = sim.connections(domain);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_LT(records[0].stream_events_sent, 20u);
  // …and the cancelled upstream connection is not pooled: the next request needs a new one.
  EXPECT_EQ(proxy.statistics().idle_upstream, 0u);
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
  EXPECT_EQ(sim.connection_count(domain), 2u);
}

TEST(ProxyEndToEnd, CloseDelimitedAnswersAreRelayedWhole) {
  auto o = one_backend({.close_delimited = true}, 5);
  o.token_delay = 10ms;
  sim::simulator sim(o);
  running_proxy proxy(sim);
  http_test_client client(proxy.port());
  const auto plain = client.send(chat_request("sim-model", false));
  ASSERT_EQ(plain.status, 200u) << plain.body;
  EXPECT_TRUE(plain.complete);
  EXPECT_NE(plain.body.find("chat.completion"), std::string::npos);
  // The proxy re-frames it for an HTTP/1.1 client (chunked), so the client connection stays usable.
  EXPECT_EQ(plain.header("Transfer-Encoding").value_or(""), "chunked");
  EXPECT_TRUE(client.connected());
  const auto streamed = client.send(chat_request("sim-model", true));
  ASSERT_EQ(streamed.status, 200u);
  EXPECT_TRUE(streamed.complete);
  EXPECT_EQ(sse_events(streamed.body).size(), 6u);
  // The backend closed each connection: two connections, one attestation (same key).
  EXPECT_EQ(sim.connection_count(domain), 2u);
  EXPECT_EQ(sim.attestation_count(domain), 1u);
}

TEST(ProxyEndToEnd, SilentTlsPeerIsA504NamingTheTlsPhase) {
  // Accepts TCP and never speaks TLS.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor silent(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  sim::simulator sim(one_backend());
  const auto port = silent.local_endpoint().port();
  running_proxy proxy(sim, [&](server::proxy_config& c) {
    std::string error;
    c.connect_to = {*proxy::parse_connect_to(std::string(domain) + ":443:127.0.0.1:" + std::to_string(port), error)};
    c.timeouts.tls = 300ms;
  });
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 504u) << r.body;
  EXPECT_EQ(error_code_of(r), "tls_timeout");
}

// ---------------------------------------------------------------------------------------
// Hostile framing from backends: trailers no parser can store, bytes after a response

TEST(ProxyEndToEnd, HugeTrailerOnAnAnswerCutsItShortAndTheProxyKeepsServing) {
  // A trailer field over 64 KiB used to throw out of Beast's parser and end the process.
  sim::simulator sim(one_backend({.huge_trailer_on_answers = true}, 4));
  running_proxy proxy(sim);
  const auto contained = net::contained_exception_count();
  for (const bool stream : {false, true}) {
    const auto r = http_exchange(proxy.port(), chat_request("sim-model", stream));
    // The headers had gone out before the trailer arrived: the answer is cut short.
    EXPECT_EQ(r.status, 200u) << r.body << r.error;
    EXPECT_FALSE(r.complete) << "stream=" << stream;
  }
  sim.set_faults(domain, 0, {});
  const auto next = http_exchange(proxy.port(), chat_request("sim-model", false, "after-the-trailer"));
  EXPECT_EQ(next.status, 200u) << next.body;
  EXPECT_TRUE(next.complete);
  EXPECT_NE(next.body.find("after-the-trailer"), std::string::npos) << next.body;
  EXPECT_EQ(net::contained_exception_count(), contained) << "the parser threw";
  // The connections that carried the broken answers were not pooled.
  EXPECT_EQ(sim.connection_count(domain), 3u);
}

TEST(ProxyEndToEnd, HugeTrailerOnTheAttestationAnswerIsA502AndNothingIsForwarded) {
  sim::simulator sim(one_backend({.huge_trailer_on_attestation = true}));
  running_proxy proxy(sim);
  const auto contained = net::contained_exception_count();
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, "SECRET-PROMPT-MARKER"));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), "backend_unreachable");
  EXPECT_NE(error_message_of(r).find("malformed attestation answer"), std::string::npos) << r.body;
  EXPECT_EQ(sim.request_count(domain), 0u);
  for (const auto& c : sim.connections(domain)) {
    EXPECT_EQ(c.received.find("SECRET-PROMPT-MARKER"), std::string::npos);
    EXPECT_EQ(c.request_targets.size(), 1u);
  }
  sim.set_faults(domain, 0, {});
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
  EXPECT_EQ(net::contained_exception_count(), contained) << "the parser threw";
}

struct leftover_case {
  const char* name;
  sim::backend_faults faults;
  bool head_first = false;  ///< the first client sends HEAD
};

void PrintTo(const leftover_case& c, std::ostream* os) { *os << c.name; }

class ProxyLeftoverBytes : public ::testing::TestWithParam<leftover_case> {};

client_request head_models() {
  client_request r;
  r.method = "HEAD";
  r.target = "/v1/models";
  r.headers = {{"X-Backend-Domain", std::string(domain)}};
  return r;
}

TEST_P(ProxyLeftoverBytes, NeverReachTheNextClientAndThePoisonedConnectionIsNotReused) {
  const auto& c = GetParam();
  sim::simulator sim(one_backend(c.faults));
  running_proxy proxy(sim);
  const auto first =
      http_exchange(proxy.port(), c.head_first ? head_models() : chat_request("sim-model", false, "client-1"));
  ASSERT_EQ(first.status, 200u) << first.body << first.error;
  EXPECT_TRUE(first.complete);
  if (c.head_first) {
    EXPECT_TRUE(first.body.empty()) << "a HEAD answer has no body";
  } else {
    EXPECT_NE(first.body.find("\"sim_prompt_echo\":\"client-1\""), std::string::npos) << first.body;
  }
  if (c.faults.unsolicited_while_idle.count() != 0) {
    ASSERT_TRUE(eventually([&] { return sim.unsolicited_count(domain) == 1; }));
  }

  // Another client, after the first one finished: it must get its own answer.
  const auto second = http_exchange(proxy.port(), chat_request("sim-model", false, "client-2"));
  ASSERT_EQ(second.status, 200u) << second.body << second.error;
  EXPECT_TRUE(second.complete);
  EXPECT_NE(second.body.find("\"sim_prompt_echo\":\"client-2\""), std::string::npos) << second.body;
  EXPECT_EQ(second.body.find("INJECTED"), std::string::npos) << second.body;
  EXPECT_FALSE(second.header("X-Sim-Injected"));

  // The poisoned connection carried nothing more: the second answer came on a new one,
  // admitted by the key's remembered verdict.
  EXPECT_EQ(sim.connection_count(domain), 2u);
  EXPECT_EQ(proxy.statistics().upstream_connections, 2u);
  EXPECT_EQ(sim.attestation_count(domain), 1u);
  const auto records = sim.connections(domain);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].request_targets.size(), c.faults.unsolicited_after_attestation ? 1u : 2u);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, ProxyLeftoverBytes,
    ::testing::Values(leftover_case{"extra_bytes", {.extra_bytes_after_response = true}},
                      leftover_case{"second_response", {.second_response_appended = true}},
                      leftover_case{"unsolicited_after_attestation", {.unsolicited_after_attestation = true}},
                      leftover_case{"unsolicited_while_idle", {.unsolicited_while_idle = 50ms}},
                      leftover_case{"head_with_body", {.head_with_body = true}, true}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(ProxyEndToEnd, HeadAnswerWithoutABodyLeavesTheConnectionPooled) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim);
  const auto head = http_exchange(proxy.port(), head_models());
  ASSERT_EQ(head.status, 200u) << head.error;
  EXPECT_TRUE(head.body.empty());
  EXPECT_NE(head.header("Content-Length").value_or("0"), "0") << "the GET body's length";
  const auto next = http_exchange(proxy.port(), chat_request("sim-model", false, "after-head"));
  ASSERT_EQ(next.status, 200u) << next.body;
  EXPECT_NE(next.body.find("after-head"), std::string::npos);
  EXPECT_EQ(sim.connection_count(domain), 1u);
}

// ---------------------------------------------------------------------------------------
// Keys: rotation, round-robin

TEST(ProxyEndToEnd, CertificateRotationTriggersAttestationOfTheNewKey) {
  sim::simulator sim(one_backend({.rotate_every = 2}));
  running_proxy proxy(sim, [](server::proxy_config& c) { c.pool_max_connections = 0; });
  std::set<std::string> keys;
  for (int i = 0; i < 6; ++i) {
    keys.insert(sim.spki_sha256_hex(domain, 0));
    const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
    ASSERT_EQ(r.status, 200u) << "request " << i << ": " << r.body;
  }
  EXPECT_EQ(keys.size(), 3u);
  EXPECT_EQ(sim.attestation_count(domain), 3u);  // once per key, never wedged
}

TEST(ProxyEndToEnd, RoundRobinBackendsAreEachVerified) {
  sim::simulator_options o = harness_options();
  o.domains[0].instances = 2;
  o.domains[0].faults.attestation_delay = 100ms;
  sim::simulator sim(o);
  running_proxy proxy(sim);
  auto a =
      std::async(std::launch::async, [&] { return http_exchange(proxy.port(), chat_request("sim-model", false)); });
  auto b =
      std::async(std::launch::async, [&] { return http_exchange(proxy.port(), chat_request("sim-model", false)); });
  EXPECT_EQ(a.get().status, 200u);
  EXPECT_EQ(b.get().status, 200u);
  EXPECT_EQ(sim.attestation_count(domain), 2u);
  std::set<std::string> attested;
  for (const auto& c : sim.connections(domain)) {
    if (!c.request_targets.empty() && c.request_targets[0].starts_with("/v1/attestation/report")) {
      attested.insert(c.spki_sha256_hex);
    }
  }
  EXPECT_EQ(attested, (std::set<std::string>{sim.spki_sha256_hex(domain, 0), sim.spki_sha256_hex(domain, 1)}));
}

TEST(ProxyEndToEnd, ExpiredVerdictIsNotUsedForPooledConnections) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim, [](server::proxy_config& c) { c.attestation_ttl = std::chrono::seconds(0); });
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
  // Without a remembered verdict nothing is pooled: every request attests its connection.
  EXPECT_EQ(sim.attestation_count(domain), 2u);
}

// ---------------------------------------------------------------------------------------
// TLS session resumption on new upstream connections

/// Three requests, each on a new upstream connection (nothing pooled); which connections
/// the backend saw resumed, in order.
std::vector<bool> resumed_connections(const sim::simulator& sim, const std::function<void(server::proxy_config&)>& tweak) {
  running_proxy proxy(sim, [&](server::proxy_config& c) {
    c.pool_max_connections = 0;
    tweak(c);
  });
  for (int i = 0; i < 3; ++i) {
    const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
    EXPECT_EQ(r.status, 200u) << "request " << i << ": " << r.body;
  }
  std::vector<bool> out;
  for (const auto& c : sim.connections(domain)) out.push_back(c.tls_resumed);
  return out;
}

TEST(ProxyEndToEnd, NewUpstreamConnectionsResumeTheAttestedSessionAndAreAdmittedByItsVerdict) {
  sim::simulator sim(one_backend());
  EXPECT_EQ(resumed_connections(sim, [](server::proxy_config&) {}), (std::vector<bool>{false, true, true}));
  // One attestation, on the full handshake; the resumed connections carried the same key
  // and were admitted by its verdict.
  EXPECT_EQ(sim.attestation_count(domain), 1u);
  for (const auto& c : sim.connections(domain)) EXPECT_EQ(c.spki_sha256_hex, sim.spki_sha256_hex(domain, 0));
}

TEST(ProxyEndToEnd, WithoutAFreshVerdictOrWithResumptionOffEveryConnectionIsAFullHandshake) {
  {
    sim::simulator sim(one_backend());
    // No verdict is ever fresh: no session is offered, and every connection is attested.
    EXPECT_EQ(resumed_connections(sim, [](server::proxy_config& c) { c.attestation_ttl = std::chrono::seconds(0); }),
              (std::vector<bool>{false, false, false}));
    EXPECT_EQ(sim.attestation_count(domain), 3u);
  }
  {
    sim::simulator sim(one_backend());
    EXPECT_EQ(resumed_connections(sim, [](server::proxy_config& c) { c.tls_resumption = false; }),
              (std::vector<bool>{false, false, false}));
    EXPECT_EQ(sim.attestation_count(domain), 1u) << "the verdict still serves the new connections";
  }
}

// ---------------------------------------------------------------------------------------
// Refusals before any backend is contacted

TEST(ProxyEndToEnd, DomainOutsideTheAllowlistIsForbidden) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim);
  auto request = chat_request("sim-model", false);
  request.headers.emplace_back("X-Backend-Domain", "evil.example.com");
  const auto r = http_exchange(proxy.port(), request);
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(error_code_of(r), "domain_not_allowed");
  EXPECT_EQ(sim.connection_count(domain), 0u);
}

TEST(ProxyEndToEnd, MissingAndUnknownModelsAreBadRequests) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim);
  client_request no_model{"POST", "/v1/chat/completions", {{"Content-Type", "application/json"}}, "{\"messages\":[]}"};
  const auto a = http_exchange(proxy.port(), no_model);
  EXPECT_EQ(a.status, 400u);
  EXPECT_EQ(error_code_of(a), "missing_model");
  EXPECT_NE(error_message_of(a).find("X-Backend-Domain"), std::string::npos);
  const auto b = http_exchange(proxy.port(), chat_request("no-such-model", false));
  EXPECT_EQ(b.status, 400u);
  EXPECT_EQ(error_code_of(b), "model_not_found");
  EXPECT_EQ(sim.connection_count(domain), 0u);
}

TEST(ProxyEndToEnd, OversizedBodyIs413) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim, [](server::proxy_config& c) { c.max_body = 1024; });
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, std::string(4096, 'x')));
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(error_code_of(r), "request_too_large");
  EXPECT_EQ(sim.connection_count(domain), 0u);
}

TEST(ProxyEndToEnd, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim);
  const auto request = chat_request("sim-model", false);
  http_test_client client(proxy.port());
  const auto interim = client.send_raw(
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nExpect: 100-Continue\r\n"
      "Content-Length: " +
      std::to_string(request.body.size()) + "\r\n\r\n");
  EXPECT_EQ(interim.status, 100u);
  const auto final_response = client.send_raw(request.body);
  EXPECT_EQ(final_response.status, 200u) << final_response.body;
  const auto headers = sim.request_headers(domain);
  ASSERT_EQ(headers.size(), 1u);
  EXPECT_FALSE(find_header(headers[0], "Expect"));  // answered here, not passed on
}

TEST(ProxyEndToEnd, MalformedRequestIs400) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim);
  http_test_client client(proxy.port());
  const auto r = client.send_raw("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_EQ(r.status, 400u);
}

TEST(ProxyEndToEnd, UntrustedBackendCertificateIsRefusedUnlessWebPkiIsOff) {
  sim::simulator sim(one_backend());
  {
    running_proxy proxy(sim, [](server::proxy_config& c) { c.upstream_tls.ca_file.clear(); });  // system store
    const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
    EXPECT_EQ(r.status, 502u);
    EXPECT_EQ(error_code_of(r), "backend_unreachable");
    EXPECT_EQ(sim.attestation_count(domain), 0u);
  }
  running_proxy proxy(sim, [](server::proxy_config& c) {
    c.upstream_tls.ca_file.clear();
    c.upstream_tls.webpki = false;
  });
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
}

TEST(ProxyEndToEnd, UnreachableEndpointsListStillAllowsHeaderRouting) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim, [](server::proxy_config& c) { c.endpoints_url = "http://127.0.0.1:1/endpoints"; });
  const auto by_model = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(by_model.status, 502u);
  EXPECT_TRUE(error_message_of(by_model).starts_with("Nothing was sent: "));
  EXPECT_NE(error_message_of(by_model).find("the discovery list could not be fetched (GET http://127.0.0.1:1/endpoints"),
            std::string::npos)
      << by_model.body;
  auto by_header = chat_request("sim-model", false);
  by_header.headers.emplace_back("X-Backend-Domain", std::string(domain));
  EXPECT_EQ(http_exchange(proxy.port(), by_header).status, 200u);
}

// ---------------------------------------------------------------------------------------
// Connection limit

client_request models_request() {
  client_request r;
  r.target = "/v1/models";
  return r;
}

/// A chat request whose body is still being sent: its session is busy, not idle.
struct unfinished_request {
  std::string head;
  std::string body = chat_request("sim-model", false).body;
  unfinished_request() {
    head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n";
  }
  std::string first_part() const { return head + body.substr(0, 5); }
  std::string rest() const { return body.substr(5); }
};

TEST(ProxyConnectionLimit, IdleKeepAliveClientsMakeRoomLongestIdleFirst) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim, [](server::proxy_config& c) { c.max_client_connections = 4; });
  std::vector<std::unique_ptr<http_test_client>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<http_test_client>(proxy.port()));
    ASSERT_EQ(clients.back()->send(models_request()).status, 200u) << i;
  }
  // Client 0 asks again: client 1 is now the one idle the longest.
  ASSERT_EQ(clients[0]->send(models_request()).status, 200u);
  ASSERT_TRUE(eventually([&] { return proxy.statistics().idle_client_connections == 4; }));

  const auto r = http_exchange(proxy.port(), models_request());
  EXPECT_EQ(r.status, 200u) << r.error;
  EXPECT_TRUE(clients[1]->closed_by_peer(5s)) << "the longest idle client keeps its connection";
  ASSERT_TRUE(eventually([&] { return proxy.statistics().client_connections == 3; }));
  for (const std::size_t i : {0u, 2u, 3u}) EXPECT_FALSE(clients[i]->closed_by_peer(20ms)) << i;
}

TEST(ProxyConnectionLimit, BackendConnectionsCountAgainstTheDescriptorBudget) {
  sim::simulator sim(one_backend());
  // 4 descriptors: one pooled backend connection leaves 3 for clients, idle ones given up from there.
  running_proxy proxy(sim, [](server::proxy_config& c) {
    c.max_client_connections = 100;
    c.max_descriptors = 4;
  });
  std::vector<std::unique_ptr<http_test_client>> clients;
  clients.push_back(std::make_unique<http_test_client>(proxy.port()));
  ASSERT_EQ(clients.back()->send(chat_request("sim-model", false)).status, 200u);
  ASSERT_TRUE(eventually([&] { return proxy.statistics().idle_upstream == 1; }));
  for (int i = 1; i < 3; ++i) {
    clients.push_back(std::make_unique<http_test_client>(proxy.port()));
    ASSERT_EQ(clients.back()->send(models_request()).status, 200u) << i;
  }
  ASSERT_TRUE(eventually([&] { return proxy.statistics().idle_client_connections == 3; }));

  // 3 clients + 1 backend connection: a fourth client takes the place of the one idle longest.
  const auto r = http_exchange(proxy.port(), models_request());
  EXPECT_EQ(r.status, 200u) << r.error;
  EXPECT_TRUE(clients[0]->closed_by_peer(5s)) << "the backend connection's descriptor was not counted";
  for (const std::size_t i : {1u, 2u}) EXPECT_FALSE(clients[i]->closed_by_peer(20ms)) << i;
}

TEST(ProxyConnectionLimit, NoDescriptorLeftForABackendConnectionIsA503WithNothingSent) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim, [](server::proxy_config& c) {
    c.max_client_connections = 100;
    c.max_descriptors = 2;
  });
  const unfinished_request request;
  http_test_client busy(proxy.port());
  ASSERT_EQ(busy.write_raw(request.first_part()), "");
  ASSERT_TRUE(eventually([&] {
    const auto st = proxy.statistics();
    return st.client_connections == 1 && st.idle_client_connections == 0;
  }));
  // Two clients hold both descriptors and neither is idle: the second one's backend connection cannot be opened.
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  ASSERT_EQ(r.status, 503u) << r.error;
  EXPECT_EQ(error_code_of(r), "too_many_connections");
  EXPECT_NE(error_message_of(r).find("no backend connection can be opened"), std::string::npos) << r.body;
  EXPECT_EQ(sim.request_count(domain), 0u);
  EXPECT_EQ(sim.connection_count(domain), 0u);
}

TEST(ProxyConnectionLimit, WhenEveryConnectionIsBusyANewClientGetsA503) {
  sim::simulator sim(one_backend());
  running_proxy proxy(sim, [](server::proxy_config& c) { c.max_client_connections = 4; });
  const unfinished_request request;
  std::vector<std::unique_ptr<http_test_client>> busy;
  for (int i = 0; i < 4; ++i) {
    busy.push_back(std::make_unique<http_test_client>(proxy.port()));
    ASSERT_EQ(busy.back()->write_raw(request.first_part()), "");
  }
  ASSERT_TRUE(eventually([&] {
    const auto st = proxy.statistics();
    return st.client_connections == 4 && st.idle_client_connections == 0;
  }));

  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  ASSERT_EQ(r.status, 503u) << r.error;
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(error_code_of(r), "too_many_connections");
  EXPECT_EQ(error_of(r).at("type"), "server_error");
  EXPECT_NE(error_message_of(r).find("--max-connections"), std::string::npos) << r.body;
  EXPECT_EQ(r.header("Retry-After").value_or(""), "1");
  EXPECT_EQ(r.header("Connection").value_or(""), "close");
  EXPECT_NE(r.header("x-should-retry").value_or(""), "false");
  EXPECT_FALSE(r.keep_alive);
  EXPECT_EQ(sim.request_count(domain), 0u);

  // The busy clients were left alone: one that finishes its request is served.
  const auto served = busy[0]->send_raw(request.rest());
  EXPECT_EQ(served.status, 200u) << served.body;
  EXPECT_EQ(sim.request_count(domain), 1u);
}

/// The connections counted by "refused N client connection(s)" lines.
std::size_t refusals_logged(const log_capture& logs) {
  std::size_t total = 0;
  for (const auto& line : logs.matching("refused ")) {
    const auto at = line.find("refused ") + 8;
    std::size_t n = 0;
    std::from_chars(line.data() + at, line.data() + line.size(), n);
    total += n;
  }
  return total;
}

TEST(ProxyConnectionLimit, RefusalsAreSummarisedNotLoggedOneByOne) {
  log_capture logs;
  sim::simulator sim(one_backend());
  running_proxy proxy(sim, [](server::proxy_config& c) { c.max_client_connections = 1; });
  http_test_client busy(proxy.port());
  ASSERT_EQ(busy.write_raw(unfinished_request().first_part()), "");
  ASSERT_TRUE(eventually([&] {
    const auto st = proxy.statistics();
    return st.client_connections == 1 && st.idle_client_connections == 0;
  }));
  constexpr std::size_t refusals = 30;
  for (std::size_t i = 0; i < refusals; ++i) ASSERT_EQ(http_exchange(proxy.port(), models_request()).status, 503u);

  // The first at once, the rest in a summary within about a second.
  ASSERT_TRUE(eventually([&] { return refusals_logged(logs) == refusals; })) << refusals_logged(logs);
  const auto lines = logs.matching("refused ");
  EXPECT_LE(lines.size(), 3u);
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines.front().find("WARN  refused 1 client connection: 1 open (limit 1)"), std::string::npos)
      << lines.front();
  EXPECT_NE(lines.back().find(" client connections in the last "), std::string::npos) << lines.back();
}

// ---------------------------------------------------------------------------------------
// Shutdown

TEST(ProxyEndToEnd, GracefulStopLetsARunningStreamFinish) {
  auto o = one_backend({}, 10);
  o.token_delay = 50ms;
  sim::simulator sim(o);
  running_proxy proxy(sim);
  auto stream =
      std::async(std::launch::async, [&] { return http_exchange(proxy.port(), chat_request("sim-model", true)); });
  ASSERT_TRUE(sim.connection_count(domain) <= 1u);
  std::this_thread::sleep_for(150ms);  // the stream is under way
  auto stopped = proxy.begin_stop();
  const auto r = stream.get();
  EXPECT_EQ(r.status, 200u);
  EXPECT_TRUE(r.complete);
  EXPECT_EQ(sse_events(r.body).back(), "[DONE]");
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);
  EXPECT_FALSE(http_test_client(proxy.port()).send(chat_request("sim-model", false)).error.empty());
}

TEST(ProxyEndToEnd, ShutdownGraceExpiryCutsStreamsWithoutSystemErrorNoise) {
  log_capture logs;
  auto o = one_backend({}, 200);
  o.token_delay = 50ms;  // a 10 s stream, far longer than the grace
  sim::simulator sim(o);
  running_proxy proxy(sim, [](server::proxy_config& c) { c.shutdown_grace = std::chrono::seconds(1); });
  auto stream =
      std::async(std::launch::async, [&] { return http_exchange(proxy.port(), chat_request("sim-model", true)); });
  ASSERT_TRUE(eventually([&] {
    const auto records = sim.connections(domain);
    return !records.empty() && records.back().stream_events_sent >= 2;
  }));
  auto stopped = proxy.begin_stop();
  ASSERT_EQ(stream.wait_for(10s), std::future_status::ready);
  const auto r = stream.get();
  EXPECT_EQ(r.status, 200u);
  EXPECT_FALSE(r.complete);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
  EXPECT_EQ(stopped.wait_for(5s), std::future_status::ready);

  EXPECT_TRUE(logs.matching("Bad file descriptor").empty()) << logs.matching("Bad file descriptor").front();
  EXPECT_TRUE(logs.matching("Broken pipe").empty()) << logs.matching("Broken pipe").front();
  EXPECT_EQ(logs.matching("shutdown grace expired: closing 1 connection").size(), 1u);
  const auto cut = logs.matching("cut short");
  ASSERT_EQ(cut.size(), 1u);
  EXPECT_NE(cut[0].find("cut when the shutdown grace expired"), std::string::npos) << cut[0];
}

}  // namespace
}  // namespace vp::test
