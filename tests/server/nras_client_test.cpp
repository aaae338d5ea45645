// nras_client against a loopback stand-in for NVIDIA's attestation service: the payload
// goes out byte for byte, keys are fetched once and kept, a fresh set is fetched after an
// unknown kid at most once per cool-down, and every outage is a sentence, not an exception.

#include "server/nras_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>

#include "support/run_bounded.hpp"
#include "support/test_http_server.hpp"
#include "testpki/nvidia_pki.hpp"

namespace vp::server {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

class NrasClient : public ::testing::Test {
 protected:
  NrasClient()
      : service([this](const test::http_request_record& r) {
          test::scripted_response out;
          if (r.target == "/.well-known/jwks.json") {
            out.status = jwks_status;
            out.body = signer().jwks_json();
          } else if (r.target == "/v3/attest/gpu" && r.method == "POST") {
            out.status = attest_status;
            out.body = attest_status == 200 ? "answer to " + r.body : "{\"error\":\"overloaded\"}";
          } else {
            out.status = 404;
          }
          return out;
        }) {}

  static const test::fake_nras_signer& signer() {
    static const test::fake_nras_signer s;
    return s;
  }

  nras_client make_client() {
    nras_options o;
    o.attest_url = service.url("/v3/attest/gpu");
    o.jwks_url = service.url("/.well-known/jwks.json");
    return nras_client(ioc.get_executor(), o, net::http_client_options{}, clock);
  }

  template <class T>
  T run(asio::awaitable<T> work) {
    ioc.restart();
    auto out = test::run_bounded(ioc, 10s, std::move(work));
    EXPECT_TRUE(out.has_value()) << "did not finish";
    return out ? std::move(*out) : T{};
  }

  asio::io_context ioc;
  fixed_clock clock{unix_time(std::chrono::seconds(1'800'000'000))};
  std::atomic<unsigned> jwks_status{200};  // read on the server thread
  std::atomic<unsigned> attest_status{200};
  test::test_http_server service;
};

TEST_F(NrasClient, PostsThePayloadUnchanged) {
  auto client = make_client();
  const std::string payload = R"({"arch":"HOPPER", "nonce":"ab", "evidence_list":[]})";  // spacing kept
  const auto answer = run(client.attest(payload));
  EXPECT_EQ(answer.body, std::optional<std::string>("answer to " + payload));
  const auto requests = service.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].header("Content-Type"), "application/json");
  EXPECT_EQ(requests[0].body, payload);
}

TEST_F(NrasClient, AnOutageIsASentence) {
  attest_status = 503;
  auto client = make_client();
  auto answer = run(client.attest("{}"));
  EXPECT_FALSE(answer.body);
  EXPECT_NE(answer.why.find("503"), std::string::npos) << answer.why;

  nras_options o;
  o.attest_url = "http://127.0.0.1:1/v3/attest/gpu";  // nothing listens on port 1
  nras_client unreachable(ioc.get_executor(), o, net::http_client_options{}, clock);
  answer = run(unreachable.attest("{}"));
  EXPECT_FALSE(answer.body);
  EXPECT_NE(answer.why.find("NVIDIA's attestation service"), std::string::npos) << answer.why;
}

TEST_F(NrasClient, KeysAreFetchedOnceAndRefreshedAtMostOncePerCooldown) {
  auto client = make_client();
  const auto first = run(client.keys(false));
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->find(signer().kid()));
  EXPECT_EQ(run(client.keys(false)), first) << "cached";
  EXPECT_EQ(client.key_fetches(), 1u);

  // An unknown kid within the cool-down: the same set, no fetch.
  EXPECT_EQ(run(client.keys(true)), first);
  EXPECT_EQ(client.key_fetches(), 1u);
  // After it: a new fetch.
  clock.advance(nras_client::refresh_cooldown);
  const auto second = run(client.keys(true));
  ASSERT_TRUE(second);
  EXPECT_NE(second, first);
  EXPECT_EQ(client.key_fetches(), 2u);
  // Older than the maximum age: fetched again without being asked.
  clock.advance(nras_client::keys_max_age + 1s);
  run(client.keys(false));
  EXPECT_EQ(client.key_fetches(), 3u);
}

TEST_F(NrasClient, ConcurrentFirstCallersShareOneFetchAndAllGetTheKeys) {
  auto client = make_client();
  auto both = [&]() -> asio::awaitable<bool> {
    std::shared_ptr<const gpu::nras::jwks> second;
    auto waiter = [&]() -> asio::awaitable<void> { second = co_await client.keys(false); };
    asio::co_spawn(ioc, waiter(), asio::detached);  // starts while the first fetch is under way
    auto first = co_await client.keys(false);
    while (!second) {
      asio::steady_timer t(ioc, 1ms);
      co_await t.async_wait(asio::use_awaitable);
    }
    co_return first && first == second;
  };
  EXPECT_TRUE(run(both()));
  EXPECT_EQ(client.key_fetches(), 1u);
}

TEST_F(NrasClient, AFailedKeyFetchKeepsTheLastGoodSetAndSaysWhy) {
  auto client = make_client();
  const auto good = run(client.keys(false));
  ASSERT_TRUE(good);
  jwks_status = 500;
  clock.advance(nras_client::refresh_cooldown);
  EXPECT_EQ(run(client.keys(true)), good);
  EXPECT_NE(client.last_key_error().find("500"), std::string::npos) << client.last_key_error();

  // Never fetched: null, once per cool-down however many attestations ask.
  auto fresh = make_client();
  EXPECT_FALSE(run(fresh.keys(false)));
  EXPECT_FALSE(run(fresh.keys(false)));
  EXPECT_EQ(fresh.key_fetches(), 1u);
}

}  // namespace
}  // namespace vp::server
