// The simulated NEAR gateway (docs/gpu-signatures-e2ee.md §5, docs/nearai-attestation.md
// §1.5) seen by a client on one TLS connection, judged by the project's own code: its
// report parses as the gateway form and passes verify-report's offline appraisal
// (appraise::mode::offline_all, the simulator's PCCS, NRAS and policy) — the gateway CVM
// bound to the live TLS key and the client's nonce, the model CVM to its own key and the
// same nonce — and each gateway fault breaks exactly the check it is about. Requests are
// relayed to the model CVM that holds X-Model-Pub-Key (byte-exactly under E2EE, streams as
// they arrive), and each answer's signature is the model's (provider_tee) or the gateway's.

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "appraise/appraisal.hpp"
#include "attest/near_report.hpp"
#include "collateral/pcs_source.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "e2ee/cipher.hpp"
#include "e2ee/fields.hpp"
#include "e2ee/sse.hpp"
#include "gpu/evidence.hpp"
#include "gpu/nras.hpp"
#include "net/http_client.hpp"
#include "policy/policy.hpp"
#include "signature/response_signature.hpp"
#include "sim/backend_server.hpp"
#include "sim/deployment.hpp"
#include "sim/openai.hpp"
#include "sim/sim_cli.hpp"
#include "sim/simulator.hpp"
#include "support/run_bounded.hpp"
#include "support/sim_tls_session.hpp"
#include "support/testdata.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using attest::signing_algorithm;
using namespace std::chrono_literals;

constexpr const char* model_domain = "gw.completions.near.ai";
constexpr const char* other_domain = "other.completions.near.ai";
constexpr const char* model = "sim-model";
constexpr const char* other_model = "other-model";
constexpr unsigned stream_tokens = 4;
constexpr auto io_limit = 20s;
constexpr const char* api_key = "Bearer sk-sim-client-key";

using response = http::response<http::string_body>;
using test::header_list;

const system_clock& wall_clock() {
  static const system_clock c;
  return c;
}

using test::data_events;
using test::hex_sha256;
using test::parse_object;
using test::recipient_of;

std::string str(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : json::serialize(v); }

std::optional<std::string> header_in(const header_list& headers, std::string_view name) {
  for (const auto& [n, v] : headers) {
    if (beast::iequals(n, name)) return v;
  }
  return std::nullopt;
}

std::string nonce_hex(char fill) { return std::string(64, fill); }

sha256_digest digest_of_hex(std::string_view hex) {
  sha256_digest out{};
  const auto raw = from_hex(hex);
  if (raw && raw->size() == out.size()) std::copy(raw->begin(), raw->end(), out.begin());
  return out;
}

/// One TLS connection to the gateway, used synchronously (each exchange bounded in time),
/// with the client's API key unless an exchange says `authorized` false.
class gateway_session : public test::sim_tls_session {
 public:
  gateway_session(const upstream::tls_client_context& tls, const std::string& host, std::uint16_t port)
      : sim_tls_session(tls, host, port, io_limit, {{"Authorization", api_key}}) {}

  /// The gateway report for `algo` and `nonce` (64 hex), as a client asks for it (§5.1 step 2).
  response report(signing_algorithm algo, const std::string& nonce, std::string_view for_model = model) {
    return get("/v1/attestation/report?model=" + std::string(for_model) + "&nonce=" + nonce +
               "&signing_algo=" + std::string(attest::to_string(algo)) + "&include_tls_fingerprint=true&provider=near");
  }
};

json::object chat(std::string_view prompt, bool stream = false, std::string_view for_model = model) {
  return test::chat_request(for_model, prompt, stream);
}

struct sealed_request {
  std::string body;
  header_list headers;
};

/// A chat body sealed to the model key, with the headers of §4.1 and the routing pin.
sealed_request seal_chat(const attest::near_attestation& to, const e2ee::field_cipher& cipher, json::object plaintext) {
  const auto sealed = e2ee::encrypt_request(e2ee::endpoint::chat_completions, plaintext, cipher);
  EXPECT_TRUE(sealed && *sealed > 0) << "nothing was sealed";
  return {json::serialize(plaintext),
          {{"X-Signing-Algo", std::string(e2ee::signing_algo_header(cipher.kind()))},
           {"X-Client-Pub-Key", cipher.public_key_hex()},
           {"X-Encryption-Version", "2"},
           {"X-Encrypt-All-Fields", "true"},
           {"X-Model-Pub-Key", to_hex(*to.signing_public_key)}}};
}

/// A covered field as sent sealed: hex of at least `minimum` bytes.
bool looks_sealed(const json::value& v, std::size_t minimum = 72) {
  const auto* s = v.if_string();
  if (s == nullptr) return false;
  const auto raw = from_hex(*s);
  return raw && raw->size() >= minimum;
}


/// A signature lookup's answer checked against what the client knows: who must have
/// signed, the bytes it sent and read, the model (§3.6).
signature::verification verify_signature(const response& r, signing_algorithm algo, const bytes& signer,
                                         std::string_view sent, std::string_view received,
                                         std::optional<std::string> model_name = std::nullopt) {
  auto doc = signature::parse_signature_document(r.body());
  if (!doc) {
    signature::verification refused;
    refused.failed_check = "document:" + doc.error().code;
    refused.message = doc.error().message;
    return refused;
  }
  signature::expectations expected;
  expected.signer = signature::expected_signer{algo, signer};
  expected.request_hash = crypto::sha256(as_bytes(sent));
  expected.response_hash = crypto::sha256(as_bytes(received));
  expected.model = std::move(model_name);
  return signature::verify(*doc, expected);
}

class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    simulator_options o;
    o.gpus = 1;  // the GPUs are gpu_test.cpp's business; one keeps the NRAS path real
    o.stream_tokens = stream_tokens;
    domain_options models;
    models.domain = model_domain;
    models.models = {model};
    models.instances = 2;  // two replicas with their own keys: X-Model-Pub-Key picks one
    domain_options other;
    other.domain = other_domain;
    other.models = {other_model};
    o.domains = {models, other};
    o.gateway = gateway_options{};
    sim_ = new simulator(o);
    dir_ = new std::filesystem::path(std::filesystem::path(::testing::TempDir()) /
                                     ("vp-gateway-sim-test-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*dir_);
    std::ofstream(*dir_ / "upstream-ca.pem") << sim_->upstream_ca_pem();
    tls_ = new upstream::tls_client_context(upstream::tls_client_options{true, (*dir_ / "upstream-ca.pem").string()});
    anchor_ =
        new std::shared_ptr<const tdx::trust_anchor>(tdx::load_trust_anchor(as_bytes(sim_->root_ca_pem())).value());
    auto gpu_root = gpu::load_trust_anchor(sim_->nvidia_root_ca_pem());
    ASSERT_TRUE(gpu_root) << gpu_root.error();
    gpu_root_ = new gpu::trust_anchor(std::move(*gpu_root));
    auto policy = policy::parse_policy(sim_->policy_json());
    ASSERT_TRUE(policy) << sim_->policy_json();
    policy_ = new policy::workload_policy(std::move(*policy));
  }
  static void TearDownTestSuite() {
    delete policy_;
    delete gpu_root_;
    delete anchor_;
    delete tls_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
    delete sim_;
  }
  void SetUp() override {
    sim_->set_gateway_faults({});
    for (std::size_t i = 0; i < 2; ++i) sim_->set_faults(model_domain, i, {});
    sim_->set_signature_delay(0ms);
  }

  static gateway_session connect() {
    return gateway_session(*tls_, sim_->gateway_domain(), sim_->gateway_port());
  }

  /// verify-report's judgement of a gateway report (every attestation, offline_all) with
  /// the simulator's collateral, NVIDIA answers, roots and policy, as of now.
  static appraise::appraisal appraise_report(const attest::near_report_document& doc, const std::string& nonce,
                                             const sha256_digest& live_spki) {
    appraise::evidence_set evidence;
    evidence.gpu_root = gpu_root_;
    auto keys = gpu::nras::parse_jwks(sim_->nras_jwks_json());
    EXPECT_TRUE(keys);
    if (keys) evidence.nras_keys = std::make_shared<const gpu::nras::jwks>(std::move(*keys));
    evidence.nras_key_pins = {sim_->nras_key_pin()};
    const appraise::evidence_needs needed = appraise::needs(doc, appraise::mode::offline_all);

    asio::io_context io;
    auto client = std::make_shared<net::http_client>(io.get_executor(), net::http_client_options{});
    collateral::pcs_source source(client, collateral::pcs_source_options{{sim_->pccs_url()}, 0}, *anchor_,
                                  wall_clock());
    auto work = [&]() -> asio::awaitable<bool> {
      for (const auto& platform : needed.platforms) {
        auto got = co_await source.get(collateral::platform_key{platform.fmspc, platform.pck_ca});
        if (!got) co_return false;
        evidence.add(platform, got->collateral);
      }
      for (const auto& gpus : needed.nras) {
        auto answer = co_await client->post(sim_->nras_url(), gpus.payload, "application/json");
        if (!answer || answer->status != 200) co_return false;
        evidence.nras.push_back({gpus.json_pointer, answer->body, {}});
      }
      co_return true;
    };
    EXPECT_EQ(test::run_bounded(io, io_limit, work()), std::optional<bool>(true));

    appraise::connection_facts facts;
    facts.nonce = digest_of_hex(nonce);
    facts.live_spki = live_spki;
    facts.routed_model = model;
    return appraise::appraise(doc, facts, evidence, policy_, **anchor_, wall_clock().now(),
                              appraise::mode::offline_all);
  }

  /// The gateway report for `nonce` on `s`, parsed (the test fails when it does not).
  static attest::near_report_document report_document(gateway_session& s, signing_algorithm algo,
                                                      const std::string& nonce) {
    const response r = s.report(algo, nonce);
    EXPECT_EQ(r.result_int(), 200u) << r.body().substr(0, 300);
    auto doc = attest::parse_report_document(r.body());
    EXPECT_TRUE(doc) << (doc ? "" : doc.error().message);
    return doc ? std::move(*doc) : attest::near_report_document{};
  }

  static const attest::near_attestation& model_attestation(const attest::near_report_document& doc) {
    static const attest::near_attestation none;
    const auto* a = doc.find("/model_attestations/0");
    return a != nullptr ? *a : none;
  }

  /// What a client holds once it sealed the chat `prompt` to the model attestation of an
  /// ed25519 report on `s` (nonce of `fill`): the report, the client's cipher and the request.
  struct sealed_chat {
    attest::near_report_document doc;
    std::optional<e2ee::field_cipher> cipher;
    sealed_request request;
  };

  static sealed_chat seal_chat_to_model(gateway_session& s, char fill, std::string_view prompt) {
    sealed_chat out;
    out.doc = report_document(s, signing_algorithm::ed25519, nonce_hex(fill));
    const attest::near_attestation& m = model_attestation(out.doc);
    out.cipher = e2ee::field_cipher::for_client(recipient_of(m));
    EXPECT_TRUE(out.cipher);
    if (!out.cipher) return out;
    out.request = seal_chat(m, *out.cipher, chat(prompt));
    return out;
  }

  /// The instance of the model domain whose E2EE key `a` names.
  static std::optional<std::size_t> instance_of(const attest::near_attestation& a) {
    const std::string fingerprint = a.tls_cert_fingerprint ? to_hex(*a.tls_cert_fingerprint) : std::string();
    for (std::size_t i = 0; i < 2; ++i) {
      if (sim_->spki_sha256_hex(model_domain, i) == fingerprint) return i;
    }
    return std::nullopt;
  }

  static std::optional<gateway_exchange> last_exchange() {
    const auto all = sim_->gateway_exchanges();
    if (all.empty()) return std::nullopt;
    return all.back();
  }

  static std::optional<backend_exchange> backend_exchange_of(std::string_view chat_id) {
    for (const auto& x : sim_->exchanges(model_domain)) {
      if (x.chat_id == chat_id) return x;
    }
    return std::nullopt;
  }

  static simulator* sim_;
  static std::filesystem::path* dir_;
  static upstream::tls_client_context* tls_;
  static std::shared_ptr<const tdx::trust_anchor>* anchor_;
  static gpu::trust_anchor* gpu_root_;
  static policy::workload_policy* policy_;
};

simulator* GatewayTest::sim_ = nullptr;
std::filesystem::path* GatewayTest::dir_ = nullptr;
upstream::tls_client_context* GatewayTest::tls_ = nullptr;
std::shared_ptr<const tdx::trust_anchor>* GatewayTest::anchor_ = nullptr;
gpu::trust_anchor* GatewayTest::gpu_root_ = nullptr;
policy::workload_policy* GatewayTest::policy_ = nullptr;

// ---------------------------------------------------------------------------------------

class GatewayReportTest : public GatewayTest, public ::testing::WithParamInterface<signing_algorithm> {};

TEST_P(GatewayReportTest, IsTheGatewayFormBoundToTheLiveKeyAndPassesOfflineAppraisal) {
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const std::string nonce = nonce_hex('7');
  const std::size_t before = sim_->gateway_attestation_count();
  const response r = s.report(GetParam(), nonce);
  ASSERT_EQ(r.result_int(), 200u) << r.body().substr(0, 300);
  EXPECT_EQ(sim_->gateway_attestation_count(), before + 1);

  // The raw shape (§1.5): gateway_attestation with a string event_log and report_data,
  // one model report passed through without its all_attestations copy, the PEM chain.
  const json::object raw = parse_object(r.body());
  std::vector<std::string> top;
  for (const auto& [key, value] : raw) top.emplace_back(key);
  EXPECT_EQ(top, (std::vector<std::string>{"gateway_attestation", "model_attestations", "tls_certificate"}));
  const json::object& gateway = raw.at("gateway_attestation").as_object();
  ASSERT_TRUE(gateway.at("event_log").is_string());
  EXPECT_TRUE(json::parse(gateway.at("event_log").as_string()).is_array());
  EXPECT_EQ(str(gateway.at("tls_cert_fingerprint")), sim_->gateway_spki_sha256_hex());
  EXPECT_EQ(str(gateway.at("tls_cert_fingerprint")), s.live_spki_hex());
  EXPECT_EQ(str(gateway.at("request_nonce")), nonce);
  EXPECT_EQ(str(gateway.at("report_data")).substr(64), nonce);
  EXPECT_EQ(str(gateway.at("signing_address")), sim_->gateway_signing_address(attest::to_string(GetParam())));
  EXPECT_EQ(str(raw.at("tls_certificate")).rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
  ASSERT_EQ(raw.at("model_attestations").as_array().size(), 1u);
  const json::object& model_raw = raw.at("model_attestations").as_array().at(0).as_object();
  EXPECT_FALSE(model_raw.contains("all_attestations"));
  EXPECT_TRUE(model_raw.at("event_log").is_array());
  EXPECT_EQ(str(model_raw.at("request_nonce")), nonce);
  EXPECT_EQ(str(model_raw.at("signing_algo")), attest::to_string(GetParam()));
  EXPECT_NE(str(model_raw.at("tls_cert_fingerprint")), s.live_spki_hex()) << "the model CVM has a key of its own";

  // The project's parser and verify-report's appraisal.
  const auto doc = attest::parse_report_document(r.body());
  ASSERT_TRUE(doc) << doc.error().message;
  EXPECT_EQ(doc->form, attest::report_form::gateway);
  ASSERT_EQ(doc->attestations.size(), 2u);
  const attest::near_attestation& model_a = model_attestation(*doc);
  const auto instance = instance_of(model_a);
  ASSERT_TRUE(instance.has_value()) << "the model report names the live key of one instance";
  const auto a = appraise_report(*doc, nonce, s.live_spki());
  ASSERT_TRUE(a.accepted()) << a.first_failure->json_pointer << " " << a.first_failure->code << ": "
                            << a.first_failure->message;
  ASSERT_EQ(a.entities.size(), 2u);
  ASSERT_NE(a.connection_entity(), nullptr);
  EXPECT_EQ(a.connection_entity()->json_pointer, "/gateway_attestation");
  EXPECT_EQ(a.connection_entity()->role, attest::attestation_role::gateway);
  EXPECT_TRUE(a.connection_entity()->keys.bound);
  EXPECT_EQ(attest::format_signing_address(GetParam(), a.connection_entity()->keys.signing_address),
            sim_->gateway_signing_address(attest::to_string(GetParam())));
  ASSERT_NE(a.model_entity(), nullptr);
  EXPECT_EQ(a.model_entity()->json_pointer, "/model_attestations/0");
  EXPECT_TRUE(a.model_entity()->keys.bound);
  EXPECT_EQ(a.model_entity()->gpus.size(), 1u);
  EXPECT_EQ(a.model_entity()->model_name, std::optional<std::string>(model));

  // Another nonce, or another live key, fails the gateway's binding.
  const auto replayed = appraise_report(*doc, nonce_hex('8'), s.live_spki());
  ASSERT_FALSE(replayed.accepted());
  EXPECT_EQ(replayed.first_failure->json_pointer, "/gateway_attestation");
  EXPECT_EQ(replayed.first_failure->phase, appraise::phase::binding);
  sha256_digest other_key = s.live_spki();
  other_key[0] ^= 0x01;
  const auto relayed = appraise_report(*doc, nonce, other_key);
  ASSERT_FALSE(relayed.accepted());
  EXPECT_EQ(relayed.first_failure->json_pointer, "/gateway_attestation");
  EXPECT_EQ(relayed.first_failure->phase, appraise::phase::binding);
}

INSTANTIATE_TEST_SUITE_P(BothAlgorithms, GatewayReportTest,
                         ::testing::Values(signing_algorithm::ed25519, signing_algorithm::ecdsa),
                         [](const auto& param_info) { return std::string(attest::to_string(param_info.param)); });

TEST_F(GatewayTest, ReportMirrorsTheFieldsOfTheRealGatewayCapture) {
  VP_REQUIRE_SHARED_TESTDATA();
  const json::object real = parse_object(test::read_shared("nearai/gateway-2026-06-29/report.json"));
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const json::object simulated = parse_object(s.report(signing_algorithm::ed25519, nonce_hex('1')).body());
  const auto keys = [](const json::object& o) {
    std::vector<std::string> out;
    for (const auto& [key, value] : o) out.emplace_back(key);
    return out;
  };
  // The gateway CVM's own attestation: the same fields in the same order (it has no OHTTP key).
  EXPECT_EQ(keys(simulated.at("gateway_attestation").as_object()), keys(real.at("gateway_attestation").as_object()));
  for (const auto& key : keys(simulated)) EXPECT_TRUE(real.contains(key)) << key;
  // Every field of the real model entry but the optional OHTTP and compose-manager evidence.
  const json::object& real_model = real.at("model_attestations").as_array().at(0).as_object();
  const json::object& sim_model = simulated.at("model_attestations").as_array().at(0).as_object();
  for (const auto& key : keys(real_model)) {
    if (key.starts_with("ohttp_") || key == "compose_manager_attestation") continue;
    EXPECT_TRUE(sim_model.contains(key)) << key;
  }
  for (const auto& key : keys(sim_model)) EXPECT_TRUE(real_model.contains(key)) << key;
}

TEST_F(GatewayTest, DefaultsToEd25519AndRefusesWithoutAnApiKeyOrAModel) {
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const response plain = s.get("/v1/attestation/report?model=sim-model&nonce=" + nonce_hex('2'));
  ASSERT_EQ(plain.result_int(), 200u);
  EXPECT_EQ(str(parse_object(plain.body()).at("gateway_attestation").at("signing_algo")), "ed25519");

  const std::size_t before = sim_->gateway_attestation_count();
  const response anonymous = s.get("/v1/attestation/report?model=sim-model&nonce=" + nonce_hex('2'), false);
  EXPECT_EQ(anonymous.result_int(), 401u);
  const json::object error = parse_object(anonymous.body());
  EXPECT_EQ(str(error.at("error").at("code")), "invalid_api_key");
  EXPECT_TRUE(error.at("error").as_object().contains("message"));
  EXPECT_EQ(sim_->gateway_attestation_count(), before + 1) << "refused requests are counted too";

  http::request<http::string_body> empty_key{http::verb::get, "/v1/attestation/report?model=sim-model", 11};
  empty_key.set(http::field::authorization, "Bearer ");
  const auto refused = s.send(std::move(empty_key));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->result_int(), 401u);

  const response unknown = s.get("/v1/attestation/report?model=no-such-model&nonce=" + nonce_hex('2'));
  EXPECT_EQ(unknown.result_int(), 404u);
  EXPECT_EQ(str(parse_object(unknown.body()).at("error").at("code")), "model_not_found");
  EXPECT_EQ(s.get("/v1/attestation/report?nonce=" + nonce_hex('2')).result_int(), 400u);
  EXPECT_EQ(s.get("/v1/attestation/report?model=sim-model&nonce=abc").result_int(), 400u);
}

TEST_F(GatewayTest, ReportForAModelOfAnotherDomainComesFromThatDomain) {
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const std::size_t before = sim_->attestation_count(other_domain);
  const response r = s.report(signing_algorithm::ed25519, nonce_hex('3'), other_model);
  ASSERT_EQ(r.result_int(), 200u);
  EXPECT_EQ(sim_->attestation_count(other_domain), before + 1);
  const json::object doc = parse_object(r.body());
  const json::object& m = doc.at("model_attestations").at(0).as_object();
  EXPECT_EQ(str(m.at("model_name")), other_model);
  EXPECT_EQ(str(m.at("tls_cert_fingerprint")), sim_->spki_sha256_hex(other_domain, 0));
}

struct gateway_fault_case {
  const char* name;
  gateway_faults faults;
  const char* failing_pointer;
  appraise::phase phase;
  const char* code;  ///< "" = any code of that phase
};

class GatewayFaultTest : public GatewayTest, public ::testing::WithParamInterface<gateway_fault_case> {};

TEST_P(GatewayFaultTest, BreaksExactlyItsCheck) {
  sim_->set_gateway_faults(GetParam().faults);
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const std::string nonce = nonce_hex('c');
  const auto doc = report_document(s, signing_algorithm::ed25519, nonce);
  ASSERT_EQ(doc.attestations.size(), 2u);
  const auto a = appraise_report(doc, nonce, s.live_spki());
  ASSERT_FALSE(a.accepted()) << GetParam().name;
  EXPECT_EQ(a.first_failure->json_pointer, GetParam().failing_pointer) << a.first_failure->message;
  EXPECT_EQ(a.first_failure->phase, GetParam().phase) << a.first_failure->code << ": " << a.first_failure->message;
  if (*GetParam().code != '\0') {
    EXPECT_EQ(a.first_failure->code, GetParam().code) << a.first_failure->message;
  }
  // The other CVM's attestation still passes every factor.
  ASSERT_EQ(a.entities.size(), 2u);
  for (const auto& e : a.entities) {
    if (e.json_pointer != GetParam().failing_pointer) {
      EXPECT_TRUE(e.ok()) << e.json_pointer;
      continue;
    }
    std::size_t failed = 0;
    for (const auto& f : e.factors) failed += f.status == policy::factor_status::fail ? 1 : 0;
    EXPECT_EQ(failed, 1u) << "exactly one factor of " << e.json_pointer << " fails";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Faults, GatewayFaultTest,
    ::testing::Values(
        gateway_fault_case{"unbound_tls_key", {.unbound_tls_key = true}, "/gateway_attestation",
                           appraise::phase::binding, ""},
        gateway_fault_case{"model_other_nonce", {.model_other_nonce = true}, "/model_attestations/0",
                           appraise::phase::binding, ""},
        gateway_fault_case{"model_fails_policy", {.model_fails_policy = true}, "/model_attestations/0",
                           appraise::phase::policy, "app_id"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST_F(GatewayTest, UnboundTlsKeyNamesAnotherKeyInBothPlaces) {
  sim_->set_gateway_faults({.unbound_tls_key = true});
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const auto doc = report_document(s, signing_algorithm::ed25519, nonce_hex('d'));
  const auto* gateway = doc.find("/gateway_attestation");
  ASSERT_NE(gateway, nullptr);
  ASSERT_TRUE(gateway->tls_cert_fingerprint);
  EXPECT_NE(to_hex(*gateway->tls_cert_fingerprint), s.live_spki_hex());
  // Consistent with the key it names: a verifier that trusts the reported fingerprint
  // instead of the live key would accept it.
  const auto a = appraise_report(doc, nonce_hex('d'), *gateway->tls_cert_fingerprint);
  EXPECT_TRUE(a.accepted()) << a.first_failure->message;
}

TEST_F(GatewayTest, ModelsListIsPublicAndNamesEveryModel) {
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const response r = s.get("/v1/models", false);
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const json::object list = parse_object(r.body());
  EXPECT_EQ(str(list.at("object")), "list");
  std::vector<std::string> ids;
  for (const auto& m : list.at("data").as_array()) {
    EXPECT_EQ(str(m.at("object")), "model");
    EXPECT_TRUE(m.at("created").is_int64() || m.at("created").is_uint64());
    EXPECT_TRUE(m.as_object().contains("owned_by"));
    ids.push_back(str(m.at("id")));
  }
  EXPECT_EQ(ids, (std::vector<std::string>{model, other_model}));
  EXPECT_EQ(s.get("/v1/nothing-here").result_int(), 404u);
}

TEST_F(GatewayTest, RelaysAPlaintextChatAndSignsWhatItSentItself) {
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  EXPECT_EQ(s.post("/v1/chat/completions", json::serialize(chat("hi")), {}, false).result_int(), 401u);

  // Pretty-printed: the gateway re-serialises what it may read, and asserts the hash of the
  // client's bytes (§3.3).
  const std::string sent =
      "{\n  \"model\": \"sim-model\",\n  \"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]\n}";
  const response r = s.post("/v1/chat/completions", sent);
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const json::object answer = parse_object(r.body());
  const std::string id = str(answer.at("id"));
  EXPECT_EQ(str(answer.at("sim_prompt_echo")), "hello");

  const auto x = last_exchange();
  ASSERT_TRUE(x);
  EXPECT_EQ(x->body, sent);
  EXPECT_EQ(x->relayed_to_domain, model_domain);
  EXPECT_EQ(x->status, 200u);
  EXPECT_EQ(x->response_entity, r.body());
  EXPECT_EQ(x->signature_kind, "gateway");
  EXPECT_EQ(header_in(x->relayed_headers, "X-Request-Hash"), std::optional<std::string>(hex_sha256(sent)));
  EXPECT_NE(header_in(x->relayed_headers, "Authorization"), std::optional<std::string>(api_key))
      << "the client's API key stays at the gateway";
  const auto backend = backend_exchange_of(id);
  ASSERT_TRUE(backend);
  EXPECT_EQ(backend->instance, x->relayed_to_instance);
  EXPECT_NE(backend->body, sent) << "re-serialised";
  EXPECT_EQ(parse_object(backend->body), parse_object(sent));

  for (const auto algo : {signing_algorithm::ed25519, signing_algorithm::ecdsa}) {
    const std::size_t lookups = sim_->gateway_signature_lookup_count();
    const response sig = s.get("/v1/signature/" + id + "?model=sim-model&signing_algo=" +
                               std::string(attest::to_string(algo)));
    ASSERT_EQ(sig.result_int(), 200u) << sig.body();
    EXPECT_EQ(sim_->gateway_signature_lookup_count(), lookups + 1);
    EXPECT_EQ(str(parse_object(sig.body()).at("signature_kind")), "gateway");
    const auto gateway_address =
        attest::decode_signing_address(algo, sim_->gateway_signing_address(attest::to_string(algo)));
    ASSERT_TRUE(gateway_address);
    const auto v = verify_signature(sig, algo, *gateway_address, sent, r.body());
    EXPECT_TRUE(v.ok()) << v.failed_check << ": " << v.message;
    ASSERT_TRUE(v.text);
    EXPECT_EQ(v.text->format, signature::text_format::hashes);
    // Not by the model: its bytes were not the ones the client read.
    const auto by_model = verify_signature(sig, algo, *gateway_address, sent, r.body() + " ");
    EXPECT_FALSE(by_model.ok());
  }
  EXPECT_EQ(s.get("/v1/signature/" + id + "?signing_algo=ed25519", false).result_int(), 401u);
  EXPECT_EQ(s.get("/v1/signature/chatcmpl-unknown?signing_algo=ed25519").result_int(), 404u);
  EXPECT_EQ(s.get("/v1/signature/" + id + "?signing_algo=rsa").result_int(), 400u);
}

TEST_F(GatewayTest, RelaysE2eeByteExactlyToTheReplicaHoldingTheModelKey) {
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const std::string nonce = nonce_hex('e');
  const auto doc = report_document(s, signing_algorithm::ed25519, nonce);
  const attest::near_attestation& m = model_attestation(doc);
  const auto attested = instance_of(m);
  ASSERT_TRUE(attested);

  // Three requests: the round robin would reach both replicas; the pin reaches the attested one.
  for (int round = 0; round < 3; ++round) {
    auto cipher = e2ee::field_cipher::for_client(recipient_of(m));
    ASSERT_TRUE(cipher);
    const sealed_request req = seal_chat(m, *cipher, chat("the secret prompt"));
    const response r = s.post("/v1/chat/completions", req.body, req.headers);
    ASSERT_EQ(r.result_int(), 200u) << r.body();
    json::object answer = parse_object(r.body());
    const std::string id = str(answer.at("id"));
    EXPECT_TRUE(looks_sealed(answer.at("choices").at(0).at("message").at("content")));
    ASSERT_TRUE(e2ee::decrypt_response(e2ee::endpoint::chat_completions, answer, *cipher, false));
    EXPECT_EQ(str(answer.at("sim_prompt_echo")), "the secret prompt");

    const auto x = last_exchange();
    ASSERT_TRUE(x);
    EXPECT_EQ(x->relayed_to_domain, model_domain);
    EXPECT_EQ(x->relayed_to_instance, *attested);
    EXPECT_EQ(x->signature_kind, "provider_tee");
    EXPECT_FALSE(header_in(x->relayed_headers, "X-Model-Pub-Key")) << "the routing pin is not forwarded";
    EXPECT_TRUE(header_in(x->headers, "X-Model-Pub-Key"));
    const auto backend = backend_exchange_of(id);
    ASSERT_TRUE(backend);
    EXPECT_EQ(backend->instance, *attested);
    EXPECT_EQ(backend->body, req.body) << "ciphertext relayed byte for byte";
    EXPECT_EQ(backend->response_entity, r.body()) << "and the answer too";
    EXPECT_FALSE(header_in(backend->headers, "X-Model-Pub-Key"));
    for (const char* name : {"X-Signing-Algo", "X-Client-Pub-Key", "X-Encryption-Version", "X-Encrypt-All-Fields"}) {
      EXPECT_EQ(header_in(backend->headers, name), header_in(req.headers, name)) << name;
    }
    EXPECT_EQ(header_in(backend->headers, "X-Request-Hash"), std::optional<std::string>(hex_sha256(req.body)));

    // The model's signature, vouched for by the model attestation the client verified.
    const response sig = s.get("/v1/signature/" + id + "?model=sim-model&signing_algo=ed25519");
    ASSERT_EQ(sig.result_int(), 200u) << sig.body();
    EXPECT_EQ(str(parse_object(sig.body()).at("signature_kind")), "provider_tee");
    const auto v = verify_signature(sig, signing_algorithm::ed25519, m.signing_address, req.body, r.body(),
                                    m.model_name);
    EXPECT_TRUE(v.ok()) << v.failed_check << ": " << v.message;
  }
}

TEST_F(GatewayTest, RelaysAStreamAsItArrives) {
  // Slow tokens: the first event must reach the client while the model is still generating.
  simulator_options o;
  o.gpus = 0;
  o.stream_tokens = 6;
  o.token_delay = 150ms;
  domain_options d;
  d.domain = model_domain;
  d.models = {model};
  o.domains = {d};
  o.gateway = gateway_options{};
  simulator slow(o);
  const auto ca = *dir_ / "slow-upstream-ca.pem";
  std::ofstream(ca) << slow.upstream_ca_pem();
  const upstream::tls_client_context tls(upstream::tls_client_options{true, ca.string()});
  gateway_session s(tls, slow.gateway_domain(), slow.gateway_port());
  ASSERT_TRUE(s.connected());
  const auto doc_body = s.report(signing_algorithm::ed25519, nonce_hex('f'));
  const auto doc = attest::parse_report_document(doc_body.body());
  ASSERT_TRUE(doc);
  const attest::near_attestation& m = model_attestation(*doc);
  auto cipher = e2ee::field_cipher::for_client(recipient_of(m));
  ASSERT_TRUE(cipher);
  const sealed_request req = seal_chat(m, *cipher, chat("stream it", true));

  http::request<http::string_body> request{http::verb::post, "/v1/chat/completions", 11};
  request.set(http::field::host, s.connection().host_header());
  request.set(http::field::authorization, api_key);
  request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : req.headers) request.set(name, value);
  request.body() = req.body;
  request.prepare_payload();
  std::size_t events_sent_at_first_bytes = 0;
  std::string entity;
  auto work = [&]() -> asio::awaitable<bool> {
    const auto tuple = asio::as_tuple(asio::use_awaitable);
    auto& conn = s.connection();
    if (auto [ec, n] = co_await http::async_write(conn.stream(), request, tuple); ec) co_return false;
    http::response_parser<http::buffer_body> parser;
    if (auto [ec, n] = co_await http::async_read_header(conn.stream(), conn.buffer(), parser, tuple); ec) {
      co_return false;
    }
    std::array<char, 4096> piece{};
    bool first = true;
    while (!parser.is_done()) {
      parser.get().body().data = piece.data();
      parser.get().body().size = piece.size();
      auto [ec, n] = co_await http::async_read_some(conn.stream(), conn.buffer(), parser, tuple);
      if (ec && ec != http::error::need_buffer) co_return false;
      const std::size_t got = piece.size() - parser.get().body().size;
      if (got > 0 && first) {
        first = false;
        for (const auto& c : slow.connections(model_domain)) {
          events_sent_at_first_bytes = std::max(events_sent_at_first_bytes, c.stream_events_sent);
        }
      }
      entity.append(piece.data(), got);
    }
    co_return true;
  };
  s.io().restart();
  ASSERT_EQ(test::run_bounded(s.io(), io_limit, work()), std::optional<bool>(true));
  EXPECT_GE(events_sent_at_first_bytes, 1u);
  EXPECT_LT(events_sent_at_first_bytes, 7u) << "the gateway waited for the whole stream";

  const auto x = slow.gateway_exchanges().back();
  EXPECT_EQ(x.response_entity, entity);
  EXPECT_EQ(x.signature_kind, "provider_tee");
  const auto backend = slow.exchanges(model_domain).back();
  EXPECT_EQ(backend.response_entity, entity) << "the stream's bytes, unchanged";
  const auto events = data_events(entity);
  ASSERT_EQ(events.size(), 6u);
  std::string content;
  for (const auto& e : events) {
    json::object chunk = parse_object(e);
    ASSERT_TRUE(e2ee::decrypt_response(e2ee::endpoint::chat_completions, chunk, *cipher, true));
    content += str(chunk.at("choices").at(0).at("delta").at("content"));
  }
  EXPECT_NE(content.find(sim_token(5)), std::string::npos) << content;

  const response sig = s.get("/v1/signature/" + backend.chat_id + "?model=sim-model&signing_algo=ed25519");
  const auto v = verify_signature(sig, signing_algorithm::ed25519, m.signing_address, req.body, entity, m.model_name);
  EXPECT_TRUE(v.ok()) << v.failed_check << ": " << v.message;
}

TEST_F(GatewayTest, RelaysAPlaintextStreamAndEmbeddings) {
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const std::string sent = json::serialize(chat("count", true));
  const response r = s.post("/v1/chat/completions", sent);
  ASSERT_EQ(r.result_int(), 200u);
  EXPECT_EQ(data_events(r.body()).size(), stream_tokens);
  EXPECT_NE(r.body().find("data: [DONE]"), std::string::npos);
  const auto x = last_exchange();
  ASSERT_TRUE(x);
  EXPECT_EQ(x->response_entity, r.body());
  EXPECT_EQ(x->signature_kind, "gateway");
  const std::string id = str(parse_object(data_events(r.body()).front()).at("id"));
  const response sig = s.get("/v1/signature/" + id + "?signing_algo=ed25519");
  const auto gateway_address = attest::decode_signing_address(signing_algorithm::ed25519,
                                                              sim_->gateway_signing_address("ed25519"));
  ASSERT_TRUE(gateway_address);
  EXPECT_TRUE(verify_signature(sig, signing_algorithm::ed25519, *gateway_address, sent, r.body()).ok());

  const response e = s.post("/v1/embeddings", R"({"model":"other-model","input":"abc"})");
  ASSERT_EQ(e.result_int(), 200u) << e.body();
  EXPECT_EQ(last_exchange()->relayed_to_domain, other_domain);
  const response unknown = s.post("/v1/completions", R"({"model":"nobody","prompt":"x"})");
  EXPECT_EQ(unknown.result_int(), 404u);
  EXPECT_EQ(last_exchange()->relayed_to_domain, "");
}

TEST_F(GatewayTest, AModelKeyNoReplicaHoldsAnswersNoPubKeyProvider) {
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const std::size_t requests = sim_->request_count(model_domain);
  const response r = s.post("/v1/chat/completions", json::serialize(chat("x")), {{"X-Model-Pub-Key", nonce_hex('0')}});
  EXPECT_EQ(r.result_int(), 502u);
  EXPECT_EQ(parse_object(r.body()),
            parse_object(R"({"error":{"message":"no attested provider holds the requested model public key",)"
                         R"("type":"NoPubKeyProvider","code":"NoPubKeyProvider"}})"));
  EXPECT_EQ(sim_->request_count(model_domain), requests) << "nothing was relayed";
  EXPECT_EQ(last_exchange()->relayed_to_domain, "");
  EXPECT_EQ(last_exchange()->status, 502u);
}

TEST_F(GatewayTest, NoPubKeyProviderFaultRefusesTheNextPinnedRequestsOnly) {
  sim_->set_gateway_faults({.no_pub_key_provider = 2});
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const auto doc = report_document(s, signing_algorithm::ed25519, nonce_hex('a'));
  const attest::near_attestation& m = model_attestation(doc);
  // An unpinned request is routed and does not use up the fault.
  EXPECT_EQ(s.post("/v1/chat/completions", json::serialize(chat("free"))).result_int(), 200u);
  const header_list pin = {{"X-Model-Pub-Key", to_hex(*m.signing_public_key)}};
  for (int i = 0; i < 2; ++i) {
    const response r = s.post("/v1/chat/completions", json::serialize(chat("pinned")), pin);
    EXPECT_EQ(r.result_int(), 502u);
    EXPECT_EQ(str(parse_object(r.body()).at("error").at("code")), "NoPubKeyProvider");
  }
  EXPECT_EQ(s.post("/v1/chat/completions", json::serialize(chat("pinned")), pin).result_int(), 200u);
  EXPECT_EQ(last_exchange()->relayed_to_instance, instance_of(m).value());
}

TEST_F(GatewayTest, StripE2eeHeadersFaultMakesTheModelAnswerInPlaintext) {
  sim_->set_gateway_faults({.strip_e2ee_headers = true});
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const sealed_chat sealed = seal_chat_to_model(s, 'b', "the secret prompt");
  ASSERT_TRUE(sealed.cipher);
  const response r = s.post("/v1/chat/completions", sealed.request.body, sealed.request.headers);
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const json::object answer = parse_object(r.body());
  EXPECT_FALSE(looks_sealed(answer.at("choices").at(0).at("message").at("content")));
  EXPECT_NE(r.body().find("sim-token-"), std::string::npos) << "the answer travels in plaintext";
  EXPECT_NE(str(answer.at("sim_prompt_echo")), "the secret prompt") << "the model read the ciphertext as text";

  const auto x = last_exchange();
  ASSERT_TRUE(x);
  const auto backend = backend_exchange_of(str(answer.at("id")));
  ASSERT_TRUE(backend);
  for (const char* name : {"X-Signing-Algo", "X-Client-Pub-Key", "X-Encryption-Version", "X-Encrypt-All-Fields"}) {
    EXPECT_FALSE(header_in(x->relayed_headers, name)) << name;
    EXPECT_FALSE(header_in(backend->headers, name)) << name;
    EXPECT_TRUE(header_in(x->headers, name)) << name;
  }
  EXPECT_EQ(backend->body, sealed.request.body);
}

TEST_F(GatewayTest, ImpersonateModelFaultAnswersSealedButSignedByAnUnattestedKey) {
  sim_->set_gateway_faults({.impersonate_model = true});
  gateway_session s = connect();
  ASSERT_TRUE(s.connected());
  const sealed_chat sealed = seal_chat_to_model(s, '9', "the secret prompt");
  ASSERT_TRUE(sealed.cipher);
  const attest::near_attestation& m = model_attestation(sealed.doc);
  const sealed_request& req = sealed.request;
  const std::size_t requests = sim_->request_count(model_domain);
  const response r = s.post("/v1/chat/completions", req.body, req.headers);
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  EXPECT_EQ(sim_->request_count(model_domain), requests) << "no model CVM saw it";
  json::object answer = parse_object(r.body());
  const std::string id = str(answer.at("id"));
  // Sealed to the client's key: E2EE alone does not tell who answered.
  EXPECT_TRUE(looks_sealed(answer.at("choices").at(0).at("message").at("content")));
  EXPECT_TRUE(e2ee::decrypt_response(e2ee::endpoint::chat_completions, answer, *sealed.cipher, false));
  const auto x = last_exchange();
  ASSERT_TRUE(x);
  EXPECT_EQ(x->relayed_to_domain, "");
  EXPECT_EQ(x->signature_kind, "provider_tee");

  const response sig = s.get("/v1/signature/" + id + "?model=sim-model&signing_algo=ed25519");
  ASSERT_EQ(sig.result_int(), 200u) << sig.body();
  const json::object doc_json = parse_object(sig.body());
  EXPECT_EQ(str(doc_json.at("signature_kind")), "provider_tee");
  // A valid signature over the right bytes, by a key that no attestation carries.
  const auto own = attest::decode_signing_address(signing_algorithm::ed25519, str(doc_json.at("signing_address")));
  ASSERT_TRUE(own);
  EXPECT_TRUE(verify_signature(sig, signing_algorithm::ed25519, *own, req.body, r.body(), m.model_name).ok());
  EXPECT_NE(str(doc_json.at("signing_address")), to_hex(m.signing_address));
  EXPECT_NE(str(doc_json.at("signing_address")), sim_->gateway_signing_address("ed25519"));
  const auto v = verify_signature(sig, signing_algorithm::ed25519, m.signing_address, req.body, r.body(), m.model_name);
  EXPECT_EQ(v.failed_check, "signer_mismatch") << v.message;
}

TEST_F(GatewayTest, OnlyTheGatewayMayAssertTheRequestHash) {
  // A direct client of the model CVM cannot make it sign another request hash (§3.3).
  gateway_session direct(*tls_, model_domain, sim_->backend_port(model_domain));
  ASSERT_TRUE(direct.connected());
  const std::string sent = json::serialize(chat("direct"));
  const response r = direct.post("/v1/chat/completions", sent, {{"X-Request-Hash", nonce_hex('0')}});
  ASSERT_EQ(r.result_int(), 200u) << r.body();
  const std::string id = str(parse_object(r.body()).at("id"));
  const response sig = direct.get("/v1/signature/" + id + "?signing_algo=ed25519");
  ASSERT_EQ(sig.result_int(), 200u) << sig.body();
  const std::string text = str(parse_object(sig.body()).at("text"));
  EXPECT_NE(text.find(hex_sha256(sent)), std::string::npos) << text;
  EXPECT_EQ(text.find(nonce_hex('0')), std::string::npos) << text;
}

TEST_F(GatewayTest, ProxyFilesAndPolicyNameTheGateway) {
  const auto flags = sim_->write_proxy_files(*dir_ / "files");
  const auto at = [&](std::string_view flag) {
    std::vector<std::string> values;
    for (std::size_t i = 0; i + 1 < flags.size(); ++i) {
      if (flags[i] == flag) values.push_back(flags[i + 1]);
    }
    return values;
  };
  const auto gateway_url = at("--gateway-url");
  EXPECT_EQ(gateway_url, std::vector<std::string>{"https://cloud-api.near.ai"});
  EXPECT_EQ(sim_->gateway_url(), "https://cloud-api.near.ai");
  const auto connect_to = at("--connect-to");
  EXPECT_NE(std::find(connect_to.begin(), connect_to.end(),
                      "cloud-api.near.ai:443:127.0.0.1:" + std::to_string(sim_->gateway_port())),
            connect_to.end());
  EXPECT_EQ(flags.back(), "--no-cache");

  const json::object policy = parse_object(sim_->policy_json());
  const simulator::measurements g = sim_->gateway_measured();
  const simulator::measurements m = sim_->measured();
  EXPECT_EQ(str(policy.at("gateway").at("app_id").at(0)), g.app_id);
  EXPECT_EQ(str(policy.at("gateway").at("compose_hash").at(0)), g.compose_hash);
  EXPECT_EQ(str(policy.at("gateway").at("mrtd").at(0)), g.mrtd);
  EXPECT_EQ(str(policy.at("model").at("app_id").at(0)), m.app_id);
  EXPECT_NE(g.app_id, m.app_id);
  EXPECT_NE(g.compose_hash, m.compose_hash);
  EXPECT_NE(g.mrtd, m.mrtd);
  EXPECT_EQ(g.mrseam, m.mrseam);
  EXPECT_EQ(g.key_provider, m.key_provider) << "one KMS";
}

TEST(GatewayAccessors, ThrowWithoutAGateway) {
  simulator_options o;
  o.gpus = 0;
  simulator sim(o);
  EXPECT_THROW((void)sim.gateway_domain(), std::logic_error);
  EXPECT_THROW((void)sim.gateway_measured(), std::logic_error);
  EXPECT_THROW(sim.set_gateway_faults({}), std::logic_error);
  EXPECT_EQ(sim.policy_json().find("\"gateway\""), std::string::npos);
  simulator_options clash = o;
  clash.gateway = gateway_options{};
  clash.gateway->domain = clash.domains.front().domain;
  EXPECT_THROW(simulator{clash}, std::invalid_argument);
}

TEST(GatewayCli, FlagsFaultsAndHelp) {
  const sim_config plain = parse_sim_args({"--out", "d"});
  EXPECT_FALSE(plain.options.gateway);
  const sim_config c = parse_sim_args({"--out", "d", "--gateway-domain", "gw.example", "--gateway-port", "4443",
                                       "--gateway-fault", "impersonate_model", "--gateway-fault",
                                       "no_pub_key_provider=3"});
  ASSERT_TRUE(c.options.gateway);
  EXPECT_EQ(c.options.gateway->domain, "gw.example");
  EXPECT_EQ(c.options.gateway_port, 4443);
  EXPECT_TRUE(c.options.gateway->faults.impersonate_model);
  EXPECT_EQ(c.options.gateway->faults.no_pub_key_provider, 3u);
  EXPECT_EQ(describe_gateway_faults(c.options.gateway->faults), "impersonate_model, no_pub_key_provider=3");
  const sim_config on = parse_sim_args({"--out", "d", "--gateway"});
  ASSERT_TRUE(on.options.gateway);
  EXPECT_EQ(on.options.gateway->domain, "cloud-api.near.ai");
  EXPECT_EQ(describe_gateway_faults(on.options.gateway->faults), "none");

  EXPECT_THROW(parse_sim_args({"--out", "d", "--gateway-fault", "nonsense"}), std::invalid_argument);
  EXPECT_THROW(parse_sim_args({"--out", "d", "--gateway-fault", "no_pub_key_provider"}), std::invalid_argument);
  EXPECT_THROW(parse_sim_args({"--out", "d", "--gateway-domain", "sim.completions.near.ai"}), std::invalid_argument);
  gateway_faults f;
  for (const char* name : {"unbound_tls_key", "model_other_nonce", "model_fails_policy", "strip_e2ee_headers",
                           "impersonate_model", "no_pub_key_provider=1"}) {
    apply_gateway_fault(f, name);
    EXPECT_NE(sim_help().find(std::string(name).substr(0, std::string(name).find('='))), std::string::npos) << name;
  }
  EXPECT_TRUE(f.unbound_tls_key && f.model_other_nonce && f.model_fails_policy && f.strip_e2ee_headers);
  apply_gateway_fault(f, "unbound_tls_key=false");
  EXPECT_FALSE(f.unbound_tls_key);
  for (const char* flag : {"--gateway", "--gateway-domain", "--gateway-port", "--gateway-fault"}) {
    EXPECT_NE(sim_help().find(flag), std::string::npos) << flag;
  }
}

TEST(GatewayInstanceNames, PinOneInstanceOfTheirDomainOnly) {
  EXPECT_EQ(instance_host("sim.completions.near.ai", 3), "sim-i3.completions.near.ai");
  const std::pair<std::string_view, std::optional<std::size_t>> server_names[] = {
      {"sim-i3.completions.near.ai", 3},
      {"SIM-I12.Completions.Near.AI", 12},
      {"sim.completions.near.ai", std::nullopt},
      {"sim-i.completions.near.ai", std::nullopt},
      {"sim-ix.completions.near.ai", std::nullopt},
      {"other-i1.completions.near.ai", std::nullopt},
      {"sim-i1.completions.near.ai.evil", std::nullopt},
      {"sim-i1234567890.completions.near.ai", std::nullopt},
  };
  for (const auto& [server_name, pinned] : server_names) {
    EXPECT_EQ(pinned_instance("sim.completions.near.ai", server_name), pinned) << server_name;
  }
}

/// A model domain whose instances accept the gateway token "sim-gateway-token", served on
/// a thread of its own.
class token_backend {
 public:
  token_backend()
      : where_(std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()), std::nullopt, 0),
        server_(std::make_unique<backend_server>(ioc_, where_, options(), settings(), 0)),
        ca_(std::filesystem::path(::testing::TempDir()) / ("vp-token-ca-" + std::to_string(::getpid()) + ".pem")) {
    std::ofstream(ca_) << where_.upstream_ca_pem();
    tls_ = std::make_unique<upstream::tls_client_context>(upstream::tls_client_options{true, ca_.string()});
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~token_backend() {
    ioc_.stop();
    thread_.join();
    std::filesystem::remove(ca_);
  }
  static constexpr const char* domain = "token.completions.near.ai";
  gateway_session connect() { return gateway_session(*tls_, domain, server_->port()); }

 private:
  static domain_options options() {
    domain_options d;
    d.domain = domain;
    d.models = {model};
    return d;
  }
  static backend_settings settings() {
    backend_settings s;
    s.stream_tokens = stream_tokens;
    s.gateway_token = "sim-gateway-token";
    return s;
  }
  deployment where_;
  asio::io_context ioc_;
  std::unique_ptr<backend_server> server_;
  std::filesystem::path ca_;
  std::unique_ptr<upstream::tls_client_context> tls_;
  std::thread thread_;
};

TEST(GatewayToken, LetsOnlyTheGatewayAssertTheRequestHashAndClaimAnotherWorkload) {
  token_backend backend;
  gateway_session s = backend.connect();
  ASSERT_TRUE(s.connected());
  const std::string sent = json::serialize(chat("asserted"));
  const std::string asserted = hex_sha256("the client's original bytes");
  const auto text_signed_for = [&](const header_list& headers) {
    const response r = s.post("/v1/chat/completions", sent, headers);
    EXPECT_EQ(r.result_int(), 200u) << r.body();
    const std::string id = str(parse_object(r.body()).at("id"));
    const response sig = s.get("/v1/signature/" + id + "?signing_algo=ed25519");
    return str(parse_object(sig.body()).at("text"));
  };
  // §3.3: with the CVM's TOKEN the gateway's hash is signed; with any other key, the body's.
  EXPECT_EQ(text_signed_for({{"Authorization", "Bearer sim-gateway-token"}, {"X-Request-Hash", asserted}}).find(
                std::string(model) + ":" + asserted + ":"),
            0u);
  EXPECT_EQ(text_signed_for({{"Authorization", "Bearer sk-someone"}, {"X-Request-Hash", asserted}})
                .find(std::string(model) + ":" + hex_sha256(sent) + ":"),
            0u);
  const response bad = s.post("/v1/chat/completions", sent,
                              {{"Authorization", "Bearer sim-gateway-token"}, {"X-Request-Hash", "zz"}});
  EXPECT_EQ(bad.result_int(), 400u);

  // The model_fails_policy hook: another app id for one report, with the token only.
  const auto app_id_of = [&](const std::string& authorization) {
    http::request<http::string_body> r{http::verb::get, "/v1/attestation/report?nonce=" + nonce_hex('5'), 11};
    r.set(http::field::authorization, authorization);
    r.set("X-Sim-Tampered-Workload", "foreign_app_id");
    const auto answered = s.send(std::move(r));
    EXPECT_TRUE(answered);
    return answered ? str(parse_object(answered->body()).at("info").at("app_id")) : std::string();
  };
  const std::string honest = app_id_of("Bearer sk-someone");
  EXPECT_EQ(honest, to_hex(make_workload_identity(0).app_id));
  EXPECT_NE(app_id_of("Bearer sim-gateway-token"), honest);
}

}  // namespace
}  // namespace vp::sim
