// End to end: the proxy in-process against the simulator, whose backends speak NEAR's
// E2EE and sign every completion (docs/gpu-signatures-e2ee.md §3, §4). The backend must
// receive nothing but ciphertext in covered fields, the client nothing but plaintext, and
// every signature fault must be caught with the documented outcome under check and enforce.

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <filesystem>

#include "core/text.hpp"
#include "server/proxy_harness.hpp"
#include "sim/openai.hpp"
#include "support/child_process.hpp"
#include "support/http_test_client.hpp"

namespace vp::test {
namespace {

constexpr std::string_view domain = "sim.completions.near.ai";
constexpr std::string_view marker = secret_prompt;

sim::simulator_options with_faults(sim::backend_faults faults = {}) {
  sim::simulator_options o = short_stream_options();
  o.domains[0].faults = faults;
  return o;
}

std::function<void(server::proxy_config&)> modes(proxy::e2ee_mode e2ee, proxy::signature_mode signatures,
                                                 attest::signing_algorithm algo = attest::signing_algorithm::ed25519) {
  return [=](server::proxy_config& c) {
    c.e2ee = e2ee;
    c.verify_signatures = signatures;
    c.signing_algo = algo;
    c.signature_wait = std::chrono::milliseconds(300);
  };
}


client_request completions_request(bool stream) {
  client_request r = chat_request("sim-model", stream);
  r.target = "/v1/completions";
  r.body = R"({"model":"sim-model","prompt":")" + std::string(marker) + R"(","stream":)" + (stream ? "true" : "false") +
           "}";
  return r;
}

client_request embeddings_request() {
  client_request r = chat_request("sim-model", false);
  r.target = "/v1/embeddings";
  r.body = R"({"model":"sim-model","input":[")" + std::string(marker) + R"(","second"]})";
  return r;
}

/// The backend received the request sealed: the marker is nowhere in what it got, and
/// the E2EE fields say to whom to answer.
void expect_backend_saw_only_ciphertext(const sim::simulator& sim, std::string_view algo = "ed25519") {
  const auto seen = sim.exchanges(domain);
  ASSERT_FALSE(seen.empty());
  const auto& x = seen.front();
  EXPECT_EQ(x.body.find(marker), std::string::npos) << x.body;
  EXPECT_NE(x.model_body.find(marker), std::string::npos) << "the model did not get the plaintext";
  EXPECT_EQ(header_of(x.headers, "X-Signing-Algo"), algo);
  EXPECT_EQ(header_of(x.headers, "X-Encryption-Version"), "2");
  EXPECT_EQ(header_of(x.headers, "X-Encrypt-All-Fields"), "true");
  EXPECT_EQ(header_of(x.headers, "Accept-Encoding"), "identity");
  EXPECT_FALSE(header_of(x.headers, "X-Client-Pub-Key").empty());
}


/// The SSE events of a stream's body, as the client got them.
std::vector<std::string> events_of(const std::string& body) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < body.size()) {
    const auto end = body.find("\n\n", at);
    if (end == std::string::npos) {
      out.push_back(body.substr(at));
      break;
    }
    out.push_back(body.substr(at, end + 2 - at));
    at = end + 2;
  }
  return out;
}

TEST(IntegrityEndToEnd, ChatIsSealedToTheAttestedKeyAndItsSignatureVerifies) {
  sim::simulator sim(with_faults());
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::check));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("X-E2EE"), std::optional<std::string_view>("v2"));
  EXPECT_EQ(r.header("X-Verified-Backend"), std::optional<std::string_view>(domain));
  EXPECT_TRUE(r.header("X-Verified-Backend-Key").value_or("").starts_with("sha256:"));
  const auto answer = boost::json::parse(r.body).as_object();
  // The model answered from the plaintext, and its sealed answer was opened for the client.
  EXPECT_EQ(str(answer.at("sim_prompt_echo")), marker);
  EXPECT_TRUE(answer.at("choices").at(0).at("message").at("content").as_string().starts_with("Simulated answer"));
  expect_backend_saw_only_ciphertext(sim);

  const auto stats = proxy.statistics_after_verdicts(1);
  EXPECT_EQ(stats.e2ee_sealed, 1u);
  EXPECT_EQ(stats.signatures_valid, 1u);
  EXPECT_EQ(stats.signatures_invalid + stats.signatures_unavailable, 0u);
  EXPECT_EQ(sim.signature_lookup_count(domain), 1u);

  // The proxy answers the lookup itself, with its verdict beside the backend's document.
  client_request lookup;
  lookup.target = "/v1/signature/" + std::string(answer.at("id").as_string());
  const auto s = http_exchange(proxy.port(), lookup);
  ASSERT_EQ(s.status, 200u) << s.body;
  const auto doc = boost::json::parse(s.body).as_object();
  EXPECT_EQ(doc.at("signing_algo"), "ed25519");
  EXPECT_EQ(doc.at("verified_proxy").at("status"), "valid");
  EXPECT_EQ(doc.at("verified_proxy").at("e2ee"), "v2");
  EXPECT_EQ(sim.signature_lookup_count(domain), 1u);  // not asked again

  lookup.target = "/v1/signature/chatcmpl-never-seen";
  EXPECT_EQ(error_code_of(http_exchange(proxy.port(), lookup)), "signature_not_found");
}

TEST(IntegrityEndToEnd, AStreamIsDecryptedEventByEventAndEndsWithTheSignatureTrailer) {
  sim::simulator sim(with_faults());
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::check));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", true, marker));
  ASSERT_EQ(r.status, 200u) << r.body;
  ASSERT_TRUE(r.complete) << r.error;
  EXPECT_EQ(r.header("Trailer"), std::optional<std::string_view>("X-Signature-Status"));
  EXPECT_EQ(r.trailer("X-Signature-Status"), std::optional<std::string_view>("valid"));
  const auto events = events_of(r.body);
  ASSERT_EQ(events.size(), 5u) << r.body;  // 4 tokens and [DONE]
  for (std::size_t i = 0; i < 4; ++i) {
    const auto chunk = boost::json::parse(events[i].substr(6)).as_object();
    EXPECT_EQ(str(chunk.at("choices").at(0).at("delta").at("content")), sim::sim_token(i));
  }
  EXPECT_EQ(events.back(), "data: [DONE]\n\n");
  expect_backend_saw_only_ciphertext(sim);
  // What the backend sent was ciphertext: no token in the clear.
  EXPECT_EQ(sim.exchanges(domain).front().response_entity.find("sim-token-0"), std::string::npos);
  EXPECT_EQ(proxy.statistics_after_verdicts(1).signatures_valid, 1u);
}

TEST(IntegrityEndToEnd, CompletionsAndEmbeddingsAreSealedAndSigned) {
  sim::simulator sim(with_faults());
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::check));
  const auto c = http_exchange(proxy.port(), completions_request(false));
  ASSERT_EQ(c.status, 200u) << c.body;
  EXPECT_TRUE(boost::json::parse(c.body).at("choices").at(0).at("text").as_string().starts_with("Simulated"));
  expect_backend_saw_only_ciphertext(sim);
  const auto cs = http_exchange(proxy.port(), completions_request(true));
  ASSERT_EQ(cs.status, 200u) << cs.body;
  EXPECT_NE(cs.body.find(sim::sim_token(0)), std::string::npos);
  EXPECT_EQ(cs.trailer("X-Signature-Status"), std::optional<std::string_view>("valid"));
  const auto e = http_exchange(proxy.port(), embeddings_request());
  ASSERT_EQ(e.status, 200u) << e.body;
  const auto data = boost::json::parse(e.body).at("data").as_array();
  ASSERT_EQ(data.size(), 2u);
  EXPECT_TRUE(data[0].at("embedding").is_array());  // opened from its sealed JSON text
  EXPECT_EQ(sim.exchanges(domain).back().body.find(marker), std::string::npos);
  EXPECT_EQ(proxy.statistics_after_verdicts(3).signatures_valid, 3u);
}

TEST(IntegrityEndToEnd, EcdsaBackendsGetEciesAndSecp256k1Signatures) {
  sim::simulator sim(with_faults());
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::enforce,
                                 attest::signing_algorithm::ecdsa));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("X-E2EE"), std::optional<std::string_view>("ecies"));
  EXPECT_EQ(r.header("X-Signature-Status"), std::optional<std::string_view>("valid"));
  expect_backend_saw_only_ciphertext(sim, "ecdsa");
  EXPECT_EQ(proxy.statistics_after_verdicts(1).signatures_valid, 1u);
}

TEST(IntegrityEndToEnd, ASignatureStoredLateIsWaitedFor) {
  sim::simulator_options o = with_faults();
  o.signature_delay = std::chrono::milliseconds(150);
  sim::simulator sim(o);
  running_proxy proxy(sim, [](server::proxy_config& c) {
    modes(proxy::e2ee_mode::on, proxy::signature_mode::check)(c);
    c.signature_wait = std::chrono::seconds(3);
  });
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", true));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.trailer("X-Signature-Status"), std::optional<std::string_view>("valid"));
  EXPECT_GE(sim.signature_lookup_count(domain), 2u);  // 404 first, then found
}

TEST(IntegrityEndToEnd, WithE2eeOffTheBackendSeesPlaintextAndSignaturesStillVerify) {
  sim::simulator sim(with_faults());
  running_proxy proxy(sim, modes(proxy::e2ee_mode::off, proxy::signature_mode::check));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", true, marker));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("X-E2EE"), std::optional<std::string_view>("none"));
  EXPECT_EQ(r.trailer("X-Signature-Status"), std::optional<std::string_view>("valid"));
  const auto seen = sim.exchanges(domain);
  ASSERT_FALSE(seen.empty());
  EXPECT_NE(seen.front().body.find(marker), std::string::npos);
  EXPECT_TRUE(header_of(seen.front().headers, "X-Client-Pub-Key").empty());
  // Relayed byte for byte: what the backend sent is what the client got.
  EXPECT_EQ(r.body, seen.front().response_entity);
}

TEST(IntegrityEndToEnd, RequiredRefusesWhatCannotBeEncryptedAndForwardsNothing) {
  sim::simulator sim(with_faults());
  running_proxy proxy(sim, modes(proxy::e2ee_mode::required, proxy::signature_mode::check));
  client_request r = chat_request("sim-model", false);
  r.target = "/v1/responses";
  r.body = R"({"model":"sim-model","input":")" + std::string(marker) + "\"}";
  const auto answer = http_exchange(proxy.port(), r);
  EXPECT_EQ(answer.status, 400u) << answer.body;
  EXPECT_EQ(error_code_of(answer), "e2ee_unsupported_endpoint");
  EXPECT_EQ(sim.request_count(domain), 0u);
  // A covered endpoint still works.
  EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
}

TEST(IntegrityEndToEnd, AKeyTheQuoteDoesNotBindGetsNothing) {
  sim::simulator sim(with_faults({.unbound_signing_key = true}));
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::check, attest::signing_algorithm::ecdsa));
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, marker));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), "e2ee_key_unbound");
  EXPECT_EQ(sim.request_count(domain), 0u);
  for (const auto& c : sim.connections(domain)) EXPECT_EQ(c.received.find(marker), std::string::npos);
}

// ---- signature faults under check and enforce

struct signature_case {
  const char* name;
  sim::backend_faults faults;
  std::string_view status;        ///< X-Signature-Status
  std::string_view failed_check;  ///< in the proxy's verdict
};

class SignatureFaults : public ::testing::TestWithParam<signature_case> {};

TEST_P(SignatureFaults, CheckReportsThemAndStillRelays) {
  sim::simulator sim(with_faults(GetParam().faults));
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::check));
  const auto stream = http_exchange(proxy.port(), chat_request("sim-model", true));
  ASSERT_EQ(stream.status, 200u) << stream.body;
  EXPECT_TRUE(stream.body.ends_with("data: [DONE]\n\n"));
  EXPECT_EQ(stream.trailer("X-Signature-Status"), std::optional<std::string_view>(GetParam().status));
  const auto whole = http_exchange(proxy.port(), chat_request("sim-model", false));
  ASSERT_EQ(whole.status, 200u) << whole.body;
  const auto stats = proxy.statistics_after_verdicts(2);
  EXPECT_EQ(stats.signatures_valid, 0u);
  EXPECT_EQ(GetParam().status == "invalid" ? stats.signatures_invalid : stats.signatures_unavailable, 2u);

  client_request lookup;
  lookup.target = "/v1/signature/" + std::string(boost::json::parse(whole.body).at("id").as_string());
  const auto verdict = boost::json::parse(http_exchange(proxy.port(), lookup).body).at("verified_proxy");
  EXPECT_EQ(str(verdict.at("status")), GetParam().status);
  EXPECT_EQ(str(verdict.at("failed_check")), GetParam().failed_check);
}

TEST_P(SignatureFaults, EnforceWithholdsTheAnswer) {
  sim::simulator sim(with_faults(GetParam().faults));
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::enforce));
  const auto whole = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(whole.status, 502u) << whole.body;
  EXPECT_EQ(error_code_of(whole), GetParam().status == "invalid" ? "signature_invalid" : "signature_unavailable");
  EXPECT_NE(error_message_of(whole).find(GetParam().failed_check), std::string::npos) << error_message_of(whole);

  const auto stream = http_exchange(proxy.port(), chat_request("sim-model", true));
  ASSERT_EQ(stream.status, 200u);
  EXPECT_EQ(stream.body.find("[DONE]"), std::string::npos) << stream.body;
  const auto events = events_of(stream.body);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.back().starts_with("event: error\ndata: ")) << events.back();
  EXPECT_NE(events.back().find(GetParam().failed_check), std::string::npos) << events.back();
  EXPECT_EQ(stream.trailer("X-Signature-Status"), std::optional<std::string_view>(GetParam().status));
}

INSTANTIATE_TEST_SUITE_P(
    Switches, SignatureFaults,
    ::testing::Values(signature_case{"signature_foreign_key", {.signature_foreign_key = true}, "invalid",
                                     "signer_mismatch"},
                      signature_case{"signature_other_bytes", {.signature_other_bytes = true}, "invalid",
                                     "response_hash_mismatch"},
                      signature_case{"signature_missing", {.signature_missing = true}, "unavailable",
                                     "signature_unavailable"}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(IntegrityEndToEnd, EnforceGivesAVerifiedAnswerWithItsStatus) {
  sim::simulator sim(with_faults());
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::enforce));
  const auto whole = http_exchange(proxy.port(), chat_request("sim-model", false));
  ASSERT_EQ(whole.status, 200u) << whole.body;
  EXPECT_EQ(whole.header("X-Signature-Status"), std::optional<std::string_view>("valid"));
  const auto stream = http_exchange(proxy.port(), chat_request("sim-model", true));
  EXPECT_TRUE(stream.body.ends_with("data: [DONE]\n\n")) << stream.body;
  EXPECT_EQ(stream.trailer("X-Signature-Status"), std::optional<std::string_view>("valid"));
}

// ---- E2EE faults: no plaintext where ciphertext is due

class E2eeFaults : public ::testing::TestWithParam<sim::backend_faults> {};

TEST_P(E2eeFaults, AJsonAnswerIsRefusedAndAStreamEndsWithAnErrorEvent) {
  sim::simulator sim(with_faults(GetParam()));
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::check));
  const auto whole = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(whole.status, 502u) << whole.body;
  EXPECT_EQ(error_code_of(whole), "e2ee_decryption_failed");
  EXPECT_NE(error_message_of(whole).find("/choices/0/message/content"), std::string::npos) << whole.body;

  const auto stream = http_exchange(proxy.port(), chat_request("sim-model", true));
  ASSERT_EQ(stream.status, 200u);
  EXPECT_FALSE(stream.complete);  // cut: the client's SDK sees an error, not a clean end
  EXPECT_EQ(stream.body.find("[DONE]"), std::string::npos);
  const auto events = events_of(stream.body);
  ASSERT_FALSE(events.empty());
  EXPECT_TRUE(events.back().starts_with("event: error\n")) << events.back();
  EXPECT_NE(events.back().find("e2ee_decryption_failed"), std::string::npos);
  // The faulty field is the last content chunk's: the earlier ones were given decrypted.
  EXPECT_NE(stream.body.find(sim::sim_token(0)), std::string::npos);
  EXPECT_EQ(stream.body.find(sim::sim_token(3)), std::string::npos);
}

// Named: the default name prints the parameter's bytes, padding included, so the test
// names (and ctest's list) changed from build to build.
INSTANTIATE_TEST_SUITE_P(Switches, E2eeFaults,
                         ::testing::Values(sim::backend_faults{.e2ee_plaintext_response = true},
                                           sim::backend_faults{.e2ee_undecryptable_response = true}),
                         [](const ::testing::TestParamInfo<sim::backend_faults>& param) {
                           return std::string(param.param.e2ee_plaintext_response ? "plaintext_response"
                                                                                  : "undecryptable_response");
                         });

TEST(IntegrityEndToEnd, CurlReadsTheSignatureTrailer) {
  if (!std::filesystem::exists("/usr/bin/curl")) GTEST_SKIP() << "curl is not installed";
  sim::simulator sim(with_faults());
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::check));
  const auto body = chat_request("sim-model", true).body;
  child_process curl("/usr/bin/curl", {"-s", "-i", "--raw", "-H", "Content-Type: application/json", "-H",
                                       "Authorization: Bearer sk-test", "--data-binary", body,
                                       "http://127.0.0.1:" + std::to_string(proxy.port()) + "/v1/chat/completions"});
  ASSERT_EQ(curl.wait(std::chrono::seconds(20)), 0) << curl.output();
  const std::string out = curl.output();
  EXPECT_NE(out.find("Trailer: X-Signature-Status"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Signature-Status: valid"), std::string::npos) << out;
  EXPECT_NE(out.find("data: [DONE]"), std::string::npos) << out;
}

}  // namespace
}  // namespace vp::test

namespace vp::test {
namespace {

TEST(IntegrityEndToEnd, WhatAUserGetsByDefaultIsSealedAndChecked) {
  const server::proxy_config defaults;
  EXPECT_EQ(defaults.e2ee, proxy::e2ee_mode::on);
  EXPECT_EQ(defaults.verify_signatures, proxy::signature_mode::check);
  EXPECT_EQ(defaults.signing_algo, attest::signing_algorithm::ed25519);
  sim::simulator sim(with_faults());
  running_proxy proxy(sim, [&](server::proxy_config& c) {
    c.e2ee = defaults.e2ee;
    c.verify_signatures = defaults.verify_signatures;
    c.signing_algo = defaults.signing_algo;
    c.signature_wait = defaults.signature_wait;
  });
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", true, marker));
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(r.header("X-E2EE"), std::optional<std::string_view>("v2"));
  EXPECT_EQ(r.trailer("X-Signature-Status"), std::optional<std::string_view>("valid"));
  expect_backend_saw_only_ciphertext(sim);
}

TEST(IntegrityEndToEnd, ASignatureIsLookedUpOnANewConnectionToTheSameKeyWhenTheBackendClosed) {
  // close_delimited: the backend ends each answer by closing the connection.
  sim::simulator sim(with_faults({.close_delimited = true}));
  running_proxy proxy(sim, modes(proxy::e2ee_mode::on, proxy::signature_mode::enforce));
  client_request r = chat_request("sim-model", true);
  const auto answer = http_exchange(proxy.port(), r);
  ASSERT_EQ(answer.status, 200u) << answer.body;
  EXPECT_TRUE(answer.body.ends_with("data: [DONE]\n\n")) << answer.body;
  EXPECT_EQ(answer.trailer("X-Signature-Status"), std::optional<std::string_view>("valid"));
  EXPECT_GE(sim.signature_lookup_count(domain), 1u);
  EXPECT_GE(sim.connection_count(domain), 2u);   // the lookup went on a new connection
  EXPECT_EQ(sim.attestation_count(domain), 1u);  // to the same key: no second attestation
}

}  // namespace
}  // namespace vp::test
