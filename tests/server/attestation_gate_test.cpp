// The attestation gate alone, with a fake attester and an injected clock: the verdict
// cache, the single flight, the negative cache and the trust window, in microseconds and
// without sockets.

#include "server/attestation_gate.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/hex.hpp"

namespace vp::server {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

const unix_time t0 = from_unix_seconds(1'780'000'000);
const sha256_digest key_a{0xaa};
const sha256_digest key_b{0xbb};

/// An accepted appraisal of a direct-form backend, trusted until `until`.
std::shared_ptr<const appraise::appraisal> accepted_until(unix_time until) {
  auto a = std::make_shared<appraise::appraisal>();
  appraise::attested_entity e;
  e.connection_facing = true;
  e.verdict.emplace();
  e.verdict->quote.status = tdx::tcb_status::up_to_date;
  e.verdict->collateral_expires_at = until;
  e.keys.signing_address = bytes(20, 0x42);
  e.keys.bound = true;
  a->entities.push_back(std::move(e));
  a->trusted_until = until;
  return a;
}

failure verdict_failure() { return failure{"nonce_mismatch", failure_phase::binding, "replayed", {}, true}; }
failure transport_failure() {
  return failure{"attestation_timeout", failure_phase::exchange, "no report in time", {}, false};
}

/// A fake attester: counts calls, optionally waits for `release`, then answers `answer`
/// (or throws).
struct fake {
  explicit fake(asio::io_context& io) : release(io, std::chrono::steady_clock::time_point::max()) {}
  asio::steady_timer release;
  bool wait = false;
  bool fail_by_throwing = false;
  attestation_result answer{accepted_until(t0 + 3600s), std::nullopt};
  int calls = 0;

  attestation_gate::attest_fn fn() {
    return [this]() -> asio::awaitable<attestation_result> {
      ++calls;
      if (wait) co_await release.async_wait(asio::as_tuple(asio::use_awaitable));
      if (fail_by_throwing) throw std::runtime_error("attester broke");
      co_return answer;
    };
  }
};

struct AttestationGate : testing::Test {
  asio::io_context io;
  fixed_clock clock{t0};
  attestation_gate gate{clock, appraise::verdict_cache_options{3600s, 30s, 1024, 64}};
  fake attester{io};

  boost::system::result<admission, failure> admit_once(std::string domain, const sha256_digest& spki) {
    std::optional<boost::system::result<admission, failure>> out;
    asio::co_spawn(
        io, [&]() -> asio::awaitable<void> { out = co_await gate.admit(domain, spki, attester.fn()); },
        asio::detached);
    io.restart();
    io.run();
    return out.value();
  }
};

TEST_F(AttestationGate, MissAttestsThenTheVerdictIsCachedWithItsAppraisal) {
  auto first = admit_once("a.example", key_a);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(*first, admission::attested);
  EXPECT_TRUE(gate.is_fresh("a.example", key_a));
  ASSERT_NE(gate.appraisal_of("a.example", to_hex(key_a)), nullptr);
  EXPECT_EQ(gate.appraisal_of("a.example", to_hex(key_a))->entities[0].keys.signing_address, bytes(20, 0x42));

  EXPECT_EQ(admit_once("a.example", key_a).value(), admission::cached);
  EXPECT_EQ(attester.calls, 1);
  EXPECT_EQ(gate.attestation_count(), 1u);
  // Another key of the same domain is its own verdict.
  EXPECT_FALSE(gate.is_fresh("a.example", key_b));
  EXPECT_EQ(admit_once("a.example", key_b).value(), admission::attested);
  EXPECT_EQ(attester.calls, 2);
}

TEST_F(AttestationGate, HundredConcurrentFirstRequestsShareOneAttestation) {
  attester.wait = true;
  int attested = 0, shared = 0, refused = 0;
  for (int i = 0; i < 100; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          const auto r = co_await gate.admit("a.example", key_a, attester.fn());
          if (!r) ++refused;
          else if (*r == admission::attested) ++attested;
          else if (*r == admission::shared) ++shared;
        },
        asio::detached);
  }
  io.run_for(20ms);
  EXPECT_EQ(attester.calls, 1);
  attester.release.cancel();
  io.restart();
  io.run();
  EXPECT_EQ(attested, 1);
  EXPECT_EQ(shared, 99);
  EXPECT_EQ(refused, 0);
}

TEST_F(AttestationGate, WaitersAreReleasedWhenTheAttesterThrows) {
  attester.wait = true;
  attester.fail_by_throwing = true;
  int done = 0;
  std::string code;
  for (int i = 0; i < 100; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          const auto r = co_await gate.admit("a.example", key_a, attester.fn());
          ++done;
          if (!r) code = r.error().code;
        },
        asio::detached);
  }
  io.run_for(20ms);
  attester.release.cancel();
  io.restart();
  io.run_for(1s);
  EXPECT_EQ(done, 100);
  EXPECT_EQ(code, "internal_error");
  // Not a verdict about the backend: the next request attests again.
  attester.wait = false;
  attester.fail_by_throwing = false;
  EXPECT_EQ(admit_once("a.example", key_a).value(), admission::attested);
  EXPECT_EQ(attester.calls, 2);
}

TEST_F(AttestationGate, VerdictsAboutTheBackendAreRememberedTransportTroubleIsNot) {
  attester.answer = attestation_result{nullptr, verdict_failure()};
  auto refused = admit_once("a.example", key_a);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, "nonce_mismatch");
  clock.advance(10s);
  auto again = admit_once("a.example", key_a);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, "nonce_mismatch");
  EXPECT_NE(again.error().message.find("ago"), std::string::npos) << again.error().message;
  EXPECT_EQ(attester.calls, 1);  // remembered for the negative TTL
  clock.advance(31s);
  attester.answer = attestation_result{accepted_until(t0 + 3600s), std::nullopt};
  EXPECT_EQ(admit_once("a.example", key_a).value(), admission::attested);
  EXPECT_EQ(attester.calls, 2);

  attester.answer = attestation_result{nullptr, transport_failure()};
  EXPECT_FALSE(admit_once("b.example", key_a));
  EXPECT_FALSE(admit_once("b.example", key_a));
  EXPECT_EQ(attester.calls, 4);  // a timeout is not a verdict: asked again
}

TEST_F(AttestationGate, AVerdictIsReliedOnOnlyUntilItsAppraisalSaysSo) {
  // E.g. a TCB grace window or collateral expiring in 10 s: not for the whole TTL.
  attester.answer = attestation_result{accepted_until(t0 + 10s), std::nullopt};
  ASSERT_TRUE(admit_once("a.example", key_a));
  EXPECT_TRUE(gate.is_fresh("a.example", key_a));
  clock.advance(11s);
  EXPECT_FALSE(gate.is_fresh("a.example", key_a));
  EXPECT_EQ(gate.appraisal_of("a.example", to_hex(key_a)), nullptr);
  EXPECT_EQ(admit_once("a.example", key_a).value(), admission::attested);
}

TEST_F(AttestationGate, AnAttesterAnsweringNeitherVerdictNorRefusalIsRefused) {
  attester.answer = attestation_result{};
  const auto r = admit_once("a.example", key_a);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "internal_error");
  EXPECT_FALSE(gate.is_fresh("a.example", key_a));
}

// The proxy's shards share one gate: 100 first requests for one key arriving on 8 threads
// at once make one attestation, whatever the interleaving (a flight that starts after
// another one for the key ended finds that one's verdict).
TEST(AttestationGateThreads, HundredFirstRequestsOnEightThreadsMakeOneAttestation) {
  fixed_clock clock{t0};
  attestation_gate gate{clock, appraise::verdict_cache_options{3600s, 30s, 1024, 64}};
  std::atomic<int> calls{0}, admitted{0}, attested{0}, refused{0}, done{0};
  constexpr int requests = 100;
  const attestation_gate::attest_fn attest = [&]() -> asio::awaitable<attestation_result> {
    ++calls;
    // Long enough for the other threads' requests to arrive while it runs.
    asio::steady_timer pause(co_await asio::this_coro::executor, 20ms);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    co_return attestation_result{accepted_until(t0 + 3600s), std::nullopt};
  };
  std::vector<asio::io_context> shards(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < requests; ++i) {
    asio::co_spawn(
        shards[static_cast<std::size_t>(i) % shards.size()],
        [&]() -> asio::awaitable<void> {
          const auto r = co_await gate.admit("a.example", key_a, attest);
          if (!r) {
            ++refused;
          } else {
            ++admitted;
            if (*r == admission::attested) ++attested;
          }
          ++done;
        },
        asio::detached);
  }
  for (auto& io : shards) threads.emplace_back([&io] { io.run(); });
  for (auto& t : threads) t.join();
  EXPECT_EQ(done.load(), requests);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(gate.attestation_count(), 1u);
  EXPECT_EQ(attested.load(), 1);
  EXPECT_EQ(admitted.load(), requests);
  EXPECT_EQ(refused.load(), 0);
  EXPECT_TRUE(gate.is_fresh("a.example", key_a));
}

}  // namespace
}  // namespace vp::server
