#pragma once
// "Is this backend acceptable, and what do we know about it?" — answered once, for the
// proxy (on a live connection) and for verify-report (offline), by the same pure code.
//
// A NEAR report document is appraised in three steps that keep I/O out of this layer:
//   1. needs(document, mode): the evidence the document's quotes need fetched (today the
//      collateral of each quote's platform);
//   2. the caller fetches it (the proxy from PCS/PCCS through its cache, verify-report from
//      bundle files) into an evidence_set;
//   3. appraise(...) verifies every attestation the mode covers — DCAP quote, TLS/nonce
//      binding, the workload policy's factors — and returns an appraisal: the verdict, one
//      entity per attestation with its factors, the first failure as one typed value, how
//      long the verdict may be relied on, and the backend's keys.
//
// Which attestation binds the connection's TLS key is decided here and nowhere else: the
// direct form's only attestation, or the gateway form's /gateway_attestation (the model
// CVMs behind a gateway terminate no TLS with the client).

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "attest/attestation_verifier.hpp"
#include "attest/near_report.hpp"
#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/failure.hpp"
#include "gpu/evidence.hpp"
#include "gpu/nras.hpp"
#include "gpu/revocation.hpp"
#include "policy/factor.hpp"
#include "policy/policy.hpp"
#include "tdx/verifier.hpp"

namespace vp::appraise {

enum class mode {
  /// The proxy: the attestation bound to the live TLS connection is appraised and must
  /// pass, and behind a gateway every model attestation too (the gateway only relays: the
  /// prompt is read by a model CVM, docs/gpu-signatures-e2ee.md §5.1 steps 3-4). Nothing
  /// else in the document is relied on.
  connection,
  /// verify-report: every attestation of the document; a model CVM behind a gateway is
  /// bound to the client's nonce and to the TLS fingerprint it attests itself.
  offline_all,
};

using failure = vp::failure;
using phase = vp::failure_phase;

/// What the client's side of the connection knows: the nonce it sent, the SHA-256 of the
/// peer's DER SubjectPublicKeyInfo, and the model the request was routed by.
struct connection_facts {
  sha256_digest nonce{};
  /// nullopt (offline_all only: a capture that did not record the key): the report is not
  /// tied to a TLS connection. report_data is then checked against the fingerprint the
  /// report names, and the binding factor is a skip saying so.
  std::optional<sha256_digest> live_spki;
  std::optional<std::string> routed_model;
};

struct evidence_needs {
  /// Distinct platforms whose collateral the appraisal needs, in document order.
  std::vector<tdx::platform_id> platforms;
  /// GPU evidence NVIDIA's attestation service can be asked about: the nvidia_payload
  /// string of each covered model attestation listing GPUs, to be POSTed unchanged
  /// (docs/gpu-signatures-e2ee.md §2.1).
  struct gpu_payload {
    std::string json_pointer;
    std::string payload;
  };
  std::vector<gpu_payload> nras;
};

/// Evidence fetched for an appraisal. A platform without collateral is appraised as a
/// `collateral_unavailable` failure carrying `why` when the fetch said why.
struct evidence_set {
  struct collateral_entry {
    tdx::platform_id platform;
    std::shared_ptr<const tdx::prepared_collateral> prepared;  ///< null: unavailable
    std::string why;                                          ///< with a null `prepared`
  };
  std::vector<collateral_entry> collateral;

  /// The root GPU certificate chains must end at; nullptr: NVIDIA's Device Identity CA
  /// (compiled in). Tests and the simulator supply their own.
  const gpu::trust_anchor* gpu_root = nullptr;

  /// NVIDIA's attestation service's answer about one attestation's GPUs.
  struct nras_entry {
    std::string json_pointer;
    std::optional<std::string> answer;  ///< the answer body; nullopt: none (see why)
    std::string why;                    ///< why there is no answer (an outage, --no-nras, no file)
  };
  std::vector<nras_entry> nras;
  /// The service's signing keys (null: none available), and the intermediates a key's
  /// x5c must chain to (lower-case hex SHA-256 of the SPKI; §2.2 "nras-key-pin").
  std::shared_ptr<const gpu::nras::jwks> nras_keys;
  std::vector<std::string> nras_key_pins = gpu::nras::options{}.key_pins;

  const nras_entry* find_nras(std::string_view json_pointer) const;

  /// CRLs for the GPU identity chains (null or empty: their revocation is unchecked).
  std::shared_ptr<const std::vector<crypto::x509_crl_ptr>> gpu_crls;

  void add(tdx::platform_id platform, std::shared_ptr<const tdx::prepared_collateral> prepared);
  void add_unavailable(tdx::platform_id platform, std::string why);
  const collateral_entry* find(const tdx::platform_id& platform) const;
};

/// The attested identity a backend signs and encrypts with: response signatures and
/// end-to-end encryption must use exactly this, and only when `bound` (the quote's
/// report_data commits to it).
struct backend_keys {
  attest::signing_algorithm signing_algo = attest::signing_algorithm::ecdsa;
  bytes signing_address;
  /// The report's signing_public_key as received: NOT bound by the quote until it is
  /// shown to correspond to signing_address (e2ee::bind_recipient does).
  std::optional<bytes> signing_public_key;
  bool bound = false;
};

/// One attestation of the document, as appraised.
struct attested_entity {
  std::string json_pointer;
  attest::attestation_role role = attest::attestation_role::model;
  bool connection_facing = false;
  /// Present when the quote and its binding verified.
  std::optional<attest::attestation_verdict> verdict;
  /// "quote", "binding", the policy's factors in evaluation order, then for model CVMs
  /// under a policy gpu_evidence, gpu_measurements, gpu_revocation, gpu_nras.
  std::vector<policy::factor> factors;
  /// The GPUs whose local evidence verified (empty: none, or not evaluated).
  std::vector<gpu::verified_gpu> gpus;
  /// NVIDIA's verdict on them, when its answer verified.
  std::optional<gpu::nras::verdict> nras;
  backend_keys keys;
  /// The CVM's MODEL_NAME as reported (not bound by the quote): response signatures name it.
  std::optional<std::string> model_name;

  bool ok() const;
};

struct appraisal {
  attest::report_form form = attest::report_form::direct;
  /// Connection-facing entity first, then the others in document order (offline_all).
  std::vector<attested_entity> entities;
  std::optional<failure> first_failure;
  /// The earliest of every appraised quote's collateral expiry, the policy's TCB grace
  /// window end and NVIDIA's token expiry: the verdict must not be relied on after it.
  /// Meaningful when accepted().
  unix_time trusted_until{};
  /// An NRAS answer was signed with a key the JWKS given did not hold: NVIDIA rotates keys
  /// continuously, so the caller may refetch the key set once and appraise again.
  bool nras_key_unknown = false;

  bool accepted() const { return !first_failure.has_value(); }
  /// The entity bound to the connection's TLS key (nullptr if the document had none).
  const attested_entity* connection_entity() const;
  /// The model CVM that reads the prompt, whose keys E2EE seals to and whose signatures
  /// vouch for the answer: the connection entity of a direct report, the first model
  /// attestation behind a gateway (nullptr if the document had none).
  const attested_entity* model_entity() const;
};

/// The JSON pointer of the attestation that binds the TLS key of the connection the
/// report arrived on: "" (direct) or "/gateway_attestation" (gateway).
std::string_view connection_facing_pointer(attest::report_form form) noexcept;

/// The evidence `appraise` will look up for `document` in `m`.
evidence_needs needs(const attest::near_report_document& document, mode m);

/// Appraises `document` as of `now` under `policy` (nullptr: the quotes and their
/// bindings only, no workload factors). Never throws on untrusted input; every failure is
/// a factor of an entity and the first one is `first_failure`.
appraisal appraise(const attest::near_report_document& document, const connection_facts& facts,
                   const evidence_set& evidence, const policy::workload_policy* policy,
                   const tdx::trust_anchor& anchor, unix_time now, mode m);

/// The failure of a document that cannot be parsed (phase report, the attest errc
/// spelling as code).
failure report_failure(const attest::error& e);

}  // namespace vp::appraise
