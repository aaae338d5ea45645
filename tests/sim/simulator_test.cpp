// The simulator seen from the proxy's side: connect_upstream + the NEAR attester (the
// proxy's own code) against the simulated backends, with collateral fetched from the
// simulated PCCS and verified with the system clock, exactly as the proxy will.

#include "sim/simulator.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "collateral/pcs_source.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "gpu/evidence.hpp"
#include "net/http_client.hpp"
#include "policy/policy.hpp"
#include "server/attestation_gate.hpp"
#include "sim/openai.hpp"
#include "tdx/tcb_info.hpp"
#include "support/run_bounded.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr auto loop_limit = 20s;
constexpr const char* solo = "sim.completions.near.ai";
constexpr const char* pair = "pair.completions.near.ai";
constexpr unsigned stream_tokens = 6;

/// A JSON value as text: strings unquoted, anything else serialized.
std::string str(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : json::serialize(v); }

const system_clock& wall_clock() {
  static const system_clock c;
  return c;
}

/// One client request after the attestation, and what came back.
struct exchange {
  http::request<http::string_body> request;
  std::optional<http::response<http::string_body>> response;
  boost::system::error_code error;
  std::chrono::milliseconds read_timeout{0};  ///< 0: none
};

http::request<http::string_body> make_request(http::verb verb, std::string target, std::string body = {}) {
  http::request<http::string_body> r{verb, target, 11};
  r.set(http::field::host, "ignored");  // replaced with the connection's Host
  r.set(http::field::authorization, "Bearer sk-sim-test");
  if (!body.empty()) {
    r.set(http::field::content_type, "application/json");
    r.body() = std::move(body);
  }
  r.prepare_payload();
  return r;
}

/// connect → attest → each follow-up on the same connection.
struct attempt {
  /// First member, destroyed last: sockets must die before their io_context.
  std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>();
  std::optional<upstream::result<upstream::upstream_connection>> connection;
  std::optional<server::attestation_result> outcome;
  std::vector<exchange> exchanges;

  /// The quote verified and bound to this connection (the workload policy is the proxy's
  /// business; these tests look at what the simulator proves).
  bool verified() const {
    return connection && *connection && outcome && outcome->appraisal &&
           outcome->appraisal->connection_entity() != nullptr && outcome->appraisal->connection_entity()->verdict;
  }
  struct verified_attestation {
    const attest::attestation_verdict& verdict;
    const attest::near_attestation& attestation;
    const upstream::attestation_nonce& nonce;
  };
  verified_attestation verdict() const {
    const auto& entity = *outcome->appraisal->connection_entity();
    return {*entity.verdict, *outcome->document->find(entity.json_pointer), outcome->nonce};
  }
  std::string failure() const {
    if (!connection || !*connection) return connection ? connection->error().message : "no connection";
    if (!outcome) return "none";
    if (outcome->refusal) return outcome->refusal->code + ": " + outcome->refusal->message;
    return "";
  }
};

class SimulatorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    simulator_options o;
    // One GPU per CVM: these tests are about the TDX side; tests/sim/gpu_test.cpp checks 8.
    o.gpus = 1;
    o.stream_tokens = stream_tokens;
    domain_options one;
    one.domain = solo;
    one.models = {"sim-model", "sim-model-b"};
    domain_options two;
    two.domain = pair;
    two.models = {"pair-model"};
    two.instances = 2;
    o.domains = {one, two};
    sim_ = new simulator(o);
    // One directory per process: ctest runs test cases of this suite in parallel processes.
    dir_ = new std::filesystem::path(std::filesystem::path(::testing::TempDir()) /
                                     ("vp-sim-test-" + std::to_string(::getpid())));
    // Only the upstream CA here: write_proxy_files() also names the NRAS key pin, whose
    // RSA intermediate key costs a large part of a second (made in WritesTheProxyFlags).
    std::filesystem::create_directories(*dir_);
    std::ofstream(*dir_ / "upstream-ca.pem") << sim_->upstream_ca_pem();
    anchor_ =
        new std::shared_ptr<const tdx::trust_anchor>(tdx::load_trust_anchor(as_bytes(sim_->root_ca_pem())).value());
    auto gpu_root = gpu::load_trust_anchor(sim_->nvidia_root_ca_pem());
    ASSERT_TRUE(gpu_root) << gpu_root.error();
    gpu_anchor_ = new std::shared_ptr<const gpu::trust_anchor>(
        std::make_shared<const gpu::trust_anchor>(std::move(*gpu_root)));
    tls_ = new upstream::tls_client_context(upstream::tls_client_options{true, (*dir_ / "upstream-ca.pem").string()});
  }
  static void TearDownTestSuite() {
    delete tls_;
    delete anchor_;
    delete gpu_anchor_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete sim_;
  }
  void SetUp() override {
    sim_->set_faults(solo, 0, {});
    sim_->set_faults(pair, 0, {});
    sim_->set_faults(pair, 1, {});
  }

  static attempt run(const std::string& domain, std::vector<exchange> follow_ups = {}) {
    attempt out;
    asio::io_context& ioc = *out.ioc;
    auto client = std::make_shared<net::http_client>(ioc.get_executor(), net::http_client_options{});
    // Every consistency rule and no allowlist: what the quote, its binding and the event
    // log prove, not whose workload it is.
    server::near_attester attester(
        ioc.get_executor(),
        std::make_shared<collateral::pcs_source>(client, collateral::pcs_source_options{{sim_->pccs_url()}, 0}, *anchor_,
                                                 wall_clock()),
        *anchor_, std::make_shared<const policy::workload_policy>(policy::parse_policy("{}").value()), wall_clock(),
        upstream::attest_options{}, *gpu_anchor_);
    upstream::connect_options copts;
    copts.connect_timeout = 5s;
    copts.tls_timeout = 5s;
    copts.connect_to = upstream::dial_address{"127.0.0.1", sim_->backend_port(domain)};
    out.exchanges = std::move(follow_ups);

    auto work = [&]() -> asio::awaitable<bool> {
      out.connection = co_await upstream::connect_upstream(ioc.get_executor(), *tls_, domain, 443, copts);
      if (!*out.connection) co_return false;
      auto& conn = out.connection->value();
      out.outcome = co_await attester.attest(conn, {});
      if (!out.verified()) co_return true;
      for (auto& x : out.exchanges) {
        x.request.set(http::field::host, conn.host_header());
        if (auto [ec, n] = co_await http::async_write(conn.stream(), x.request, asio::as_tuple(asio::use_awaitable));
            ec) {
          x.error = ec;
          co_return true;
        }
        http::response_parser<http::string_body> parser;
        parser.body_limit(16u << 20);
        auto& lowest = beast::get_lowest_layer(conn.stream());
        if (x.read_timeout.count() > 0) lowest.expires_after(x.read_timeout);
        auto [ec, n] =
            co_await http::async_read(conn.stream(), conn.buffer(), parser, asio::as_tuple(asio::use_awaitable));
        lowest.expires_never();
        if (ec) {
          x.error = ec;
          co_return true;
        }
        x.response = parser.release();
      }
      co_return true;
    };
    const auto finished = test::run_bounded(ioc, loop_limit, work());
    EXPECT_TRUE(finished.has_value()) << "did not complete within " << loop_limit.count() << " s";
    return out;
  }

  static ::testing::AssertionResult rejected(const attempt& a, std::string_view check) {
    if (!a.connection || !*a.connection) return ::testing::AssertionFailure() << "did not connect: " << a.failure();
    if (!a.outcome) return ::testing::AssertionFailure() << "no outcome";
    if (!a.outcome->refusal) return ::testing::AssertionFailure() << "accepted, expected " << check;
    const std::string& got = a.outcome->refusal->code;
    if (got.find(check) == std::string::npos) {
      return ::testing::AssertionFailure() << "got " << got << " (" << a.outcome->refusal->message << "), expected "
                                           << check;
    }
    return ::testing::AssertionSuccess();
  }

  static json::value body_json(const exchange& x) {
    EXPECT_TRUE(x.response.has_value()) << x.error.message();
    if (!x.response) return nullptr;
    boost::system::error_code ec;
    auto v = json::parse(x.response->body(), ec);
    EXPECT_FALSE(ec) << x.response->body();
    return v;
  }

  static simulator* sim_;
  static std::filesystem::path* dir_;
  static std::shared_ptr<const tdx::trust_anchor>* anchor_;
  static std::shared_ptr<const gpu::trust_anchor>* gpu_anchor_;
  static upstream::tls_client_context* tls_;
};

simulator* SimulatorTest::sim_ = nullptr;
std::filesystem::path* SimulatorTest::dir_ = nullptr;
std::shared_ptr<const tdx::trust_anchor>* SimulatorTest::anchor_ = nullptr;
std::shared_ptr<const gpu::trust_anchor>* SimulatorTest::gpu_anchor_ = nullptr;
upstream::tls_client_context* SimulatorTest::tls_ = nullptr;

std::string chat_body(bool stream) {
  return std::string(R"({"model":"sim-model-b","messages":[{"role":"user","content":"hi"}],"stream":)") +
         (stream ? "true" : "false") + "}";
}

// ---------------------------------------------------------------------------------------

TEST_F(SimulatorTest, HappyPathVerifiesThenAnswersOnTheSameConnection) {
  const auto attestations = sim_->attestation_count(solo);
  const auto requests = sim_->request_count(solo);
  std::vector<exchange> x(5);
  x[0].request = make_request(http::verb::post, "/v1/chat/completions", chat_body(false));
  x[1].request = make_request(http::verb::post, "/v1/completions", R"({"model":"sim-model","prompt":"hi"})");
  x[2].request = make_request(http::verb::post, "/v1/embeddings", R"({"model":"sim-model","input":["a","b"]})");
  x[3].request = make_request(http::verb::get, "/v1/models");
  x[4].request = make_request(http::verb::get, "/v1/nothing-here");
  const attempt a = run(solo, std::move(x));
  ASSERT_TRUE(a.verified()) << a.failure();

  const auto& v = a.verdict().verdict;
  EXPECT_EQ(v.quote.status, tdx::tcb_status::up_to_date);
  EXPECT_EQ(to_hex(v.tls_cert_fingerprint), sim_->spki_sha256_hex(solo, 0));
  EXPECT_EQ(to_hex(a.connection->value().spki_sha256()), sim_->spki_sha256_hex(solo, 0));
  EXPECT_EQ(v.signing_address.size(), 32u);  // ed25519: the attestation's default
  EXPECT_EQ(a.verdict().attestation.model_name, std::optional<std::string>("sim-model"));

  ASSERT_EQ(a.exchanges.size(), 5u);
  const json::value chat = body_json(a.exchanges[0]);
  EXPECT_EQ(a.exchanges[0].response->result_int(), 200u);
  EXPECT_EQ(str(chat.at("object")), "chat.completion");
  EXPECT_EQ(str(chat.at("model")), "sim-model-b");
  const std::string content(chat.at("choices").at(0).at("message").at("content").as_string());
  EXPECT_NE(content.find("instance 0"), std::string::npos) << content;
  EXPECT_EQ(a.exchanges[0].response->at("X-Sim-Instance"), "0");

  const json::value completion = body_json(a.exchanges[1]);
  EXPECT_EQ(str(completion.at("object")), "text_completion");
  EXPECT_TRUE(completion.at("choices").at(0).at("text").is_string());

  const json::value embeddings = body_json(a.exchanges[2]);
  EXPECT_EQ(embeddings.at("data").as_array().size(), 2u);
  EXPECT_EQ(embeddings.at("data").at(1).at("embedding").as_array().size(), 8u);

  const json::value models = body_json(a.exchanges[3]);
  ASSERT_EQ(models.at("data").as_array().size(), 2u);
  EXPECT_EQ(str(models.at("data").at(0).at("id")), "sim-model");
  EXPECT_EQ(str(models.at("data").at(1).at("object")), "model");

  EXPECT_EQ(a.exchanges[4].response->result_int(), 404u);
  EXPECT_TRUE(body_json(a.exchanges[4]).at("error").at("message").is_string());

  EXPECT_EQ(sim_->attestation_count(solo), attestations + 1);
  EXPECT_EQ(sim_->request_count(solo), requests + 5);
  // Forwarding checks read what the backend received.
  const auto headers = sim_->request_headers(solo);
  const auto bodies = sim_->request_bodies(solo);
  ASSERT_EQ(headers.size(), sim_->request_count(solo));
  ASSERT_EQ(bodies.size(), headers.size());
  EXPECT_EQ(bodies[bodies.size() - 5], chat_body(false));
  bool saw_authorization = false;
  for (const auto& [name, value] : headers[headers.size() - 5]) {
    if (name == "Authorization") saw_authorization = value == "Bearer sk-sim-test";
  }
  EXPECT_TRUE(saw_authorization);
}

TEST_F(SimulatorTest, ConnectionRecordShowsOnlyTheAttestationRequestBeforeTheFirstAnswer) {
  std::vector<exchange> x(1);
  x[0].request = make_request(http::verb::post, "/v1/chat/completions", chat_body(false));
  const attempt a = run(solo, std::move(x));
  ASSERT_TRUE(a.verified()) << a.failure();
  const auto records = sim_->connections(solo);
  ASSERT_FALSE(records.empty());
  const connection_record& r = records.back();
  EXPECT_EQ(r.instance, 0u);
  EXPECT_EQ(r.spki_sha256_hex, to_hex(a.connection->value().spki_sha256()));
  ASSERT_EQ(r.request_targets.size(), 2u);
  EXPECT_EQ(r.request_targets[0], upstream::attestation_target(a.verdict().nonce));
  EXPECT_EQ(r.request_targets[1], "/v1/chat/completions");
  ASSERT_TRUE(r.received_when_first_response_began.has_value());
  const std::string before = r.received.substr(0, *r.received_when_first_response_began);
  EXPECT_TRUE(before.starts_with("GET /v1/attestation/report?")) << before;
  EXPECT_TRUE(before.ends_with("\r\n\r\n")) << before;
  EXPECT_EQ(before.find("Authorization"), std::string::npos);
  EXPECT_EQ(before.find("chat/completions"), std::string::npos);
  // Everything afterwards is the client's request, byte for byte.
  const std::string after = r.received.substr(before.size());
  EXPECT_TRUE(after.starts_with("POST /v1/chat/completions HTTP/1.1\r\n")) << after;
  EXPECT_TRUE(after.ends_with(chat_body(false))) << after;
}

TEST_F(SimulatorTest, StreamingAnswerArrivesAsTokensPlusDoneEvents) {
  std::vector<exchange> x(2);
  x[0].request = make_request(http::verb::post, "/v1/chat/completions", chat_body(true));
  x[1].request = make_request(http::verb::post, "/v1/completions", R"({"prompt":"hi","stream":true})");
  const attempt a = run(solo, std::move(x));
  ASSERT_TRUE(a.verified()) << a.failure();
  for (std::size_t k = 0; k < 2; ++k) {
    const auto& response = a.exchanges[k].response;
    ASSERT_TRUE(response.has_value()) << a.exchanges[k].error.message();
    EXPECT_EQ(response->at(http::field::content_type), "text/event-stream");
    EXPECT_TRUE(response->chunked());
    std::vector<std::string> events;
    const std::string& body = response->body();
    for (std::size_t at = 0; at < body.size();) {
      const auto end = body.find("\n\n", at);
      ASSERT_NE(end, std::string::npos) << "unterminated event in " << body;
      events.push_back(body.substr(at, end - at));
      at = end + 2;
    }
    ASSERT_EQ(events.size(), stream_tokens + 1);
    EXPECT_EQ(events.back(), "data: [DONE]");
    for (std::size_t i = 0; i < stream_tokens; ++i) {
      ASSERT_TRUE(events[i].starts_with("data: ")) << events[i];
      const json::value chunk = json::parse(events[i].substr(6));
      const auto& choice = chunk.at("choices").at(0);
      if (k == 0) {
        EXPECT_EQ(str(chunk.at("object")), "chat.completion.chunk");
        EXPECT_EQ(str(choice.at("delta").at("content")), sim_token(i));
      } else {
        EXPECT_EQ(str(choice.at("text")), sim_token(i));
      }
      EXPECT_EQ(choice.at("finish_reason").is_null(), i + 1 != stream_tokens);
    }
  }
}

TEST_F(SimulatorTest, WrongFingerprintIsRejected) {
  sim_->set_faults(solo, 0, {.wrong_fingerprint = true});
  const attempt a = run(solo);
  EXPECT_TRUE(rejected(a, "fingerprint_mismatch"));
  // The report names the key it binds, consistently: only the live SPKI betrays it.
}

TEST_F(SimulatorTest, WrongNonceIsRejected) {
  sim_->set_faults(solo, 0, {.wrong_nonce = true});
  EXPECT_TRUE(rejected(run(solo), "nonce_mismatch"));
}

TEST_F(SimulatorTest, UntrustedRootIsRejected) {
  sim_->set_faults(solo, 0, {.untrusted_root = true});
  EXPECT_TRUE(rejected(run(solo), "untrusted_chain"));
}

TEST_F(SimulatorTest, RevokedPckIsRejected) {
  sim_->set_faults(solo, 0, {.revoked_pck = true});
  EXPECT_TRUE(rejected(run(solo), "certificate_revoked"));
}

TEST_F(SimulatorTest, DebugTdIsRejected) {
  sim_->set_faults(solo, 0, {.debug_td = true});
  EXPECT_TRUE(rejected(run(solo), "debug_td"));
}

TEST_F(SimulatorTest, OversizedAttestationIsRejected) {
  sim_->set_faults(solo, 0, {.oversized_attestation = true});
  EXPECT_TRUE(rejected(run(solo), "too_large"));
}

TEST_F(SimulatorTest, OutOfDateTcbVerifiesWithStatusOutOfDate) {
  sim_->set_faults(solo, 0, {.out_of_date_tcb = true});
  const attempt a = run(solo);
  ASSERT_TRUE(a.verified()) << a.failure();
  EXPECT_EQ(a.verdict().verdict.quote.status, tdx::tcb_status::out_of_date);
  EXPECT_FALSE(a.verdict().verdict.quote.advisory_ids.empty());
  ASSERT_TRUE(a.verdict().verdict.quote.newer_tcb_date.has_value());
}

TEST_F(SimulatorTest, FaultsAreChangeableAtRunTime) {
  sim_->set_faults(solo, 0, {.wrong_nonce = true});
  EXPECT_TRUE(rejected(run(solo), "nonce_mismatch"));
  sim_->set_faults(solo, 0, {});
  const attempt a = run(solo);
  EXPECT_TRUE(a.verified()) << a.failure();
}

TEST_F(SimulatorTest, RotationPresentsANewCertificateAfterNRequests) {
  sim_->set_faults(solo, 0, {.rotate_every = 2});
  const std::string before = sim_->spki_sha256_hex(solo, 0);
  std::vector<exchange> x(1);
  x[0].request = make_request(http::verb::get, "/v1/models");
  const attempt first = run(solo, x);
  ASSERT_TRUE(first.verified()) << first.failure();
  EXPECT_EQ(sim_->spki_sha256_hex(solo, 0), before);  // one request: not yet

  x.push_back(x.front());
  const attempt second = run(solo, x);  // still the old certificate, then two requests
  ASSERT_TRUE(second.verified()) << second.failure();
  EXPECT_EQ(to_hex(second.connection->value().spki_sha256()), before);
  const std::string after = sim_->spki_sha256_hex(solo, 0);
  EXPECT_NE(after, before);  // 1 + 2 requests: rotated once

  const attempt third = run(solo);  // a new connection presents (and attests) the new key
  ASSERT_TRUE(third.verified()) << third.failure();
  EXPECT_EQ(to_hex(third.connection->value().spki_sha256()), after);
  EXPECT_EQ(to_hex(third.verdict().verdict.tls_cert_fingerprint), after);
}

TEST_F(SimulatorTest, RoundRobinInstancesHaveTheirOwnKeysAndBothVerify) {
  const std::string spki0 = sim_->spki_sha256_hex(pair, 0);
  const std::string spki1 = sim_->spki_sha256_hex(pair, 1);
  EXPECT_NE(spki0, spki1);
  const attempt a = run(pair);
  const attempt b = run(pair);
  ASSERT_TRUE(a.verified()) << a.failure();
  ASSERT_TRUE(b.verified()) << b.failure();
  const std::string ka = to_hex(a.connection->value().spki_sha256());
  const std::string kb = to_hex(b.connection->value().spki_sha256());
  EXPECT_NE(ka, kb);
  EXPECT_TRUE((ka == spki0 && kb == spki1) || (ka == spki1 && kb == spki0));
  EXPECT_NE(a.verdict().verdict.signing_address, b.verdict().verdict.signing_address);
  // Same software, different CVMs: RTMR0-2 and MRTD equal, RTMR3 (instance-id) differs.
  const auto& ta = a.verdict().verdict.quote.td;
  const auto& tb = b.verdict().verdict.quote.td;
  EXPECT_EQ(ta.mr_td, tb.mr_td);
  EXPECT_EQ(ta.rtmr[0], tb.rtmr[0]);
  EXPECT_EQ(ta.rtmr[2], tb.rtmr[2]);
  EXPECT_NE(ta.rtmr[3], tb.rtmr[3]);

  const auto records = sim_->connections(pair);
  ASSERT_GE(records.size(), 2u);
  EXPECT_NE(records[records.size() - 1].instance, records[records.size() - 2].instance);
}

TEST_F(SimulatorTest, OneInstanceFaultLeavesTheOtherHealthy) {
  sim_->set_faults(pair, 1, {.debug_td = true});
  const attempt a = run(pair);
  const attempt b = run(pair);
  EXPECT_NE(a.verified(), b.verified());  // exactly one of the two reached instance 1
}

/// Independent re-implementation of the checks #6 makes: replay, runtime digests,
/// MRCONFIGID, compose hash, info consistency.
TEST_F(SimulatorTest, EventLogReplaysToTheQuoteRtmrsAndBindsTheCompose) {
  const attempt a = run(solo);
  ASSERT_TRUE(a.verified()) << a.failure();
  const json::object& report = *a.verdict().attestation.raw;
  const tdx::td_report& td = a.verdict().verdict.quote.td;

  std::array<tdx::measurement, 4> rtmr{};
  std::size_t runtime_events = 0;
  std::map<std::string, std::string> payloads;
  for (const auto& entry : report.at("event_log").as_array()) {
    const auto& e = entry.as_object();
    const auto imr = static_cast<std::size_t>(e.at("imr").as_int64());
    ASSERT_LT(imr, 4u);
    const bytes digest = from_hex(e.at("digest").as_string()).value();
    ASSERT_EQ(digest.size(), 48u);
    if (e.at("event_type").as_int64() == 0x08000001) {
      ++runtime_events;
      EXPECT_EQ(imr, 3u);
      const std::string name(e.at("event").as_string());
      const bytes payload = from_hex(e.at("event_payload").as_string()).value();
      const std::array<std::uint8_t, 4> type = {0x01, 0x00, 0x00, 0x08};
      const auto expected = crypto::sha384({type, as_bytes(":"), as_bytes(name), as_bytes(":"), payload});
      EXPECT_TRUE(equal_bytes(expected, digest)) << name;
      payloads[name] = to_hex(payload);
    }
    rtmr[imr] = crypto::sha384({rtmr[imr], digest});
  }
  EXPECT_EQ(runtime_events, 10u);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(rtmr[i], td.rtmr[i]) << "RTMR" << i;

  const json::object& info = report.at("info").as_object();
  const json::object& tcb = info.at("tcb_info").as_object();
  EXPECT_EQ(str(tcb.at("event_log")), str(report.at("event_log")));
  const std::string app_compose(tcb.at("app_compose").as_string());
  const sha256_digest compose_hash = crypto::sha256(as_bytes(app_compose));
  EXPECT_EQ(td.mr_config_id[0], 0x01);
  EXPECT_TRUE(std::equal(compose_hash.begin(), compose_hash.end(), td.mr_config_id.begin() + 1));
  EXPECT_TRUE(std::all_of(td.mr_config_id.begin() + 33, td.mr_config_id.end(), [](auto b) { return b == 0; }));
  EXPECT_EQ(str(info.at("compose_hash")), to_hex(compose_hash));
  EXPECT_EQ(payloads["compose-hash"], to_hex(compose_hash));
  EXPECT_EQ(payloads["app-id"], str(info.at("app_id")));
  EXPECT_EQ(payloads["instance-id"], str(info.at("instance_id")));
  EXPECT_EQ(payloads["os-image-hash"], str(info.at("os_image_hash")));
  const std::string key_provider_info(info.at("key_provider_info").as_string());
  EXPECT_EQ(payloads["key-provider"], to_hex(as_bytes(key_provider_info)));
  EXPECT_EQ(str(tcb.at("mrtd")), to_hex(td.mr_td));
  EXPECT_EQ(str(tcb.at("rtmr3")), to_hex(td.rtmr[3]));

  // measured() describes exactly this.
  const auto m = sim_->measured();
  EXPECT_EQ(m.mrtd, to_hex(td.mr_td));
  EXPECT_EQ(m.rtmr0, to_hex(td.rtmr[0]));
  EXPECT_EQ(m.rtmr1, to_hex(td.rtmr[1]));
  EXPECT_EQ(m.rtmr2, to_hex(td.rtmr[2]));
  EXPECT_EQ(m.rtmr3, to_hex(td.rtmr[3]));
  EXPECT_EQ(m.mrseam, to_hex(td.mr_seam));
  EXPECT_EQ(m.mr_config_id, to_hex(td.mr_config_id));
  EXPECT_EQ(m.compose_hash, to_hex(compose_hash));
  EXPECT_EQ(m.app_id, str(info.at("app_id")));
  EXPECT_EQ(m.os_image_hash, str(info.at("os_image_hash")));
  EXPECT_NE(key_provider_info.find(m.key_provider), std::string::npos);
}

std::string describe(const policy::factor_report& r) {
  std::string out;
  for (const auto& f : r.factors) {
    out += f.name + "=" + std::string(policy::to_string(f.status)) + " (" + f.detail + ")\n";
  }
  return out;
}

TEST_F(SimulatorTest, ItsPolicyPinsItAndNearsPolicyRejectsIt) {
  const attempt a = run(solo);
  ASSERT_TRUE(a.verified()) << a.failure();
  const auto& attestation = a.verdict().attestation;
  const auto& verdict = a.verdict().verdict;
  const unix_time now = wall_clock().now();

  const auto pinned = policy::parse_policy(sim_->policy_json());
  ASSERT_TRUE(pinned) << pinned.error().message;
  const policy::factor_report r = policy::evaluate(*pinned, attestation, verdict, now, std::string_view("sim-model"));
  EXPECT_TRUE(r.ok()) << describe(r);
  for (const char* name : {"event_log_replay", "runtime_event_digests", "compose_hash", "mrconfigid", "app_id",
                           "os_image_hash", "key_provider", "mrseam", "mrtd", "rtmr0", "rtmr1", "rtmr2"}) {
    const policy::factor* f = r.find(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_EQ(f->status, policy::factor_status::pass) << name << ": " << f->detail;
  }

  const auto empty = policy::parse_policy("{}");
  ASSERT_TRUE(empty);
  const policy::factor_report consistent = policy::evaluate(*empty, attestation, verdict, now);
  EXPECT_TRUE(consistent.ok()) << describe(consistent);

  // NEAR's production measurements are not the simulator's.
  const policy::factor_report nearai = policy::evaluate(policy::nearai_policy(), attestation, verdict, now);
  EXPECT_FALSE(nearai.ok()) << describe(nearai);
}

TEST_F(SimulatorTest, HangNeverAnswersButStillAttests) {
  sim_->set_faults(solo, 0, {.hang = true});
  std::vector<exchange> x(1);
  x[0].request = make_request(http::verb::post, "/v1/chat/completions", chat_body(false));
  x[0].read_timeout = 300ms;
  const attempt a = run(solo, std::move(x));
  ASSERT_TRUE(a.verified()) << a.failure();
  EXPECT_FALSE(a.exchanges[0].response.has_value());
  EXPECT_EQ(a.exchanges[0].error, beast::error::timeout) << a.exchanges[0].error.message();
}

TEST_F(SimulatorTest, SlowStillAnswers) {
  sim_->set_faults(solo, 0, {.answer_delay = 20ms, .attestation_delay = 20ms});
  std::vector<exchange> x(1);
  x[0].request = make_request(http::verb::get, "/v1/models");
  const attempt a = run(solo, std::move(x));
  ASSERT_TRUE(a.verified()) << a.failure();
  ASSERT_TRUE(a.exchanges[0].response.has_value());
  EXPECT_EQ(a.exchanges[0].response->result_int(), 200u);
}

TEST_F(SimulatorTest, DisconnectMidStreamCutsTheStream) {
  sim_->set_faults(solo, 0, {.disconnect_mid_stream = true});
  std::vector<exchange> x(1);
  x[0].request = make_request(http::verb::post, "/v1/chat/completions", chat_body(true));
  const attempt a = run(solo, std::move(x));
  ASSERT_TRUE(a.verified()) << a.failure();
  EXPECT_FALSE(a.exchanges[0].response.has_value());
  EXPECT_TRUE(a.exchanges[0].error) << "a complete stream arrived";
}

TEST_F(SimulatorTest, ConnectionCloseIsHonoured) {
  std::vector<exchange> x(1);
  x[0].request = make_request(http::verb::get, "/v1/models");
  x[0].request.keep_alive(false);
  const attempt a = run(solo, std::move(x));
  ASSERT_TRUE(a.verified()) << a.failure();
  ASSERT_TRUE(a.exchanges[0].response.has_value());
  EXPECT_FALSE(a.exchanges[0].response->keep_alive());
}

TEST_F(SimulatorTest, WritesTheProxyFlags) {
  const std::vector<std::string> f = sim_->write_proxy_files(*dir_ / "flags");
  const auto value_of = [&](std::string_view flag) -> std::vector<std::string> {
    std::vector<std::string> out;
    for (std::size_t i = 0; i + 1 < f.size(); ++i) {
      if (f[i] == flag) out.push_back(f[i + 1]);
    }
    return out;
  };
  ASSERT_EQ(value_of("--root-ca").size(), 1u);
  EXPECT_TRUE(std::filesystem::exists(value_of("--root-ca")[0]));
  EXPECT_TRUE(std::filesystem::exists(value_of("--upstream-ca")[0]));
  EXPECT_EQ(value_of("--pccs-url"), std::vector<std::string>{sim_->pccs_url()});
  EXPECT_EQ(value_of("--endpoints-url"), std::vector<std::string>{sim_->endpoints_url()});
  ASSERT_EQ(value_of("--nvidia-root-ca").size(), 1u);
  EXPECT_TRUE(value_of("--nvidia-root-ca")[0].ends_with("/nvidia-root-ca.pem"));
  EXPECT_TRUE(std::filesystem::exists(value_of("--nvidia-root-ca")[0]));
  EXPECT_EQ(value_of("--nras-url"), std::vector<std::string>{sim_->nras_url()});
  EXPECT_EQ(value_of("--nras-jwks-url"), std::vector<std::string>{sim_->nras_jwks_url()});
  EXPECT_EQ(value_of("--nras-key-pin"), std::vector<std::string>{sim_->nras_key_pin()});
  EXPECT_TRUE(sim_->nras_url().starts_with("http://127.0.0.1:") && sim_->nras_url().ends_with("/v3/attest/gpu"));
  EXPECT_EQ(value_of("--connect-to"), (std::vector<std::string>{sim_->connect_to(solo), sim_->connect_to(pair)}));
  EXPECT_EQ(value_of("--allow-domain"), (std::vector<std::string>{solo, pair}));
  EXPECT_EQ(f.back(), "--no-cache");
  EXPECT_EQ(sim_->connect_to(solo), std::string(solo) + ":443:127.0.0.1:" + std::to_string(sim_->backend_port(solo)));
  EXPECT_THROW(sim_->backend_port("unknown.completions.near.ai"), std::out_of_range);
  EXPECT_THROW(sim_->set_faults(solo, 1, {}), std::out_of_range);
}

TEST_F(SimulatorTest, EndpointsAndPccsServeTheirRoutes) {
  asio::io_context ioc;
  net::http_client client(ioc.get_executor(), {});
  std::vector<net::http_result> results;
  auto work = [&]() -> asio::awaitable<bool> {
    results.push_back(co_await client.get(sim_->endpoints_url()));
    results.push_back(co_await client.get(sim_->pccs_url() + "/tdx/certification/v4/tcb?fmspc=00606A000000"));
    results.push_back(co_await client.get(sim_->pccs_url() + "/tdx/certification/v4/qe/identity"));
    results.push_back(co_await client.get(sim_->pccs_url() + "/nothing"));
    co_return true;
  };
  ASSERT_TRUE(test::run_bounded(ioc, loop_limit, work()).has_value());
  ASSERT_EQ(results.size(), 4u);
  for (const auto& r : results) ASSERT_TRUE(r) << r.error().message;

  EXPECT_EQ(results[0]->status, 200u);
  const json::value endpoints = json::parse(results[0]->body);
  const auto& list = endpoints.at("endpoints").as_array();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(str(list[0].at("domain")), solo);
  EXPECT_EQ(str(list[0].at("models")), R"(["sim-model","sim-model-b"])");
  EXPECT_EQ(str(list[1].at("domain")), pair);

  EXPECT_EQ(results[1]->status, 404u);  // another platform
  EXPECT_EQ(results[2]->status, 200u);
  EXPECT_TRUE(results[2]->header("SGX-Enclave-Identity-Issuer-Chain").has_value());
  EXPECT_TRUE(results[2]->body.starts_with(R"({"enclaveIdentity":{)")) << results[2]->body;
  EXPECT_EQ(results[3]->status, 404u);
}

TEST(SimulatorLifecycle, StopsPromptlyWithAHangingConnectionOpen) {
  simulator_options o;
  o.domains.front().faults.hang = true;
  auto sim = std::make_unique<simulator>(o);
  asio::io_context ioc;
  upstream::tls_client_context tls(upstream::tls_client_options{false, {}});
  upstream::connect_options copts;
  copts.connect_to = upstream::dial_address{"127.0.0.1", sim->backend_port("sim.completions.near.ai")};
  std::optional<upstream::result<upstream::upstream_connection>> conn;
  auto work = [&]() -> asio::awaitable<bool> {
    conn = co_await upstream::connect_upstream(ioc.get_executor(), tls, "sim.completions.near.ai", 443, copts);
    if (!*conn) co_return false;
    auto request = make_request(http::verb::get, "/v1/models");
    co_await http::async_write(conn->value().stream(), request, asio::use_awaitable);
    co_return true;
  };
  ASSERT_EQ(test::run_bounded(ioc, loop_limit, work()), std::optional<bool>(true));
  // The request is being "answered" by a hanging coroutine; stopping must not wait for it.
  for (int i = 0; i < 100 && sim->request_count("sim.completions.near.ai") == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(sim->request_count("sim.completions.near.ai"), 1u);
  sim->stop();
  EXPECT_EQ(sim->connection_count("sim.completions.near.ai"), 1u);  // accessors work after stop
  sim.reset();
  conn.reset();
}

}  // namespace
}  // namespace vp::sim
