// End to end with GPUs: the proxy in-process against a simulator whose CVMs carry 8
// NVIDIA GPUs each (docs/gpu-signatures-e2ee.md §1), under the policy the simulator
// writes (GPUs required, their hardware model and measurement set pinned). A healthy
// deployment serves; each local GPU fault is a 502 `gpu_evidence` naming the GPU and the
// check, and the backend receives nothing but the attestation request.

#include <gtest/gtest.h>

#include "crypto/x509.hpp"
#include "policy/policy.hpp"
#include "server/proxy_harness.hpp"
#include "support/http_test_client.hpp"

namespace vp::test {
namespace {

constexpr std::string_view domain = "sim.completions.near.ai";

sim::simulator_options one_backend(sim::backend_faults faults = {}) {
  sim::simulator_options o;
  o.domains[0].faults = faults;
  return o;
}

TEST(GpuEndToEnd, HealthyCvmWithEightGpusIsServed) {
  sim::simulator sim(one_backend());
  ASSERT_EQ(sim.gpus(), 8u);
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(sim.attestation_count(domain), 1u);
  EXPECT_EQ(sim.request_count(domain), 1u);
  // NVIDIA's (the fake NRAS's) verdict was asked for, once, and the policy required it.
  EXPECT_EQ(sim.nras_attest_count(), 1u);
}

TEST(GpuEndToEnd, CvmWithoutGpusIsServedUnderItsOwnPolicy) {
  sim::simulator_options o = one_backend();
  o.gpus = 0;
  sim::simulator sim(o);
  EXPECT_EQ(sim.policy_json().find("\"gpu\""), std::string::npos) << sim.policy_json();
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 200u) << r.body;
}

struct gpu_fault_case {
  const char* name;
  sim::backend_faults faults;
  std::vector<std::string> in_message;  ///< what the error message must name
};

class GpuFaults : public ::testing::TestWithParam<gpu_fault_case> {};

TEST_P(GpuFaults, AreRefusedAsGpuEvidenceAndNothingIsForwarded) {
  sim::simulator sim(one_backend(GetParam().faults));
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, "SECRET-PROMPT-MARKER"));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), "gpu_evidence") << r.body;
  EXPECT_EQ(error_of(r).at("type"), "attestation_error");
  const std::string message = error_message_of(r);
  for (const auto& part : GetParam().in_message) {
    EXPECT_NE(message.find(part), std::string::npos) << "\"" << part << "\" not in: " << message;
  }
  // Only the attestation GET reached the backend: no byte of the client's request.
  EXPECT_EQ(sim.request_count(domain), 0u);
  const auto records = sim.connections(domain);
  ASSERT_FALSE(records.empty());
  for (const auto& c : records) {
    ASSERT_EQ(c.request_targets.size(), 1u);
    EXPECT_TRUE(c.request_targets[0].starts_with("/v1/attestation/report?")) << c.request_targets[0];
    EXPECT_EQ(c.received.find("SECRET-PROMPT-MARKER"), std::string::npos);
    EXPECT_EQ(c.received.find("sk-test-secret"), std::string::npos);
    EXPECT_EQ(c.received.find("/v1/chat/completions"), std::string::npos);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Switches, GpuFaults,
    ::testing::Values(gpu_fault_case{"gpu_wrong_nonce", {.gpu_wrong_nonce = true}, {"GPU 7", "spdm_nonce"}},
                      gpu_fault_case{"gpu_bad_signature", {.gpu_bad_signature = true}, {"GPU 7", "signature"}},
                      gpu_fault_case{"gpu_foreign_root", {.gpu_foreign_root = true}, {"GPU 7", "chain"}},
                      gpu_fault_case{"gpu_missing_payload", {.gpu_missing_payload = true}, {"no nvidia_payload"}},
                      gpu_fault_case{"gpu_fewer", {.gpu_fewer = true}, {"count"}},
                      gpu_fault_case{"gpu_payload_nonce", {.gpu_payload_nonce = true}, {"payload_nonce"}}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(GpuEndToEnd, MissingPayloadPassesAPolicyThatDoesNotRequireGpus) {
  // What gpu.required is for: without it, a CVM that leaves its GPUs out is not refused.
  sim::simulator sim(one_backend({.gpu_missing_payload = true}));
  auto lenient = std::make_shared<const policy::workload_policy>(policy::parse_policy("{}").value());
  running_proxy proxy(sim, {}, lenient);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 200u) << r.body;
}

TEST(GpuEndToEnd, ARevokedGpuCertificateIsRefusedAsGpuRevocation) {
  sim::simulator_options o = one_backend();
  o.gpus = harness_gpus;
  sim::simulator sim(o);
  // The simulator's Provisioner ICA, revoked by its issuer's current CRL (NVIDIA's l2-gh100.crl).
  const auto chain = crypto::pem_certificate_ders(sim.nvidia_pki().certificate_chain_pem({}, 0)).value();
  const auto now = system_clock().now();
  using issuer = test::nvidia_test_pki::crl_issuer;
  auto crls = std::make_shared<std::vector<crypto::x509_crl_ptr>>();
  crls->push_back(crypto::parse_crl(sim.nvidia_pki().crl(issuer::identity, {chain.at(2)}, now - std::chrono::hours(1),
                                                          now + std::chrono::hours(24))));
  running_proxy proxy(sim, {}, nullptr, {std::string(domain)}, crls);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), "gpu_revocation") << r.body;
  EXPECT_NE(error_message_of(r).find("NVIDIA GH100 Provisioner ICA 1"), std::string::npos) << r.body;
  EXPECT_EQ(sim.request_count(domain), 0u);

  // The same CRL without the revocation: the ICA and nothing else is checked, which the
  // simulator's policy accepts.
  crls = std::make_shared<std::vector<crypto::x509_crl_ptr>>();
  crls->push_back(crypto::parse_crl(
      sim.nvidia_pki().crl(issuer::identity, {}, now - std::chrono::hours(1), now + std::chrono::hours(24))));
  running_proxy accepting(sim, {}, nullptr, {std::string(domain)}, crls);
  EXPECT_EQ(http_exchange(accepting.port(), chat_request("sim-model", false)).status, 200u);
}

struct nras_fault_case {
  const char* name;
  sim::nras_faults faults;
  const char* check;  ///< the NRAS check the message names (docs/gpu-signatures-e2ee.md §2.3)
};

class NrasFaults : public ::testing::TestWithParam<nras_fault_case> {};

TEST_P(NrasFaults, AreRefusedAsGpuNrasAndNothingIsForwarded) {
  sim::simulator_options o = one_backend();
  o.gpus = harness_gpus;
  o.nras = GetParam().faults;
  sim::simulator sim(o);
  running_proxy proxy(sim);
  const auto r = http_exchange(proxy.port(), chat_request("sim-model", false, "SECRET-PROMPT-MARKER"));
  EXPECT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), "gpu_nras") << r.body;
  EXPECT_NE(error_message_of(r).find(GetParam().check), std::string::npos) << error_message_of(r);
  EXPECT_EQ(sim.nras_attest_count(), 1u) << "NVIDIA's verdict was asked for once";
  EXPECT_EQ(sim.request_count(domain), 0u) << "nothing of the client's request reached the backend";
  for (const auto& c : sim.connections(domain)) EXPECT_EQ(c.received.find("SECRET-PROMPT-MARKER"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    Switches, NrasFaults,
    ::testing::Values(nras_fault_case{"nras_down", {.down = true}, "503"},
                      nras_fault_case{"nras_verdict_false", {.verdict_false = true}, "J5"},
                      nras_fault_case{"nras_wrong_nonce", {.wrong_nonce = true}, "J4"},
                      nras_fault_case{"nras_expired", {.expired = true}, "J3"}),
    [](const auto& test_info) { return std::string(test_info.param.name); });

TEST(GpuEndToEnd, AnNrasOutageIsRetryableAndNotRemembered) {
  sim::simulator_options o = one_backend();
  o.gpus = harness_gpus;
  o.nras.down = true;
  sim::simulator sim(o);
  running_proxy proxy(sim);  // --negative-ttl 30 s: a verdict about the backend would be remembered
  auto r = http_exchange(proxy.port(), chat_request("sim-model", false));
  ASSERT_EQ(r.status, 502u) << r.body;
  EXPECT_EQ(error_code_of(r), "gpu_nras");
  EXPECT_EQ(r.header("x-should-retry"), std::nullopt) << "our source being down is worth a retry";
  // NVIDIA is back: the next request attests again and is served.
  sim.set_nras_faults({});
  r = http_exchange(proxy.port(), chat_request("sim-model", false));
  EXPECT_EQ(r.status, 200u) << r.body;
  EXPECT_EQ(sim.attestation_count(domain), 2u);
}

TEST(GpuEndToEnd, NrasKeysAreFetchedOnceForManyAttestations) {
  sim::simulator_options o = one_backend();
  o.gpus = harness_gpus;
  o.domains[0].instances = 3;  // three CVMs, three keys, three attestations
  sim::simulator sim(o);
  running_proxy proxy(sim, [](server::proxy_config& c) { c.pool_max_connections = 0; });
  for (int i = 0; i < 3; ++i) EXPECT_EQ(http_exchange(proxy.port(), chat_request("sim-model", false)).status, 200u);
  EXPECT_EQ(sim.attestation_count(domain), 3u);
  EXPECT_EQ(sim.nras_attest_count(), 3u);
  EXPECT_EQ(sim.nras_jwks_count(), 1u);
}

}  // namespace
}  // namespace vp::test
