#pragma once
// The binding between a verified TDX quote, a NEAR attestation object, the client's
// nonce and the TLS connection the report arrived on (docs/nearai-attestation.md §1.8
// TLS form, §2).

#include "attest/error.hpp"
#include "attest/near_report.hpp"
#include "core/bytes.hpp"
#include "tdx/quote.hpp"

namespace vp::attest {

/// SHA-256(signing identity bytes ‖ fingerprint bytes): what report_data[0:32] must hold
/// in the TLS form of §1.8 (identity = 20 bytes for ecdsa, 32 for ed25519; fingerprint =
/// the 32 raw bytes of the SPKI SHA-256).
sha256_digest expected_report_data_prefix(byte_view signing_identity, byte_view tls_fingerprint);

/// Checks, in this order, that
///  1. the attestation carries a tls_cert_fingerprint (else missing_tls_fingerprint);
///  2. `live_spki_sha256` — SHA-256 of the DER SubjectPublicKeyInfo of the TLS peer on the
///     connection that returned the report — equals it (else fingerprint_mismatch);
///  3. report_data[0:32] of `verified_td` == expected_report_data_prefix(signing_address,
///     tls_cert_fingerprint) (else report_data_binding);
///  4. report_data[32:64] of `verified_td` == `nonce32`, the fresh nonce this client sent
///     (else nonce_mismatch).
/// `verified_td` must come from tdx::verify_quote on `attestation.intel_quote`; the JSON's
/// request_nonce / report_data echoes are never consulted. Both byte arguments must be 32
/// bytes (else invalid_argument).
result<void> check_binding(const tdx::td_report& verified_td, const near_attestation& attestation, byte_view nonce32,
                           byte_view live_spki_sha256);

}  // namespace vp::attest
