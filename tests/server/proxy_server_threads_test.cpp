// The proxy on several shards (--threads): one io_context per thread, each with its own
// acceptor on the same port, sessions and upstream pool, sharing the attestation gate, the
// board, the model list and the connection limit. End-to-end through the in-process
// simulator on 127.0.0.1. `make tsan` runs these under ThreadSanitizer.

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "server/proxy_harness.hpp"
#include "support/http_test_client.hpp"

namespace vp::test {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view domain = "sim.completions.near.ai";

/// Polls `condition` until it holds or `within` has passed (generous: ThreadSanitizer
/// slows everything down several times).
template <class Condition>
bool eventually(Condition condition, std::chrono::milliseconds within = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

sim::simulator_options one_backend(unsigned tokens = 8) {
  sim::simulator_options o = harness_options();
  o.stream_tokens = tokens;
  return o;
}

running_proxy threaded_proxy(const sim::simulator& sim, std::size_t threads,
                             const std::function<void(server::proxy_config&)>& tweak = {}) {
  return running_proxy(sim, tweak, nullptr, {std::string(domain)}, nullptr, threads);
}

client_request get(std::string target) {
  client_request r;
  r.target = std::move(target);
  return r;
}

/// Events of a streamed body ("data: " lines), the last one "[DONE]" when it is whole.
std::size_t sse_event_count(std::string_view body) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = body.find("data: ", at)) != std::string_view::npos; at += 6) ++n;
  return n;
}

bool whole_stream(const client_response& r, unsigned tokens) {
  return r.status == 200 && r.complete && sse_event_count(r.body) == tokens + 1 &&
         r.body.find("data: [DONE]") != std::string::npos;
}

TEST(ProxyServerThreads, ServesKeepAliveClientsOnFourShardsWithOneAttestation) {
  constexpr unsigned tokens = 6;
  sim::simulator sim(one_backend(tokens));
  auto proxy = threaded_proxy(sim, 4);
  ASSERT_EQ(proxy.threads(), 4u);
  constexpr int clients = 32;
  constexpr int rounds = 4;
  std::vector<std::unique_ptr<http_test_client>> connections;
  for (int i = 0; i < clients; ++i) connections.push_back(std::make_unique<http_test_client>(proxy.port()));
  std::atomic<int> answered{0};
  std::vector<std::thread> threads;
  for (auto& c : connections) {
    threads.emplace_back([&, &client = *c] {
      for (int round = 0; round < rounds; ++round) {
        const bool stream = round % 2 == 1;
        const auto r = client.send(chat_request("sim-model", stream));
        if (stream ? whole_stream(r, tokens) : r.status == 200 && r.complete) ++answered;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(answered.load(), clients * rounds);
  EXPECT_EQ(sim.attestation_count(domain), 1u);
  EXPECT_EQ(sim.request_count(domain), static_cast<std::size_t>(clients * rounds));

  // The 32 keep-alive connections are idle now, spread by the kernel over the shards'
  // listening sockets (SO_REUSEPORT hashes each connection's addresses); the gauges add up.
  ASSERT_TRUE(eventually([&] { return proxy.statistics().idle_client_connections == clients; }));
  const auto st = proxy.statistics();
  EXPECT_EQ(st.client_connections, static_cast<std::size_t>(clients));
  EXPECT_GE(st.shards_serving, 2u);
  EXPECT_EQ(st.attestations, 1u);
  EXPECT_EQ(st.requests, static_cast<std::size_t>(clients * rounds));
  EXPECT_GE(st.idle_upstream, 1u);

  // The status endpoints gather every shard's gauges on that shard's own thread.
  const auto metrics = connections.front()->send(get("/_proxy/metrics"));
  ASSERT_EQ(metrics.status, 200u) << metrics.body;
  EXPECT_NE(metrics.body.find("verified_proxy_client_connections_open " + std::to_string(clients)), std::string::npos)
      << metrics.body.substr(0, 2000);
}

TEST(ProxyServerThreads, HundredFirstRequestsOnEightShardsMakeOneAttestation) {
  auto o = one_backend();
  o.domains[0].faults.attestation_delay = 100ms;  // keeps the first attestation in flight
  sim::simulator sim(o);
  auto proxy = threaded_proxy(sim, 8);
  constexpr int requests = 100;
  std::vector<std::future<client_response>> results;
  for (int i = 0; i < requests; ++i) {
    results.push_back(
        std::async(std::launch::async, [&] { return http_exchange(proxy.port(), chat_request("sim-model", false)); }));
  }
  int ok = 0;
  for (auto& f : results) ok += f.get().status == 200u ? 1 : 0;
  EXPECT_EQ(ok, requests);
  EXPECT_EQ(sim.attestation_count(domain), 1u);
  EXPECT_EQ(proxy.statistics().attestations, 1u);
  EXPECT_EQ(sim.request_count(domain), static_cast<std::size_t>(requests));
}

TEST(ProxyServerThreads, StopLetsTheStreamsOfEveryShardFinishThenRunsDoneOnce) {
  constexpr unsigned tokens = 10;
  auto o = one_backend(tokens);
  o.token_delay = 50ms;
  sim::simulator sim(o);
  auto proxy = threaded_proxy(sim, 4);
  // Attested first, so that every stream starts at once.
  ASSERT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
  constexpr int streams = 16;
  std::vector<std::future<client_response>> running;
  for (int i = 0; i < streams; ++i) {
    running.push_back(
        std::async(std::launch::async, [&] { return http_exchange(proxy.port(), chat_request("sim-model", true)); }));
  }
  ASSERT_TRUE(eventually([&] {
    std::size_t under_way = 0;
    for (const auto& c : sim.connections(domain)) under_way += c.stream_events_sent >= 1 ? 1 : 0;
    return under_way >= static_cast<std::size_t>(streams);
  }));
  ASSERT_GE(proxy.statistics().shards_serving, 2u);
  auto stopped = proxy.begin_stop();
  int whole = 0;
  for (auto& f : running) whole += whole_stream(f.get(), tokens) ? 1 : 0;
  EXPECT_EQ(whole, streams);
  EXPECT_EQ(stopped.wait_for(60s), std::future_status::ready);
  // Every shard stopped accepting.
  for (int i = 0; i < 8; ++i) {
    EXPECT_FALSE(http_test_client(proxy.port()).send(chat_request("sim-model", false)).error.empty()) << i;
  }
}

TEST(ProxyServerThreads, ConnectionLimitCountsTheConnectionsOfEveryShard) {
  sim::simulator sim(one_backend());
  auto proxy = threaded_proxy(sim, 4, [](server::proxy_config& c) { c.max_client_connections = 8; });
  // Requests whose bodies have not arrived yet: busy connections, never reclaimed.
  const std::string body = chat_request("sim-model", false).body;
  const std::string head = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  std::vector<std::unique_ptr<http_test_client>> busy;
  for (int i = 0; i < 8; ++i) {
    busy.push_back(std::make_unique<http_test_client>(proxy.port()));
    ASSERT_EQ(busy.back()->write_raw(head + body.substr(0, 5)), "");
  }
  ASSERT_TRUE(eventually([&] {
    const auto st = proxy.statistics();
    return st.client_connections == 8 && st.idle_client_connections == 0;
  }));
  EXPECT_GE(proxy.statistics().shards_serving, 2u);
  // Whichever shard a new client lands on, the limit is the whole proxy's.
  for (int i = 0; i < 12; ++i) {
    const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
    EXPECT_EQ(r.status, 503u) << i << " " << r.error;
    EXPECT_EQ(error_code_of(r), "too_many_connections") << i;
  }
  EXPECT_EQ(sim.request_count(domain), 0u);
  const auto served = busy[0]->send_raw(body.substr(5));
  EXPECT_EQ(served.status, 200u) << served.body;
  // A place freed on one shard can be taken on any.
  busy.clear();
  ASSERT_TRUE(eventually([&] { return proxy.statistics().client_connections == 0; }));
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
}

}  // namespace
}  // namespace vp::test
