#pragma once
// verified-proxy-sim in-process: a complete fake NEAR AI deployment on 127.0.0.1 for
// trying and testing the proxy offline (issue #5 "The simulator").
//
//   - a PCCS (plain HTTP, Intel PCS v4 routes; pccs_url() is a --pccs-url) serving
//     collateral signed by a test DCAP PKI, valid from a day before start-up for 30 days;
//     its PCK CRL revokes one serial (the revoked_pck fault);
//   - an /endpoints server (plain HTTP): {"endpoints":[{"domain":…,"models":[…]},…]};
//   - per domain, one TLS listener in front of N instances picked round-robin per
//     connection (sim/backend_server.hpp): attestation reports binding each instance's
//     own TLS key, signing keys (secp256k1 and Ed25519) and the caller's nonce, with the signed evidence of the instance's own
//     GPUs (simulator_options::gpus, a synthetic NVIDIA PKI) for the same nonce,
//     OpenAI-shaped answers (NEAR's E2EE when asked for, every completion signed with
//     both keys for GET /v1/signature/{chat_id}), fault switches;
//   - a fake NVIDIA Remote Attestation Service (plain HTTP, docs/gpu-signatures-e2ee.md
//     §2): POST /v3/attest/gpu with an nvidia_payload answers NRAS's detached EAT for it,
//     GET /.well-known/jwks.json its signing keys, whose x5c chains to an intermediate
//     (nras_key_pin()); faults per deployment (nras_faults).
//
// The proxy reaches a domain with --connect-to DOMAIN:443:127.0.0.1:PORT, trusts the quotes
// with --root-ca, the backends' certificates with --upstream-ca and the GPUs with
// --nvidia-root-ca, and asks the fake NRAS with --nras-url, --nras-jwks-url and
// --nras-key-pin (write_proxy_files() writes the files and returns every flag).
//
// Typical use in a test:
//   vp::sim::simulator sim;                                    // serving on its own thread
//   run the proxy with sim.write_proxy_files(dir) + {"--port", …}
//   sim.set_faults("sim.completions.near.ai", 0, {.wrong_nonce = true});
//   EXPECT_EQ(sim.attestation_count("sim.completions.near.ai"), 1u);
//
// Test-only trust: everything is signed by keys generated at start-up. Accessors are
// thread-safe; an unknown domain or instance throws std::out_of_range. Start-up failures
// (a port in use) throw.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "testpki/nvidia_pki.hpp"

#include "sim/options.hpp"

namespace vp::sim {

class simulator {
 public:
  /// Starts every server on 127.0.0.1 and serves on its own thread.
  explicit simulator(simulator_options options = {});
  /// Stops promptly, hanging and streaming connections included.
  ~simulator();
  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  /// Stops serving; connections are closed, later connects are refused. Idempotent.
  void stop();

  /// "http://127.0.0.1:PORT", for --pccs-url.
  std::string pccs_url() const;
  /// "http://127.0.0.1:PORT/endpoints", for --endpoints-url.
  std::string endpoints_url() const;
  std::uint16_t backend_port(std::string_view domain) const;
  /// "DOMAIN:443:127.0.0.1:PORT", for --connect-to.
  std::string connect_to(std::string_view domain) const;
  /// The quote trust anchor (--root-ca), PEM.
  const std::string& root_ca_pem() const;
  /// The CA of the backends' TLS certificates (--upstream-ca), PEM.
  const std::string& upstream_ca_pem() const;
  /// The root every simulated GPU's certificate chain ends at (--nvidia-root-ca), PEM.
  const std::string& nvidia_root_ca_pem() const;
  /// The synthetic NVIDIA PKI the GPUs' chains come from (tests mint CRLs with it).
  const test::nvidia_test_pki& nvidia_pki() const;

  /// "http://127.0.0.1:PORT/v3/attest/gpu", for --nras-url.
  std::string nras_url() const;
  /// "http://127.0.0.1:PORT/.well-known/jwks.json", for --nras-jwks-url.
  std::string nras_jwks_url() const;
  /// SHA-256 of the SPKI of the intermediate the fake NRAS keys chain to, lower-case hex
  /// (--nras-key-pin).
  std::string nras_key_pin() const;
  /// The fake NRAS's signing key set (what GET /.well-known/jwks.json serves).
  std::string nras_jwks_json() const;
  /// Replaces the fake NRAS's faults (takes effect for the next request).
  void set_nras_faults(nras_faults faults);
  /// POST /v3/attest/gpu requests received (answered or not).
  std::size_t nras_attest_count() const;
  /// GET /.well-known/jwks.json requests received.
  std::size_t nras_jwks_count() const;

  /// Writes root-ca.pem, upstream-ca.pem and nvidia-root-ca.pem into `dir` (created if
  /// missing) and returns the proxy flags that point at this deployment, one argv element
  /// each: --root-ca PATH --upstream-ca PATH --nvidia-root-ca PATH --pccs-url URL
  /// --endpoints-url URL --nras-url URL --nras-jwks-url URL --nras-key-pin HEX, then per
  /// domain --connect-to DOMAIN:443:127.0.0.1:PORT and --allow-domain DOMAIN, with a
  /// gateway --connect-to GATEWAY:443:127.0.0.1:PORT and --gateway-url URL (the proxy
  /// allows the gateway host itself in --backend gateway), then --no-cache. Throws
  /// std::runtime_error if a file cannot be written.
  std::vector<std::string> write_proxy_files(const std::filesystem::path& dir) const;

  /// A workload policy file (src/policy/policy.hpp format) that pins this deployment:
  /// its MRSEAM, MRTD, RTMR0-2, OS image, app id, KMS id and compose hash for model CVMs,
  /// and (with GPUs) a "gpu" section requiring the GPU evidence, its hardware model and
  /// its measurement set (gpu_pinned()); with a gateway, a "gateway" section pinning
  /// gateway_measured() the same way.
  /// The proxy's built-in `nearai` policy pins NEAR's production values and rejects the
  /// simulator's quotes; give the proxy this one (--policy).
  std::string policy_json() const;
  /// Writes policy_json() to DIR/policy.json (DIR created if missing); returns its
  /// absolute path. Throws std::runtime_error if it cannot be written.
  std::filesystem::path write_policy_file(const std::filesystem::path& dir) const;

  /// Replaces the faults of one instance (takes effect for the next request; also
  /// restarts its rotate_every count).
  void set_faults(std::string_view domain, std::size_t instance, backend_faults faults);
  /// Lower-case hex SHA-256 of the SPKI of the certificate new connections to `instance`
  /// get.
  std::string spki_sha256_hex(std::string_view domain, std::size_t instance) const;
  /// Writes the TLS key and chain (leaf ‖ CA) new connections to `instance` get into
  /// DIR/backend-tls/DOMAIN-INSTANCE.key.pem and .chain.pem (the key file mode 0600) and
  /// returns the two paths, so that another TLS server can stand in for the instance with
  /// the key its reports bind. Test keys only. Throws std::runtime_error if a file cannot be
  /// written.
  std::pair<std::filesystem::path, std::filesystem::path> write_backend_tls(const std::filesystem::path& dir,
                                                                            std::string_view domain,
                                                                            std::size_t instance) const;
  /// Attestation requests received.
  std::size_t attestation_count(std::string_view domain) const;
  /// Other requests received (including those a fault leaves unanswered), signature lookups
  /// aside (signature_lookup_count).
  std::size_t request_count(std::string_view domain) const;
  /// TCP connections accepted.
  std::size_t connection_count(std::string_view domain) const;
  /// Unasked responses sent so far by the unsolicited_while_idle fault.
  std::size_t unsolicited_count(std::string_view domain) const;
  /// Every connection so far, in accept order.
  std::vector<connection_record> connections(std::string_view domain) const;
  /// Headers (name, value as received) of the requests request_count counts, in order — to
  /// check forwarding.
  std::vector<std::vector<std::pair<std::string, std::string>>> request_headers(std::string_view domain) const;
  std::vector<std::string> request_bodies(std::string_view domain) const;
  /// Every non-attestation request of `domain` and what became of it, in arrival order:
  /// the raw body and headers, what the model answered from (decrypted), the answer's
  /// chat id, the exact response entity sent and whether it was signed.
  std::vector<backend_exchange> exchanges(std::string_view domain) const;
  /// GET /v1/signature/… requests `domain` received.
  std::size_t signature_lookup_count(std::string_view domain) const;
  /// Replaces the signature delay of every domain (simulator_options::signature_delay).
  void set_signature_delay(std::chrono::milliseconds delay);

  /// The workload measurements the minted quotes carry (for writing a policy that pins
  /// this deployment), lower-case hex. Every instance shares them except rtmr3, which
  /// covers the per-instance instance-id event: rtmr3 is that of instance 0 of the first
  /// domain. key_provider is the KMS id (hex DER SPKI) of the key-provider event.
  struct measurements {
    std::string mrtd, rtmr0, rtmr1, rtmr2, rtmr3, compose_hash, app_id, key_provider, os_image_hash;
    std::string mrseam;        ///< MRSEAM (the test PKI's TDX module measurement)
    std::string mr_config_id;  ///< 01 ‖ compose_hash ‖ zeros
  };
  measurements measured() const;

  /// What every simulated GPU reports (healthy): the BROM CN, driver, VBIOS and the
  /// SHA-256 of the signed MeasurementRecord, as the policy pins them.
  struct gpu_measurements {
    std::string hwmodel, driver_version, vbios_version, measurement_record_sha256;
  };
  gpu_measurements gpu_pinned() const;
  // --- The gateway (simulator_options::gateway); each throws std::logic_error without one.
  /// The gateway's logical host ("cloud-api.near.ai" by default).
  const std::string& gateway_domain() const;
  /// "https://" + gateway_domain(), for --gateway-url (reached through connect_to()).
  std::string gateway_url() const;
  std::uint16_t gateway_port() const;
  /// Lower-case hex SHA-256 of the SPKI of the gateway's TLS certificate.
  std::string gateway_spki_sha256_hex() const;
  /// The gateway CVM's signing address for `algo` ("ed25519" / "ecdsa"), as its report
  /// writes it.
  std::string gateway_signing_address(std::string_view algo) const;
  /// Replaces the gateway's faults (takes effect for the next request).
  void set_gateway_faults(gateway_faults faults);
  /// Attestation requests the gateway received (answered or refused).
  std::size_t gateway_attestation_count() const;
  /// GET /v1/signature/… requests the gateway received.
  std::size_t gateway_signature_lookup_count() const;
  /// Every other request the gateway received, in arrival order.
  std::vector<gateway_exchange> gateway_exchanges() const;
  /// The gateway CVM's workload measurements (another app id and compose than the models').
  measurements gateway_measured() const;

  /// GPUs per CVM (simulator_options::gpus).
  std::size_t gpus() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vp::sim
