#pragma once
// The body of GET /v1/attestation/report as a simulated inference-proxy answers it: the
// direct form of docs/nearai-attestation.md §1.3, with report_data laid out per §1.8, the
// GPUs' evidence for the same nonce (docs/gpu-signatures-e2ee.md §1.1) and the
// attestation faults of backend_faults applied.

#include <boost/json/object.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "attest/near_report.hpp"
#include "core/bytes.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/secp256k1.hpp"
#include "sim/deployment.hpp"
#include "sim/options.hpp"
#include "sim/workload.hpp"

namespace vp::sim {

/// The query of an attestation request (§1.2).
struct report_query {
  /// nullopt: no nonce given (the simulator then picks a random one, like
  /// inference-proxy's cached report: no freshness).
  std::optional<std::array<std::uint8_t, 32>> nonce;
  attest::signing_algorithm signing_algo = attest::signing_algorithm::ecdsa;
  bool include_tls_fingerprint = false;
};

/// Parses the query of `target` as inference-proxy does. On error returns nullopt and
/// sets `error` to its 400 message ("Nonce must be hex-encoded", "Nonce must be 32
/// bytes", "Unsupported signing algorithm: …").
std::optional<report_query> parse_report_query(std::string_view target, std::string& error);

/// The signing keys of one instance: inference-proxy holds both and signs every
/// completion with each (docs/gpu-signatures-e2ee.md §3.1); the report names the one asked for.
struct signing_identity {
  crypto::secp256k1::keypair ecdsa;
  crypto::ed25519::keypair ed25519;
  bytes ecdsa_address;  ///< 20 bytes: Keccak-256(X‖Y)[12:32] of ecdsa.public_key
  bytes ed25519_key;    ///< 32 bytes: ed25519.public_key, which is also its address

  /// What report_data binds for `algo`: the 20-byte address or the 32-byte key.
  byte_view address(attest::signing_algorithm algo) const;
  /// signing_public_key: X‖Y (64 bytes, no 0x04) or the Ed25519 key.
  byte_view public_key(attest::signing_algorithm algo) const;
  /// The secret the E2EE server side opens requests with: the secp256k1 secret or the
  /// Ed25519 seed (32 bytes).
  byte_view secret(attest::signing_algorithm algo) const;
};

/// Fresh key pairs of both algorithms. Throws std::runtime_error if the CSPRNG fails.
signing_identity random_signing_identity();

/// 32 random bytes (the nonce of a report asked for without one).
std::array<std::uint8_t, 32> random_report_nonce();

/// Everything a report describes about one instance.
struct report_subject {
  const deployment* where = nullptr;
  const instance_workload* workload = nullptr;
  const signing_identity* keys = nullptr;
  /// Another key pair of the instance: the unbound_signing_key fault's signing_public_key.
  const signing_identity* foreign_keys = nullptr;
  std::string model_name;
  sha256_digest spki_sha256{};  ///< of the certificate the connection presents
  std::string cert_pem;         ///< the instance's certificate chain (info.app_cert)
  /// The instance's GPUs: `gpus` of the deployment's GPU PKI, starting at
  /// `first_gpu_index` (so that no two CVMs share a GPU). 0: an empty evidence_list.
  std::size_t gpus = 0;
  std::size_t first_gpu_index = 0;
};

/// The `nvidia_payload` text (docs/gpu-signatures-e2ee.md §1.1) of `subject`'s GPUs for
/// `nonce`, with the GPU faults of `faults` applied; nullopt for gpu_missing_payload.
std::optional<std::string> make_nvidia_payload(const report_subject& subject, const std::array<std::uint8_t, 32>& nonce,
                                               const backend_faults& faults);

/// The JSON body (compact). `nonce` is the one bound (query.nonce, or a random one).
std::string make_report(const report_subject& subject, const report_query& query,
                        const std::array<std::uint8_t, 32>& nonce, const backend_faults& faults);

/// Everything the gateway's own attestation (docs/nearai-attestation.md §1.5) describes.
struct gateway_subject {
  const deployment* where = nullptr;
  const workload_identity* workload = nullptr;  ///< the gateway's (make_gateway_workload_identity)
  const instance_workload* instance = nullptr;
  const signing_identity* keys = nullptr;
  sha256_digest spki_sha256{};  ///< of the gateway's TLS certificate
  std::string cert_pem;         ///< its chain (info.app_cert)
};

/// The gateway_attestation object: signing_address, signing_algo, intel_quote, event_log
/// (a JSON string holding the array, as cloud-api sends it), report_data (hex copy of the
/// quote's), request_nonce, info, vpc, and with include_tls_fingerprint tls_cert_fingerprint;
/// report_data laid out per §1.8. `unbound_tls_key`: report_data and tls_cert_fingerprint
/// bind another SPKI than subject.spki_sha256 (gateway_faults::unbound_tls_key).
boost::json::object make_gateway_attestation(const gateway_subject& subject, const report_query& query,
                                             const std::array<std::uint8_t, 32>& nonce, bool unbound_tls_key);

}  // namespace vp::sim
