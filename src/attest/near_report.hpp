#pragma once
// The body of NEAR AI's GET /v1/attestation/report, read into typed fields
// (docs/nearai-attestation.md §1.3 direct form, §1.5 gateway form, §1.6 signing keys).
//
// Nothing here is trusted: every field is an untrusted claim until the quote it travels
// with has been verified and its report_data checked against it (binding.hpp). The
// parser only decodes and bounds what later checks consume; it never decides trust.
// Unknown fields are ignored; the raw JSON of every attestation object stays reachable
// (near_attestation::raw) for checks that read more of it (event log, info, app_compose).

#include <boost/json/fwd.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "attest/error.hpp"
#include "core/bytes.hpp"

namespace vp::attest {

/// Body size accepted by parse_report_document(). Real reports are ~300 KB (direct,
/// dominated by nvidia_payload and the event log) to ~430 KB (gateway).
inline constexpr std::size_t max_report_body_size = 8 * 1024 * 1024;
/// Largest decoded intel_quote accepted. Real quotes are ~5 KB (header, TD report,
/// signature data with the PCK chain); 64 KiB leaves room for longer chains.
inline constexpr std::size_t max_intel_quote_size = 64 * 1024;
/// Longest model_name accepted.
inline constexpr std::size_t max_model_name_size = 256;
/// Most entries accepted in a gateway report's model_attestations.
inline constexpr std::size_t max_model_attestations = 16;
/// Deepest JSON nesting accepted (real reports nest 6 levels).
inline constexpr std::size_t max_report_json_depth = 32;

/// The key that signs responses and whose identity report_data binds (§1.6, §1.8).
enum class signing_algorithm {
  ecdsa,    ///< secp256k1; identity = 20-byte Ethereum address
  ed25519,  ///< identity = the 32-byte public key
};

/// "ecdsa" / "ed25519", as the report spells them.
std::string_view to_string(signing_algorithm a) noexcept;

/// Which CVM an attestation object describes.
enum class attestation_role {
  model,    ///< a model CVM (inference-proxy): the direct form's top level or a model_attestations entry
  gateway,  ///< cloud-api's own CVM: gateway_attestation
};

/// "model" / "gateway".
std::string_view to_string(attestation_role r) noexcept;

/// The address as the report writes it: "0x" + 40 lower-case hex digits for ecdsa, 64
/// hex digits for ed25519.
std::string format_signing_address(signing_algorithm algo, byte_view address);

/// One NEAR attestation object: the direct form's top level, one element of a gateway
/// report's model_attestations, or its gateway_attestation.
struct near_attestation {
  /// Where the object sits in the document: "", "/gateway_attestation",
  /// "/model_attestations/0", … (RFC 6901). Every error message starts with it.
  std::string json_pointer;
  attestation_role role = attestation_role::model;

  /// The DCAP quote, hex-decoded (not yet verified).
  bytes intel_quote;
  signing_algorithm signing_algo = signing_algorithm::ecdsa;
  /// The signing identity report_data binds: 20 bytes (ecdsa, from "0x" + 40 hex) or 32
  /// bytes (ed25519, from 64 hex).
  bytes signing_address;
  /// ecdsa: 64 bytes X‖Y of the uncompressed secp256k1 point (without 0x04); ed25519: 32
  /// bytes. NOT bound by report_data: only usable after checking that it corresponds to
  /// signing_address (§1.6 "key binding pitfall").
  std::optional<bytes> signing_public_key;
  /// SHA-256 of the DER SubjectPublicKeyInfo of the CVM's TLS key (§2). Absent when the
  /// report was produced without include_tls_fingerprint=true (then nothing binds it to a
  /// TLS connection).
  std::optional<sha256_digest> tls_cert_fingerprint;
  /// The server's echo of the nonce. Informational only: the nonce is checked against the
  /// verified quote's report_data, never against this field.
  std::optional<std::array<std::uint8_t, 32>> request_nonce;
  /// gateway_attestation only: an HTTP copy of the quote's report_data. Informational,
  /// like request_nonce.
  std::optional<std::array<std::uint8_t, 64>> report_data;
  /// MODEL_NAME of the CVM. Not bound by the quote.
  std::optional<std::string> model_name;

  /// The object itself, sharing ownership of the parsed document (no copy): for checks
  /// that read more of it (event_log, info, app_compose, compose_manager_attestation).
  std::shared_ptr<const boost::json::object> raw;
};

/// Parses one attestation object. `json_pointer` prefixes every error message. Errors:
/// malformed_report (a required field is missing, a field has the wrong JSON type, bad
/// hex, a wrong length, over a size limit — the message names the field),
/// unsupported_signing_algo.
///
/// Required: intel_quote (hex), signing_algo, signing_address. Optional (absent or null):
/// signing_public_key, tls_cert_fingerprint, request_nonce, report_data, model_name; when
/// present they must be well-formed.
result<near_attestation> parse_attestation(std::shared_ptr<const boost::json::object> raw, std::string json_pointer,
                                           attestation_role role);

/// The two response shapes of /v1/attestation/report.
enum class report_form {
  direct,   ///< inference-proxy: the attestation at the top level (has intel_quote)
  gateway,  ///< cloud-api: gateway_attestation + model_attestations[]
};

/// "direct" / "gateway".
std::string_view to_string(report_form f) noexcept;

/// A parsed report body.
struct near_report_document {
  report_form form = report_form::direct;
  /// The whole parsed body (immutable; every near_attestation::raw points into it).
  std::shared_ptr<const boost::json::value> root;
  /// direct: one entry (pointer ""). gateway: "/gateway_attestation" first, then
  /// "/model_attestations/0", "/model_attestations/1", … in document order.
  std::vector<near_attestation> attestations;

  /// The attestation at `json_pointer`, or nullptr.
  const near_attestation* find(std::string_view json_pointer) const;
};

/// Parses a report body and every attestation object in it. The direct form is
/// recognised by a top-level intel_quote, the gateway form by gateway_attestation (which
/// must come with a non-empty model_attestations array: a gateway report without model
/// evidence says nothing about the CVM that would receive the prompts). A body with both
/// markers is ambiguous and rejected. Direct reports' all_attestations (a copy of the top
/// level) and every other unknown field are ignored.
///
/// Errors: malformed_report (over max_report_body_size, not JSON, nesting deeper than
/// max_report_json_depth, not an object, neither or both forms, a gateway part missing
/// or of the wrong type, too many model attestations, any parse_attestation error),
/// unsupported_signing_algo.
result<near_report_document> parse_report_document(std::string_view body);

}  // namespace vp::attest
