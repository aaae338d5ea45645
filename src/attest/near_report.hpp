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
/// Most entries accepted in an event log (real logs have 29-30).
inline constexpr std::size_t max_event_log_entries = 4096;
/// Longest app_compose accepted (real launcher composes are 4.6-30 KB).
inline constexpr std::size_t max_app_compose_size = 1024 * 1024;
/// Longest JSON text accepted where the report nests JSON inside a string (event_log at
/// the gateway, info / tcb_info in some dstack versions, key_provider_info).
inline constexpr std::size_t max_embedded_json_size = 4 * 1024 * 1024;
/// Longest hex-encoded identity in info (app_id, instance_id, compose_hash, …), in bytes
/// after decoding. Real values are 20 or 32 bytes.
inline constexpr std::size_t max_info_id_size = 64;

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

/// The algorithm named exactly "ecdsa" or "ed25519"; nullopt for any other spelling (a
/// lenient match would let a peer claim an algorithm read otherwise than the server means).
std::optional<signing_algorithm> signing_algorithm_named(std::string_view text) noexcept;

/// The identity `text` spells as NEAR writes it (§1.6): ecdsa "0x" + 40 hex digits of
/// either case (EIP-55 checksums are mixed case), ed25519 64 hex digits; exact lengths.
/// nullopt for anything else.
std::optional<bytes> decode_signing_address(signing_algorithm algo, std::string_view text);

/// How a nested JSON value travelled: as JSON itself, or as a string holding JSON text
/// (the gateway's event_log, §1.5; tcb_info in some dstack versions, §1.4).
enum class json_encoding {
  json,         ///< an array / object in place
  json_string,  ///< a string whose content is the JSON text
};

/// "json" / "json-string".
std::string_view to_string(json_encoding e) noexcept;

/// An event log (§4.3) as carried, decoded to its array. Entries are not interpreted
/// here (vp::policy parses and replays them).
struct near_event_log {
  json_encoding encoding = json_encoding::json;
  /// The array: inside the report document (json) or in its own parsed document
  /// (json_string). Never null; at most max_event_log_entries entries.
  std::shared_ptr<const boost::json::array> entries;
};

/// info.tcb_info (§1.4): the dstack guest agent's claims about the registers, plus the
/// app manifest and the event log. Untrusted: every value must be checked against the
/// verified quote or the replayed event log before it means anything.
struct dstack_tcb_info {
  json_encoding encoding = json_encoding::json;
  std::optional<std::array<std::uint8_t, 48>> mrtd;
  std::array<std::optional<std::array<std::uint8_t, 48>>, 4> rtmr;
  std::optional<bytes> compose_hash;
  std::optional<bytes> os_image_hash;
  /// The app manifest exactly as received (the JSON string's decoded content, never a
  /// re-serialisation): its SHA-256 is what MRCONFIGID and the compose-hash event bind.
  std::optional<std::string> app_compose;
  std::optional<near_event_log> event_log;
};

/// info (§1.4): the dstack guest agent's Info() response. Untrusted, like tcb_info.
struct dstack_info {
  json_encoding encoding = json_encoding::json;
  std::optional<bytes> app_id;
  std::optional<bytes> instance_id;
  std::optional<bytes> compose_hash;
  std::optional<bytes> os_image_hash;
  std::optional<std::string> app_name;
  /// key_provider_info as received: a JSON text {"name":…,"id":<hex DER SPKI>}.
  std::optional<std::string> key_provider_info;
  std::optional<dstack_tcb_info> tcb_info;
};

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
  /// The top-level event_log (array in model reports, JSON string at the gateway).
  std::optional<near_event_log> event_log;
  /// The dstack info object (object or JSON string).
  std::optional<dstack_info> info;

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
/// signing_public_key, tls_cert_fingerprint, request_nonce, report_data, model_name,
/// event_log, info; when present they must be well-formed. event_log: an array, or a
/// string holding a JSON array, of at most max_event_log_entries entries (entries are
/// not interpreted). info: an object or a string holding one; inside it app_id,
/// instance_id, compose_hash, os_image_hash (hex), app_name, key_provider_info
/// (strings) and tcb_info (an object or a string holding one: mrtd, rtmr0-3 (96 hex),
/// compose_hash, os_image_hash (hex), app_compose (string, at most
/// max_app_compose_size bytes), event_log (as above)) are decoded where present; other
/// keys are ignored.
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
