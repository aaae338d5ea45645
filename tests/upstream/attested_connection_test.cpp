// connect_upstream + the NEAR attester (fetch_report, then the appraisal of the quote and
// its binding) against a fake NEAR backend: an in-process TLS
// server on 127.0.0.1 whose /v1/attestation/report mints (test PKI) a quote binding its
// own SPKI, a signing address and the nonce from the query, with fault switches for
// every binding check. The backend is reached with connect_to, so SNI / Host stay the
// logical domain, as with the proxy's --connect-to.

#include "upstream/attested_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "attest/binding.hpp"
#include "collateral/source.hpp"
#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "net/http_client.hpp"
#include "server/attestation_gate.hpp"
#include "server/upstream_pool.hpp"
#include "support/renegotiating_tls_server.hpp"
#include "support/run_bounded.hpp"
#include "support/test_http_server.hpp"
#include "testpki/test_pki.hpp"

namespace vp::upstream {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

constexpr auto loop_limit = 10s;
/// The logical backend domain; the certificate of the fake backend names it.
constexpr const char* domain = "backend.completions.near.ai";

const test::test_pki& pki() {
  static const test::test_pki instance;
  return instance;
}

const test::test_pki& foreign_pki() {
  static const test::test_pki instance;
  return instance;
}

const tdx::trust_anchor& anchor() {
  static const auto a = tdx::load_trust_anchor(pki().root_der()).value();
  return *a;
}

/// Collateral from the test PKI, accepted like any real source would (authenticated,
/// valid at default_time).
/// The trust anchor as the attester holds it (a view of the static one).
std::shared_ptr<const tdx::trust_anchor> anchor_ptr() {
  return std::shared_ptr<const tdx::trust_anchor>(std::shared_ptr<void>(), &anchor());
}

class pki_source final : public collateral::source {
 public:
  asio::awaitable<collateral::result<collateral::verified_collateral>> get(collateral::platform_key key) override {
    ++calls;
    co_return collateral::accept(pki().collateral(), key, anchor(), test::default_time, 0, "test-pki");
  }
  std::atomic<int> calls{0};
};

test::scripted_response answer(unsigned status, std::string body) {
  test::scripted_response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

tls_client_context make_tls(bool webpki, std::string ca_file = {}) {
  tls_client_options o;
  o.webpki = webpki;
  o.ca_file = std::move(ca_file);
  return tls_client_context(std::move(o));
}

/// How the fake backend misbehaves on /v1/attestation/report.
struct backend_faults {
  bool claim_other_spki = false;  ///< report binds (and names) another TLS key
  bool wrong_nonce = false;       ///< report_data[32:64] is not the query's nonce
  bool foreign_quote = false;     ///< quote minted by another PKI
  bool omit_fingerprint = false;  ///< no tls_cert_fingerprint field
  bool oversized = false;         ///< body over 8 MiB
  bool hang = false;              ///< never answer
  bool huge_trailer = false;      ///< the answer ends with a 70,000-byte trailer field
  unsigned status = 200;
  std::string error_body = "attestation unavailable";  ///< the body of a status other than 200
};

const bytes signing_address = [] {
  bytes b(20);
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::uint8_t>(0xa0 + i);
  return b;
}();

test::test_http_server_options tls_options(std::vector<std::string> dns_names) {
  test::test_http_server_options o;
  o.tls = true;
  o.dns_names = std::move(dns_names);
  return o;
}

/// The attestation report a backend whose TLS key is `spki` answers to `target` (with the
/// nonce of its query), as `f` distorts it; nullopt without a valid nonce.
std::optional<std::string> report_body(std::string_view target, const sha256_digest& live_spki,
                                       const backend_faults& f) {
  const auto at = target.find("nonce=");
  auto nonce = at == std::string_view::npos ? std::nullopt : from_hex(target.substr(at + 6, 64));
  if (!nonce || nonce->size() != 32) return std::nullopt;

  sha256_digest spki = live_spki;
  if (f.claim_other_spki) spki[0] ^= 0xff;
  bytes bound_nonce = *nonce;
  if (f.wrong_nonce) bound_nonce[31] ^= 1;

  test::quote_spec q;
  const sha256_digest prefix = attest::expected_report_data_prefix(signing_address, spki);
  std::copy(prefix.begin(), prefix.end(), q.td.report_data.begin());
  std::copy(bound_nonce.begin(), bound_nonce.end(), q.td.report_data.begin() + 32);
  const bytes quote = (f.foreign_quote ? foreign_pki() : pki()).mint(q);

  json::object report;
  report["intel_quote"] = to_hex(quote);
  report["signing_address"] = "0x" + to_hex(signing_address);
  report["signing_algo"] = "ecdsa";
  if (!f.omit_fingerprint) report["tls_cert_fingerprint"] = to_hex(spki);
  report["request_nonce"] = to_hex(*nonce);
  if (f.oversized) report["padding"] = std::string(attest::max_report_body_size, 'x');
  return json::serialize(report);
}

class fake_backend {
 public:
  explicit fake_backend(std::vector<std::string> dns_names = {domain})
      : server_([this](const test::http_request_record& r) { return handle(r); }, tls_options(std::move(dns_names))) {
    auto certs = crypto::parse_pem_certificates(server_.cert_pem());
    spki_ = crypto::spki_sha256(certs.value().front().get());
  }

  void set_faults(backend_faults f) {
    const std::lock_guard lock(mutex_);
    faults_ = f;
  }

  test::test_http_server& server() { return server_; }
  const sha256_digest& spki() const { return spki_; }
  dial_address dial() const { return {"127.0.0.1", server_.port()}; }

 private:
  test::scripted_response handle(const test::http_request_record& r) {
    backend_faults f;
    {
      const std::lock_guard lock(mutex_);
      f = faults_;
    }
    if (!r.target.starts_with("/v1/attestation/report")) return answer(200, "answer to " + r.target);
    if (f.hang) {
      auto r_hang = answer(200, "");
      r_hang.fault = test::http_fault::hang;
      return r_hang;
    }
    if (f.status != 200) return answer(f.status, f.error_body);

    auto report = report_body(r.target, spki_, f);
    if (!report) return answer(400, "bad nonce");
    auto out = answer(200, std::move(*report));
    out.headers = {{"Content-Type", "application/json"}};
    if (f.huge_trailer) {
      out.chunked = true;
      out.chunk_size = 4096;
      out.trailers = {{"X-Huge", std::string(70'000, 'x')}};
    }
    return out;
  }

  std::mutex mutex_;
  backend_faults faults_;
  sha256_digest spki_{};
  test::test_http_server server_;  // last: its thread calls handle() until it is destroyed
};

connect_options via(const fake_backend& b) {
  connect_options o;
  o.connect_timeout = 2s;
  o.tls_timeout = 2s;
  o.connect_to = b.dial();
  return o;
}

const tls_client_context& no_webpki() {
  static const tls_client_context ctx = make_tls(false);
  return ctx;
}

struct attempt {
  /// First member, destroyed last: the connection's socket must die before its io_context.
  std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>();
  std::optional<result<upstream_connection>> connection;
  std::optional<server::attestation_result> outcome;
  /// Requests the backend had received when the verdict came back.
  std::vector<test::http_request_record> seen_at_verdict;
  /// The answer to a client request sent on the connection after a successful verdict.
  std::optional<std::string> follow_up_body;
};

/// connect → attest → (if accepted and `follow_up`) one client-like request on the same
/// connection, with an Authorization header the backend must only ever see afterwards.
attempt run(fake_backend& backend, const tls_client_context& tls, attest_options aopts = {}, bool follow_up = false,
            connect_options copts = {}) {
  if (!copts.connect_to) copts = via(backend);
  attempt out;
  asio::io_context& ioc = *out.ioc;
  const fixed_clock clock(test::default_time);
  // No workload policy: what the quote and its binding to this connection prove.
  server::near_attester attester(ioc.get_executor(), std::make_shared<pki_source>(), anchor_ptr(), nullptr, clock, aopts);
  auto work = [&]() -> asio::awaitable<bool> {
    out.connection = co_await connect_upstream(ioc.get_executor(), tls, domain, 443, copts);
    if (!*out.connection) co_return false;
    auto& conn = out.connection->value();
    out.outcome = co_await attester.attest(conn, {});
    out.seen_at_verdict = backend.server().requests();
    if (out.outcome->refusal || !follow_up) co_return true;

    http::request<http::string_body> request{http::verb::post, "/v1/chat/completions", 11};
    request.set(http::field::host, conn.host_header());
    request.set(http::field::authorization, "Bearer sk-secret");
    request.body() = R"({"model":"m"})";
    request.prepare_payload();
    co_await http::async_write(conn.stream(), request, asio::use_awaitable);
    http::response<http::string_body> response;
    co_await http::async_read(conn.stream(), conn.buffer(), response, asio::use_awaitable);
    out.follow_up_body = response.body();
    co_return true;
  };
  const auto finished = test::run_bounded(ioc, loop_limit, work());
  EXPECT_TRUE(finished.has_value()) << "did not complete within " << loop_limit.count() << " s";
  return out;
}

/// The attestation was refused with `code` in `phase`, and the message names the host.
::testing::AssertionResult rejected(const attempt& a, failure_phase phase, std::string_view code) {
  if (!a.connection || !*a.connection) return ::testing::AssertionFailure() << "did not connect";
  if (!a.outcome) return ::testing::AssertionFailure() << "no outcome";
  if (!a.outcome->refusal) return ::testing::AssertionFailure() << "accepted, expected " << code;
  const failure& e = *a.outcome->refusal;
  if (e.phase != phase || e.code != code) {
    return ::testing::AssertionFailure() << "got " << e.code << " in " << to_string(e.phase) << " (" << e.message
                                         << "), expected " << code;
  }
  if (e.message.find(domain) == std::string::npos) {
    return ::testing::AssertionFailure() << "message does not name the host: " << e.message;
  }
  return ::testing::AssertionSuccess();
}

/// Nothing but one attestation GET reached the backend before the verdict.
void expect_only_attestation_request(const attempt& a) {
  ASSERT_EQ(a.seen_at_verdict.size(), 1u);
  const auto& r = a.seen_at_verdict.front();
  EXPECT_EQ(r.method, "GET");
  EXPECT_TRUE(r.target.starts_with("/v1/attestation/report?include_tls_fingerprint=true&nonce=")) << r.target;
  EXPECT_TRUE(r.target.ends_with("&signing_algo=ed25519")) << r.target;
  EXPECT_EQ(r.request_on_connection, 1u);
  EXPECT_FALSE(r.header("Authorization").has_value());
  EXPECT_EQ(r.header("Host"), std::optional<std::string_view>(domain));
  EXPECT_EQ(r.tls_server_name, domain);
  EXPECT_FALSE(r.header("Content-Length").has_value());
}

// ---------------------------------------------------------------------------------------

TEST(UpstreamAttestedConnection, HappyPathVerifiesThenServesOnTheSameConnection) {
  fake_backend backend;
  const attempt a = run(backend, no_webpki(), {}, /*follow_up=*/true);
  ASSERT_TRUE(a.connection && *a.connection) << a.connection->error().message;
  ASSERT_TRUE(a.outcome && !a.outcome->refusal) << a.outcome->refusal->message;
  const auto& o = *a.outcome;
  const auto& verdict = *o.appraisal->connection_entity()->verdict;
  EXPECT_EQ(verdict.tls_cert_fingerprint, backend.spki());
  EXPECT_EQ(a.connection->value().spki_sha256(), backend.spki());
  EXPECT_EQ(verdict.signing_address, signing_address);
  EXPECT_EQ(o.appraisal->form, attest::report_form::direct);
  EXPECT_TRUE(a.connection->value().reusable());
  ASSERT_NE(a.connection->value().peer_certificate(), nullptr);

  expect_only_attestation_request(a);
  // The nonce on the wire is the one the verdict is bound to.
  EXPECT_NE(a.seen_at_verdict.front().target.find("nonce=" + to_hex(o.nonce)), std::string::npos);

  ASSERT_EQ(a.follow_up_body, std::optional<std::string>("answer to /v1/chat/completions"));
  const auto all = backend.server().requests();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].request_on_connection, 2u);  // same TLS connection, keep-alive
  EXPECT_EQ(all[1].header("Authorization"), std::optional<std::string_view>("Bearer sk-secret"));
  EXPECT_EQ(backend.server().connection_count(), 1u);
}

TEST(UpstreamAttestedConnection, NoncesAreFreshPerAttestation) {
  fake_backend backend;
  const attempt a = run(backend, no_webpki());
  const attempt b = run(backend, no_webpki());
  ASSERT_TRUE(a.outcome && !a.outcome->refusal && b.outcome && !b.outcome->refusal);
  EXPECT_NE(a.outcome->nonce, b.outcome->nonce);
}

TEST(UpstreamAttestedConnection, ReportBindingAnotherTlsKeyIsRejected) {
  fake_backend backend;
  backend.set_faults({.claim_other_spki = true});
  const attempt a = run(backend, no_webpki());
  EXPECT_TRUE(rejected(a, failure_phase::binding, "fingerprint_mismatch"));
  EXPECT_FALSE(a.connection->value().reusable());
  expect_only_attestation_request(a);
}

TEST(UpstreamAttestedConnection, WrongNonceInReportDataIsRejected) {
  fake_backend backend;
  backend.set_faults({.wrong_nonce = true});
  const attempt a = run(backend, no_webpki());
  EXPECT_TRUE(rejected(a, failure_phase::binding, "nonce_mismatch"));
  expect_only_attestation_request(a);
}

TEST(UpstreamAttestedConnection, QuoteFromAForeignPkiIsRejected) {
  fake_backend backend;
  backend.set_faults({.foreign_quote = true});
  const attempt a = run(backend, no_webpki());
  EXPECT_TRUE(rejected(a, failure_phase::quote, "untrusted_chain"));
}

TEST(UpstreamAttestedConnection, MissingTlsFingerprintIsRejected) {
  fake_backend backend;
  backend.set_faults({.omit_fingerprint = true});
  const attempt a = run(backend, no_webpki());
  EXPECT_TRUE(rejected(a, failure_phase::binding, "missing_tls_fingerprint"));
}

TEST(UpstreamAttestedConnection, OversizedReportIsRejected) {
  fake_backend backend;
  backend.set_faults({.oversized = true});
  const attempt a = run(backend, no_webpki());
  EXPECT_TRUE(rejected(a, failure_phase::exchange, "report_too_large"));
}

TEST(UpstreamAttestedConnection, HugeTrailerOnTheAnswerIsAMalformedAnswerNotACrash) {
  fake_backend backend;
  backend.set_faults({.huge_trailer = true});
  const attempt a = run(backend, no_webpki());
  EXPECT_TRUE(rejected(a, failure_phase::exchange, "backend_unreachable"));
  EXPECT_NE(a.outcome->refusal->message.find("malformed attestation answer"), std::string::npos)
      << a.outcome->refusal->message;
  EXPECT_FALSE(a.connection->value().reusable());
  expect_only_attestation_request(a);
}

TEST(UpstreamAttestedConnection, ErrorStatusIsRejected) {
  fake_backend backend;
  backend.set_faults({.status = 503});
  const attempt a = run(backend, no_webpki());
  EXPECT_TRUE(rejected(a, failure_phase::exchange, "attestation_unavailable"));
  EXPECT_NE(a.outcome->refusal->message.find("503"), std::string::npos);
}

TEST(UpstreamAttestedConnection, ErrorBodyIsQuotedBoundedAndEscaped) {
  // An unverified server's error body ends up in the refusal and in the log line.
  fake_backend backend;
  backend.set_faults({.status = 500, .error_body = "\x1b[2J\u202eforged\n" + std::string(100'000, 'z')});
  const attempt a = run(backend, no_webpki());
  ASSERT_TRUE(rejected(a, failure_phase::exchange, "attestation_unavailable"));
  const auto& message = a.outcome->refusal->message;
  EXPECT_LT(message.size(), 400u) << message.size();
  EXPECT_NE(message.find("HTTP 500: \\x1b[2J\\xe2\\x80\\xaeforged\\x0azzz"), std::string::npos) << message;
  EXPECT_TRUE(message.ends_with("z…")) << message;
}

TEST(UpstreamAttestedConnection, HangingBackendTimesOut) {
  fake_backend backend;
  backend.set_faults({.hang = true});
  const auto start = std::chrono::steady_clock::now();
  attest_options o;
  o.timeout = 300ms;
  const attempt a = run(backend, no_webpki(), o);
  EXPECT_TRUE(rejected(a, failure_phase::exchange, "attestation_timeout"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(UpstreamAttestedConnection, CollateralIsFetchedForTheQuotesPlatform) {
  fake_backend backend;
  asio::io_context ioc;
  const auto source = std::make_shared<pki_source>();
  const fixed_clock clock(test::default_time);
  server::near_attester attester(ioc.get_executor(), source, anchor_ptr(), nullptr, clock, {});
  auto work = [&]() -> asio::awaitable<bool> {
    auto conn = co_await connect_upstream(ioc.get_executor(), no_webpki(), domain, 443, via(backend));
    if (!conn) co_return false;
    auto outcome = co_await attester.attest(*conn, {});
    co_return !outcome.refusal;
  };
  EXPECT_EQ(test::run_bounded(ioc, loop_limit, work()), std::optional<bool>(true));
  EXPECT_EQ(source->calls.load(), 1);
}

// ---------------------------------------------------------------------------------------
// Connecting

TEST(UpstreamConnect, ConnectionRefusedIsUnreachable) {
  std::uint16_t closed_port = 0;
  {
    asio::io_context probe;
    asio::ip::tcp::acceptor acceptor(probe, {asio::ip::make_address_v4("127.0.0.1"), 0});
    closed_port = acceptor.local_endpoint().port();
  }
  asio::io_context ioc;
  connect_options o;
  o.connect_to = dial_address{"127.0.0.1", closed_port};
  const auto r = test::run_bounded(ioc, loop_limit, connect_upstream(ioc.get_executor(), no_webpki(), domain, 443, o));
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind, errc::unreachable) << r->error().message;
  EXPECT_NE(r->error().message.find(domain), std::string::npos) << r->error().message;
  EXPECT_NE(r->error().message.find("127.0.0.1:" + std::to_string(closed_port)), std::string::npos);
}

TEST(UpstreamConnect, SilentPeerHitsTheTlsTimeout) {
  asio::io_context ioc;
  asio::ip::tcp::acceptor acceptor(ioc, {asio::ip::make_address_v4("127.0.0.1"), 0});
  asio::ip::tcp::socket held(ioc);
  acceptor.async_accept(held, [](boost::system::error_code) {});  // accept, never speak TLS
  connect_options o;
  o.tls_timeout = 200ms;
  o.connect_to = dial_address{"127.0.0.1", acceptor.local_endpoint().port()};
  const auto r = test::run_bounded(ioc, loop_limit, connect_upstream(ioc.get_executor(), no_webpki(), domain, 443, o));
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind, errc::timeout) << r->error().message;
  EXPECT_NE(r->error().message.find("TLS handshake"), std::string::npos) << r->error().message;
}

TEST(UpstreamConnect, WebPkiWithTheServersCaPassesAndChecksTheHostName) {
  fake_backend backend;
  const tls_client_context tls = make_tls(true, backend.server().ca_file());
  const attempt a = run(backend, tls);
  ASSERT_TRUE(a.connection && *a.connection) << a.connection->error().message;
  ASSERT_TRUE(a.outcome && !a.outcome->refusal) << a.outcome->refusal->message;

  // Same CA, but the certificate does not name the host asked for.
  asio::io_context ioc;
  const auto other = test::run_bounded(
      ioc, loop_limit, connect_upstream(ioc.get_executor(), tls, "other.completions.near.ai", 443, via(backend)));
  ASSERT_TRUE(other.has_value());
  ASSERT_FALSE(*other);
  EXPECT_EQ(other->error().kind, errc::tls);
  EXPECT_NE(other->error().message.find("hostname mismatch"), std::string::npos) << other->error().message;
}

TEST(UpstreamConnect, WebPkiWithoutTheServersCaFails) {
  fake_backend backend;
  const tls_client_context system_store = make_tls(true);
  asio::io_context ioc;
  const auto r =
      test::run_bounded(ioc, loop_limit, connect_upstream(ioc.get_executor(), system_store, domain, 443, via(backend)));
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(*r);
  EXPECT_EQ(r->error().kind, errc::tls);
  EXPECT_NE(r->error().message.find("certificate verify failed"), std::string::npos) << r->error().message;
  EXPECT_EQ(backend.server().request_count(), 0u);
}

TEST(UpstreamConnect, NoWebPkiAcceptsAnyCertificateAndExposesItsKey) {
  fake_backend backend({"unrelated.example"});  // neither trusted nor naming the host
  asio::io_context ioc;
  const auto r =
      test::run_bounded(ioc, loop_limit, connect_upstream(ioc.get_executor(), no_webpki(), domain, 443, via(backend)));
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(*r) << r->error().message;
  EXPECT_EQ(r->value().spki_sha256(), backend.spki());
  EXPECT_EQ(r->value().host(), domain);
  EXPECT_EQ(r->value().host_header(), domain);
  EXPECT_EQ(r->value().dialled(), "127.0.0.1:" + std::to_string(backend.server().port()));
}

TEST(UpstreamConnect, UnreadableCaFileIsAStartupError) {
  EXPECT_THROW(make_tls(true, "/nonexistent/ca.pem"), std::runtime_error);
}

// ---------------------------------------------------------------------------------------
// TLS session resumption: offered only for a key the caller still trusts

struct resumption_attempt {
  bool connected = false;
  bool resumed = false;
  sha256_digest spki{};
  bool has_peer_certificate = false;
  std::optional<std::string> answer;
};

/// Connects to `backend` (offering a session when `resume_if` is given) and makes one GET,
/// whose reading lets OpenSSL take in the tickets the server sends after the handshake.
resumption_attempt connect_and_get(fake_backend& backend, const tls_client_context& tls,
                                   std::function<bool(const sha256_digest&)> resume_if) {
  resumption_attempt out;
  asio::io_context ioc;
  auto work = [&]() -> asio::awaitable<bool> {
    auto o = via(backend);
    o.resume_if = resume_if;
    auto conn = co_await connect_upstream(ioc.get_executor(), tls, domain, 443, o);
    if (!conn) co_return false;
    out.connected = true;
    out.resumed = conn->resumed();
    out.spki = conn->spki_sha256();
    out.has_peer_certificate = conn->peer_certificate() != nullptr;
    http::request<http::empty_body> request{http::verb::get, "/v1/models", 11};
    request.set(http::field::host, conn->host_header());
    co_await http::async_write(conn->stream(), request, asio::use_awaitable);
    http::response<http::string_body> response;
    co_await http::async_read(conn->stream(), conn->buffer(), response, asio::use_awaitable);
    out.answer = response.body();
    co_return true;
  };
  EXPECT_EQ(test::run_bounded(ioc, loop_limit, work()), std::optional<bool>(true));
  return out;
}

TEST(UpstreamResumption, ASecondConnectionResumesWithTheFirstSessionsKey) {
  fake_backend backend;
  for (const bool webpki : {false, true}) {
    const tls_client_context tls = make_tls(webpki, webpki ? backend.server().ca_file() : std::string());
    std::vector<sha256_digest> asked;
    const auto trusted = [&](const sha256_digest& spki) {
      asked.push_back(spki);
      return true;
    };
    const auto first = connect_and_get(backend, tls, trusted);
    ASSERT_TRUE(first.connected);
    EXPECT_FALSE(first.resumed) << "nothing to resume yet";
    EXPECT_TRUE(asked.empty());
    const auto second = connect_and_get(backend, tls, trusted);
    ASSERT_TRUE(second.connected);
    EXPECT_TRUE(second.resumed) << "webpki=" << webpki;
    EXPECT_EQ(asked, std::vector<sha256_digest>{backend.spki()}) << "the offer was asked about the session's key";
    // No certificate in a resumed handshake: the key is the one the session was made with.
    EXPECT_EQ(second.spki, backend.spki());
    EXPECT_TRUE(second.has_peer_certificate);
    EXPECT_EQ(second.answer, std::optional<std::string>("answer to /v1/models"));
    EXPECT_EQ(backend.server().connection_count(), webpki ? 4u : 2u);
  }
}

TEST(UpstreamResumption, NoSessionIsOfferedForAKeyNoLongerTrusted) {
  fake_backend backend;
  const tls_client_context tls = make_tls(false);
  bool fresh = true;
  const auto verdict = [&](const sha256_digest& spki) { return fresh && spki == backend.spki(); };
  ASSERT_TRUE(connect_and_get(backend, tls, verdict).connected);
  // The verdict expired or was forgotten: a full handshake, whose certificate is checked
  // (and whose key attested) anew.
  fresh = false;
  const auto stale = connect_and_get(backend, tls, verdict);
  ASSERT_TRUE(stale.connected);
  EXPECT_FALSE(stale.resumed);
  EXPECT_EQ(stale.spki, backend.spki());
  // The refused session is gone, but the full handshake brought new ones.
  fresh = true;
  EXPECT_TRUE(connect_and_get(backend, tls, verdict).resumed);
}

TEST(UpstreamResumption, WithoutResumeIfNoSessionIsKeptOrOffered) {
  fake_backend backend;
  const tls_client_context tls = make_tls(false);
  const auto always = [](const sha256_digest&) { return true; };
  ASSERT_TRUE(connect_and_get(backend, tls, nullptr).connected);
  // The first connection's sessions were not kept: nothing to resume even when allowed.
  EXPECT_FALSE(connect_and_get(backend, tls, always).resumed);
  EXPECT_FALSE(connect_and_get(backend, tls, nullptr).resumed) << "not offered";
}

TEST(UpstreamResumption, SessionsAreNotOfferedToAnotherServerOrName) {
  fake_backend backend;
  fake_backend other;
  const tls_client_context tls = make_tls(false);
  const auto always = [](const sha256_digest&) { return true; };
  ASSERT_TRUE(connect_and_get(backend, tls, always).connected);
  // Another dialled address: its own (empty) entry.
  const auto elsewhere = connect_and_get(other, tls, always);
  ASSERT_TRUE(elsewhere.connected);
  EXPECT_FALSE(elsewhere.resumed);
  EXPECT_EQ(elsewhere.spki, other.spki());
  // Another name on the same address.
  asio::io_context ioc;
  auto o = via(backend);
  o.resume_if = always;
  const auto renamed =
      test::run_bounded(ioc, loop_limit, connect_upstream(ioc.get_executor(), tls, "localhost", 443, o));
  ASSERT_TRUE(renamed && *renamed) << (renamed ? renamed->error().message : "hung");
  EXPECT_FALSE(renamed->value().resumed());
}

// ---------------------------------------------------------------------------------------
// Renegotiation: the attested key must stay the key of the whole session

/// Two GETs on one connection to a server that renegotiates before its second answer
/// (switching to a certificate from another CA); `allow_renegotiation` takes
/// SSL_OP_NO_RENEGOTIATION off this connection to show what it prevents.
struct renegotiation_run {
  std::optional<std::string> first, second;  ///< the answers' bodies (nullopt: the read failed)
  std::string second_error;
  sha256_digest key_at_connect{}, key_at_end{};
  std::optional<std::string> hazard;  ///< reuse_hazard() after the second exchange
  bool reused = false;                ///< a pool it was offered to handed it out again
};

renegotiation_run exchange_twice(const test::renegotiating_tls_server& server, const tls_client_context& tls,
                                 bool allow_renegotiation) {
  renegotiation_run out;
  asio::io_context ioc;
  auto work = [&]() -> asio::awaitable<bool> {
    connect_options o;
    o.connect_to = dial_address{"127.0.0.1", server.port()};
    auto conn = co_await connect_upstream(ioc.get_executor(), tls, "localhost", 443, o);
    if (!conn) co_return false;
    SSL* ssl = conn->stream().native_handle();
    if (allow_renegotiation) ::SSL_clear_options(ssl, SSL_OP_NO_RENEGOTIATION);
    out.key_at_connect = conn->spki_sha256();
    for (auto* slot : {&out.first, &out.second}) {
      http::request<http::empty_body> request{http::verb::get, "/", 11};
      request.set(http::field::host, conn->host_header());
      if (auto [ec, n] = co_await http::async_write(conn->stream(), request, asio::as_tuple(asio::use_awaitable));
          ec) {
        out.second_error = "write: " + ec.message();
        break;
      }
      http::response<http::string_body> response;
      auto [ec, n] = co_await http::async_read(conn->stream(), conn->buffer(), response,
                                               asio::as_tuple(asio::use_awaitable));
      if (ec) {
        out.second_error = ec.message();
        conn->mark_not_reusable();  // what the forwarder does with a failed exchange
        break;
      }
      *slot = response.body();
    }
    if (X509* peer = ::SSL_get0_peer_certificate(ssl)) out.key_at_end = crypto::spki_sha256(peer);
    out.hazard = conn->reuse_hazard();
    vp::server::upstream_pool pool(ioc.get_executor(), {4, 60s}, [] { return std::size_t{1}; });
    pool.put(std::move(*conn));
    out.reused = pool.take("localhost", [](const upstream_connection&) { return true; }).has_value();
    co_return true;
  };
  const auto done = test::run_bounded(ioc, loop_limit, work());
  EXPECT_EQ(done, std::optional<bool>(true)) << "did not connect or did not finish";
  return out;
}

TEST(UpstreamRenegotiation, ServerInitiatedRenegotiationIsRefusedAndTheConnectionNotReused) {
  for (const bool webpki : {false, true}) {
    // With WebPKI on, the second certificate is one the CA vouches for: only the refusal
    // to renegotiate keeps the attested key.
    test::renegotiating_tls_server server({.second_from_same_ca = webpki});
    const tls_client_context tls = webpki ? make_tls(true, server.ca_file()) : make_tls(false);
    const auto run = exchange_twice(server, tls, false);
    EXPECT_EQ(run.first, std::optional<std::string>("response 1")) << "webpki=" << webpki;
    EXPECT_FALSE(run.second) << "the answer after a renegotiation must not be read";
    EXPECT_FALSE(run.second_error.empty());
    // The server counts the refusal after its alert reached the client.
    EXPECT_TRUE(test::eventually([&] { return server.refusals() == 1; }))
        << "the client answered the HelloRequest with no_renegotiation";
    EXPECT_EQ(server.renegotiations(), 0u);
    EXPECT_EQ(run.key_at_end, server.first_spki()) << "the session kept the attested key";
    EXPECT_FALSE(run.reused) << "a connection whose exchange failed is not reused";
  }
}

TEST(UpstreamRenegotiation, WithoutNoRenegotiationTheKeyWouldChangeAndThePoolRefusesTheConnection) {
  // What SSL_OP_NO_RENEGOTIATION prevents: the server switches to a key nobody attested
  // (and whose CA the client does not know: --no-webpki relies on attestation alone), and
  // the second answer arrives over a session authenticated by that key.
  test::renegotiating_tls_server server;
  const auto run = exchange_twice(server, make_tls(false), true);
  EXPECT_EQ(run.first, std::optional<std::string>("response 1"));
  EXPECT_EQ(run.second, std::optional<std::string>("response 2")) << run.second_error;
  EXPECT_EQ(server.renegotiations(), 1u);
  EXPECT_EQ(run.key_at_connect, server.first_spki());
  EXPECT_EQ(run.key_at_end, server.second_spki());
  // Defence in depth: the key check refuses the connection for reuse.
  ASSERT_TRUE(run.hazard);
  EXPECT_NE(run.hazard->find("key changed"), std::string::npos) << *run.hazard;
  EXPECT_FALSE(run.reused);
}

TEST(UpstreamRenegotiation, AnAttestedConnectionCannotBeRenegotiatedToAnotherKey) {
  // The attack itself: the backend's first key is attested on the connection, then the
  // backend renegotiates to a key nobody attested before answering the client's request.
  std::optional<sha256_digest> attested_key;
  test::renegotiating_tls_server server({.body_for = [&](std::string_view target) {
    return target.starts_with("/v1/attestation/report") ? report_body(target, *attested_key, {}).value_or("")
                                                        : "answer to " + std::string(target);
  }});
  attested_key = server.first_spki();
  for (const bool allow_renegotiation : {false, true}) {
    asio::io_context ioc;
    const fixed_clock clock(test::default_time);
    server::near_attester attester(ioc.get_executor(), std::make_shared<pki_source>(), anchor_ptr(), nullptr, clock, {});
    std::optional<std::string> answer_body;
    std::optional<sha256_digest> key_at_end;
    auto work = [&]() -> asio::awaitable<bool> {
      connect_options o;
      o.connect_to = dial_address{"127.0.0.1", server.port()};
      auto conn = co_await connect_upstream(ioc.get_executor(), make_tls(false), "localhost", 443, o);
      if (!conn) co_return false;
      if (allow_renegotiation) ::SSL_clear_options(conn->stream().native_handle(), SSL_OP_NO_RENEGOTIATION);
      auto outcome = co_await attester.attest(*conn, {});
      if (outcome.refusal || outcome.appraisal->connection_entity()->verdict->tls_cert_fingerprint !=
                                 server.first_spki()) {
        co_return false;
      }
      http::request<http::empty_body> request{http::verb::get, "/v1/chat/completions", 11};
      request.set(http::field::host, conn->host_header());
      co_await http::async_write(conn->stream(), request, asio::as_tuple(asio::use_awaitable));
      http::response<http::string_body> response;
      if (auto [ec, n] = co_await http::async_read(conn->stream(), conn->buffer(), response,
                                                   asio::as_tuple(asio::use_awaitable));
          !ec) {
        answer_body = response.body();
      }
      key_at_end = crypto::spki_sha256(::SSL_get0_peer_certificate(conn->stream().native_handle()));
      co_return true;
    };
    ASSERT_EQ(test::run_bounded(ioc, loop_limit, work()), std::optional<bool>(true)) << "not attested";
    if (allow_renegotiation) {
      // What SSL_OP_NO_RENEGOTIATION prevents: the answer comes over the unattested key.
      EXPECT_EQ(answer_body, std::optional<std::string>("answer to /v1/chat/completions"));
      EXPECT_EQ(key_at_end, server.second_spki());
    } else {
      EXPECT_FALSE(answer_body) << "read an answer after a renegotiation";
      EXPECT_EQ(key_at_end, server.first_spki());
      EXPECT_TRUE(test::eventually([&] { return server.refusals() == 1; }));
    }
  }
  EXPECT_EQ(server.renegotiations(), 1u);  // only where the test itself allowed it
}

TEST(UpstreamRenegotiation, HttpClientRefusesRenegotiationToo) {
  test::renegotiating_tls_server server({.renegotiate_before_answer = 1, .second_from_same_ca = true});
  asio::io_context ioc;
  net::http_client_options options;
  options.ca_file = server.ca_file();
  options.connect_timeout = 2s;
  options.response_timeout = 2s;
  net::http_client client(ioc.get_executor(), options);
  const auto r = test::run_bounded(
      ioc, loop_limit, client.get("https://127.0.0.1:" + std::to_string(server.port()) + "/endpoints"));
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(*r) << "status " << (*r ? (*r)->status : 0u);
  EXPECT_TRUE(test::eventually([&] { return server.refusals() == 1; }));
  EXPECT_EQ(server.renegotiations(), 0u);
}

TEST(UpstreamAttestation, TargetCarriesTheNonceInHex) {
  attestation_nonce n{};
  n[0] = 0xab;
  n[31] = 0x01;
  EXPECT_EQ(attestation_target(n),
            "/v1/attestation/report?include_tls_fingerprint=true&nonce=ab" + std::string(60, '0') +
                "01&signing_algo=ed25519");
  EXPECT_EQ(attestation_target(n, attest::signing_algorithm::ecdsa),
            "/v1/attestation/report?include_tls_fingerprint=true&nonce=ab" + std::string(60, '0') +
                "01&signing_algo=ecdsa");
  const gateway_report_query gateway{"openai/gpt oss&x=1", "near", std::nullopt};
  EXPECT_EQ(attestation_target(n, attest::signing_algorithm::ed25519, &gateway),
            "/v1/attestation/report?model=openai%2Fgpt%20oss%26x%3D1&include_tls_fingerprint=true&nonce=ab" +
                std::string(60, '0') + "01&signing_algo=ed25519&provider=near");
  const auto r1 = random_nonce();
  const auto r2 = random_nonce();
  ASSERT_TRUE(r1 && r2);
  EXPECT_NE(*r1, *r2);
}

}  // namespace
}  // namespace vp::upstream
