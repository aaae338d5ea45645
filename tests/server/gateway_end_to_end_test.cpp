// End to end through NEAR's gateway (docs/gpu-signatures-e2ee.md §5): the proxy in
// --backend gateway against the simulator's gateway CVM in front of its model CVMs. The
// gateway must see nothing but ciphertext in covered fields, every broken guarantee of
// the gateway must be refused with a 502 naming the factor, and the answers' signatures
// must be held to the right attested key for their kind.

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include "core/text.hpp"
#include "server/proxy_harness.hpp"
#include "sim/openai.hpp"
#include "support/http_test_client.hpp"

namespace vp::test {
namespace {

constexpr std::string_view model_domain = "sim.completions.near.ai";
constexpr std::string_view marker = secret_prompt;

sim::simulator_options with_gateway(sim::gateway_faults faults = {}) {
  sim::simulator_options o = short_stream_options();
  o.gateway = sim::gateway_options{};
  o.gateway->faults = faults;
  return o;
}

/// --backend gateway as verified-proxy-sim's flags configure it (--connect-to for the
/// gateway, --gateway-url), with the given E2EE and signature modes.
std::function<void(server::proxy_config&)> gateway_mode(const sim::simulator& sim,
                                                        proxy::e2ee_mode e2ee = proxy::e2ee_mode::required,
                                                        proxy::signature_mode signatures = proxy::signature_mode::check) {
  const std::string rule = sim.gateway_domain() + ":443:127.0.0.1:" + std::to_string(sim.gateway_port());
  return [=, host = sim.gateway_domain()](server::proxy_config& c) {
    c.backend = server::backend_kind::gateway;
    c.gateway_host = host;
    std::string error;
    c.connect_to.push_back(*proxy::parse_connect_to(rule, error));
    c.e2ee = e2ee;
    c.verify_signatures = signatures;
    c.signature_wait = std::chrono::milliseconds(300);
  };
}

/// The inference requests the gateway received (its model list, fetched by the proxy for
/// GET /v1/models and routing, aside).
std::vector<sim::gateway_exchange> inference_at_gateway(const sim::simulator& sim) {
  std::vector<sim::gateway_exchange> out;
  for (auto& x : sim.gateway_exchanges()) {
    if (x.method == "POST") out.push_back(std::move(x));
  }
  return out;
}

/// What the gateway received from the proxy: the marker nowhere, the request pinned to
/// the model key, and that pin not passed on to the model CVM.
void expect_gateway_saw_only_ciphertext(const sim::simulator& sim) {
  const auto seen = inference_at_gateway(sim);
  ASSERT_FALSE(seen.empty());
  for (const auto& x : seen) {
    EXPECT_EQ(x.body.find(marker), std::string::npos) << x.body;
    EXPECT_EQ(header_of(x.headers, "X-Encryption-Version"), "2");
    EXPECT_FALSE(header_of(x.headers, "X-Client-Pub-Key").empty());
    EXPECT_EQ(header_of(x.headers, "x-no-aliasing"), "true");
    EXPECT_EQ(header_of(x.headers, "X-Model-Pub-Key").size(), 64u);
    EXPECT_EQ(header_of(x.relayed_headers, "X-Model-Pub-Key"), "");
  }
  // The model CVM, and only it, read the prompt.
  const auto models = sim.exchanges(model_domain);
  ASSERT_FALSE(models.empty());
  EXPECT_NE(models.front().model_body.find(marker), std::string::npos);
}

TEST(GatewayEndToEnd, ChatIsSealedToTheModelBehindTheGatewayAndSignedByIt) {
  sim::simulator sim(with_gateway());
  running_proxy proxy(sim, gateway_mode(sim));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("X-E2EE"), std::optional<std::string_view>("v2"));
  EXPECT_EQ(r.header("X-Verified-Backend"), std::optional<std::string_view>(sim.gateway_domain()));
  EXPECT_EQ(r.header("X-Verified-Backend-Key").value_or(""), "sha256:" + sim.gateway_spki_sha256_hex());
  EXPECT_FALSE(r.header("X-Verified-Model-Key").value_or("").empty());
  EXPECT_NE(r.header("X-Verified-Model-Key").value_or(""), sim.gateway_signing_address("ed25519"));
  const auto answer = boost::json::parse(r.body).as_object();
  EXPECT_EQ(str(answer.at("sim_prompt_echo")), marker);
  expect_gateway_saw_only_ciphertext(sim);

  const auto stats = proxy.statistics_after_verdicts(1);
  EXPECT_EQ(stats.signatures_valid, 1u);
  EXPECT_EQ(stats.signatures_invalid + stats.signatures_unavailable, 0u);
  EXPECT_EQ(sim.gateway_attestation_count(), 1u);
  EXPECT_EQ(inference_at_gateway(sim).at(0).signature_kind, "provider_tee");

  // The verdict is per (gateway key, model) and reused, on the pooled connection too.
  const auto again = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  ASSERT_EQ(again.status, 200u) << again.body;
  EXPECT_EQ(sim.gateway_attestation_count(), 1u);
}

TEST(GatewayEndToEnd, AStreamIsDecryptedAndItsTrailerNamesTheSignatureKind) {
  sim::simulator sim(with_gateway());
  running_proxy proxy(sim, gateway_mode(sim));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", true, marker));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_TRUE(r.complete);
  EXPECT_NE(r.body.find(sim::sim_token(0)), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(r.trailer("X-Signature-Status"), std::optional<std::string_view>("valid"));
  EXPECT_EQ(r.trailer("X-Signature-Kind"), std::optional<std::string_view>("provider_tee"));
  expect_gateway_saw_only_ciphertext(sim);
}

TEST(GatewayEndToEnd, TheModelListIsTheGateways) {
  sim::simulator sim(with_gateway());
  running_proxy proxy(sim, gateway_mode(sim));
  client_request list;
  list.target = "/v1/models";
  const auto r = http_exchange(proxy.port(), list);
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto data = boost::json::parse(r.body).at("data").as_array();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(str(data.at(0).at("id")), "sim-model");
  // An unknown model is refused before anything is sent.
  const auto unknown = http_exchange(proxy.port(), chat_request("no-such-model", false));
  EXPECT_EQ(unknown.status, 400u);
  EXPECT_EQ(error_code_of(unknown), "model_not_found");
  EXPECT_EQ(sim.gateway_attestation_count(), 0u);
}

TEST(GatewayEndToEnd, WithoutAnApiKeyTheGatewayGivesNoReportAndTheClientIsTold) {
  sim::simulator sim(with_gateway());
  running_proxy proxy(sim, gateway_mode(sim));
  auto request = chat_request("sim-model", false, marker);
  request.headers = {{"Content-Type", "application/json"}};
  const auto r = http_exchange(proxy.port(), request);
  EXPECT_EQ(r.status, 401u) << r.body;
  EXPECT_EQ(error_code_of(r), "attestation_unauthorized");
  EXPECT_TRUE(inference_at_gateway(sim).empty());
  // Not a verdict about the gateway: the next client with a key is served.
  const auto served = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  EXPECT_EQ(served.status, 200u) << served.body;
}

TEST(GatewayEndToEnd, AnEndpointWithoutEncryptionIsRefusedUnlessPlaintextIsAllowed) {
  sim::simulator sim(with_gateway());
  {
    running_proxy proxy(sim, gateway_mode(sim));
    auto request = chat_request("sim-model", false, marker);
    request.headers = {{"Authorization", "Bearer sk-test"}, {"Content-Type", "text/plain"}};
    const auto r = http_exchange(proxy.port(), request);
    EXPECT_EQ(r.status, 400u) << r.body;
    EXPECT_EQ(error_code_of(r), "e2ee_unsupported_endpoint");
    EXPECT_TRUE(inference_at_gateway(sim).empty());
  }
  // --e2ee on: the user accepts that the gateway reads it; the gateway then signs what it
  // sent itself, and that signature is held to the attested gateway key.
  running_proxy proxy(sim, gateway_mode(sim, proxy::e2ee_mode::on, proxy::signature_mode::enforce));
  auto request = chat_request("sim-model", false, marker);
  request.headers = {{"Authorization", "Bearer sk-test"}, {"Content-Type", "text/plain"}};
  const auto r = http_exchange(proxy.port(), request);
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("X-E2EE"), std::optional<std::string_view>("none"));
  EXPECT_EQ(r.header("X-Signature-Status"), std::optional<std::string_view>("valid"));
  EXPECT_EQ(r.header("X-Signature-Kind"), std::optional<std::string_view>("gateway"));
  ASSERT_FALSE(inference_at_gateway(sim).empty());
  EXPECT_EQ(inference_at_gateway(sim).back().signature_kind, "gateway");
}

struct refused_fault {
  const char* name;
  sim::gateway_faults faults;
  const char* code;      ///< the 502's error code: the failed factor
  const char* pointer;   ///< the attestation that failed, in the message
};

class GatewayFaults : public ::testing::TestWithParam<refused_fault> {};

TEST_P(GatewayFaults, AreRefusedBeforeAnythingIsForwarded) {
  const auto& fault = GetParam();
  sim::simulator sim(with_gateway(fault.faults));
  running_proxy proxy(sim, gateway_mode(sim));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), fault.code) << r.body;
  EXPECT_NE(error_message_of(r).find(fault.pointer), std::string::npos) << error_message_of(r);
  EXPECT_TRUE(inference_at_gateway(sim).empty());
  EXPECT_TRUE(sim.exchanges(model_domain).empty());
}

INSTANTIATE_TEST_SUITE_P(
    Gateway, GatewayFaults,
    ::testing::Values(
        refused_fault{"unbound_tls_key", sim::gateway_faults{.unbound_tls_key = true}, "fingerprint_mismatch",
                      "/gateway_attestation"},
        refused_fault{"model_other_nonce", sim::gateway_faults{.model_other_nonce = true}, "nonce_mismatch",
                      "/model_attestations/0"},
        refused_fault{"model_fails_policy", sim::gateway_faults{.model_fails_policy = true}, "app_id",
                      "/model_attestations/0"}),
    [](const ::testing::TestParamInfo<refused_fault>& param) { return std::string(param.param.name); });

TEST(GatewayEndToEnd, AGatewayThatStripsTheEncryptionFieldsIsCaught) {
  sim::simulator sim(with_gateway(sim::gateway_faults{.strip_e2ee_headers = true}));
  running_proxy proxy(sim, gateway_mode(sim));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), "e2ee_decryption_failed") << r.body;
  // The prompt still went sealed: the model read ciphertext, not the marker.
  const auto seen = inference_at_gateway(sim);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].body.find(marker), std::string::npos);
  EXPECT_EQ(header_of(seen[0].relayed_headers, "X-Client-Pub-Key"), "");
}

TEST(GatewayEndToEnd, AGatewayAnsweringAsTheModelFailsTheSignature) {
  sim::simulator sim(with_gateway(sim::gateway_faults{.impersonate_model = true}));
  running_proxy proxy(sim, gateway_mode(sim, proxy::e2ee_mode::required, proxy::signature_mode::enforce));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), "signature_invalid") << r.body;
  EXPECT_NE(error_message_of(r).find("signer_mismatch"), std::string::npos) << error_message_of(r);
  EXPECT_TRUE(sim.exchanges(model_domain).empty());

  // A stream: [DONE] withheld, the error event names the check.
  const auto stream = http_exchange(proxy.port(), chat_request("sim-model", true, marker));
  EXPECT_EQ(stream.status, 200u);
  EXPECT_EQ(stream.body.find("data: [DONE]"), std::string::npos) << stream.body;
  EXPECT_NE(stream.body.find("signature_invalid"), std::string::npos) << stream.body;
  EXPECT_EQ(stream.trailer("X-Signature-Status"), std::optional<std::string_view>("invalid"));
}

TEST(GatewayEndToEnd, AReplicaThatWentAwayIsAttestedAgainAndTheRequestSentOnce) {
  sim::simulator sim(with_gateway(sim::gateway_faults{.no_pub_key_provider = 1}));
  running_proxy proxy(sim, gateway_mode(sim));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(sim.gateway_attestation_count(), 2u);
  const auto seen = inference_at_gateway(sim);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].status, 502u);
  EXPECT_EQ(seen[0].relayed_to_domain, "");
  EXPECT_EQ(seen[1].status, 200u);
  // Generated once (the signature lookup that follows the answer aside).
  std::size_t generations = 0;
  for (const auto& x : sim.exchanges(model_domain)) {
    if (x.method == "POST") ++generations;
  }
  EXPECT_EQ(generations, 1u);

  // Twice in a row: refused, once re-attested, never more.
  sim.set_gateway_faults(sim::gateway_faults{.no_pub_key_provider = 2});
  const auto gone = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  EXPECT_EQ(gone.status, 502u) << gone.body;
  EXPECT_EQ(error_code_of(gone), "model_key_unrouted");
  EXPECT_EQ(sim.gateway_attestation_count(), 3u);
}

TEST(GatewayEndToEnd, AClientsOwnEncryptionMustPinTheAttestedModelKey) {
  sim::simulator sim(with_gateway());
  running_proxy proxy(sim, gateway_mode(sim));
  auto request = chat_request("sim-model", false, "client-sealed");
  request.headers.emplace_back("X-Signing-Algo", "ed25519");
  request.headers.emplace_back("X-Client-Pub-Key", std::string(64, 'a'));
  request.headers.emplace_back("X-Model-Pub-Key", std::string(64, 'b'));
  const auto r = http_exchange(proxy.port(), request);
  EXPECT_EQ(r.status, 400u) << r.body;
  EXPECT_EQ(error_code_of(r), "e2ee_model_key_unattested");
  EXPECT_TRUE(inference_at_gateway(sim).empty());
}

}  // namespace
}  // namespace vp::test
