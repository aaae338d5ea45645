// Many concurrent streams through the proxy, then a check that every descriptor they used
// was given back: a leak of one socket per request would exhaust a long-running proxy.

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <latch>
#include <thread>
#include <vector>

#include "server/proxy_harness.hpp"
#include "support/http_test_client.hpp"

namespace vp::test {
namespace {

using namespace std::chrono_literals;

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

std::size_t events(std::string_view sse) {
  std::size_t n = 0;
  for (std::size_t at = 0; (at = sse.find("data: ", at)) != std::string_view::npos; at += 6) ++n;
  return n;
}

template <class Predicate>
bool eventually(Predicate done) {
  for (int i = 0; i < 1000; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

TEST(ProxySoak, ThousandConcurrentStreamsCompleteAndDescriptorsReturnToBaseline) {
  constexpr int streams = 1000;
  const std::size_t before_start = open_descriptors();
  {
    sim::simulator_options o = harness_options();
    o.stream_tokens = 20;
    o.token_delay = 20ms;
    sim::simulator sim(o);
    running_proxy proxy(sim);
    const auto reference = http_exchange(proxy.port(), chat_request("sim-model", true));
    ASSERT_EQ(reference.status, 200u) << reference.body;
    const std::size_t baseline = open_descriptors();

    std::atomic<int> intact{0};
    std::latch start(streams);
    std::vector<std::thread> clients;
    clients.reserve(streams);
    for (int i = 0; i < streams; ++i) {
      clients.emplace_back([&] {
        // Connected first, all released together: the streams overlap for most of their
        // duration (a stream takes 20 tokens × 20 ms).
        http_test_client client(proxy.port());
        ASSERT_EQ(client.write_raw(""), "");
        start.arrive_and_wait();
        const auto r = client.send(chat_request("sim-model", true));
        if (r.status == 200 && r.complete && events(r.body) == events(reference.body) &&
            r.body.ends_with("data: [DONE]\n\n")) {
          ++intact;
        }
      });
    }
    for (auto& t : clients) t.join();
    EXPECT_EQ(intact.load(), streams);

    // Every client connection is closed; what stays open is the pool of verified upstream
    // connections (both ends of each live in this process), bounded by its size.
    ASSERT_TRUE(eventually([&] { return proxy.statistics().client_connections == 0; }));
    const std::size_t pooled = proxy.statistics().idle_upstream;
    EXPECT_LE(pooled, static_cast<std::size_t>(streams)) << "at most one per stream that finished";
    EXPECT_TRUE(eventually([&] { return open_descriptors() <= baseline + 2 * pooled; }))
        << open_descriptors() << " open, baseline " << baseline << ", pooled " << pooled;
  }
  EXPECT_TRUE(eventually([&] { return open_descriptors() <= before_start; }))
      << open_descriptors() << " open after stopping, " << before_start << " before starting";
}

}  // namespace
}  // namespace vp::test
