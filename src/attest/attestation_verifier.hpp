#pragma once
// One NEAR attestation object → a verdict: the DCAP quote verified against Intel-rooted
// collateral, then bound to the client's nonce and the live TLS connection. Pure and
// synchronous: no I/O, no clock reads (`now` is given), no network types.

#include <cstdint>

#include "attest/error.hpp"
#include "attest/near_report.hpp"
#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "tdx/verifier.hpp"

namespace vp::attest {

/// What an accepted attestation establishes. Policy (TCB status, measurements, app
/// identity) is the caller's: this only says the quote is genuine and bound.
struct attestation_verdict {
  /// The verified quote: TD report (measurements, report_data), TCB status, advisories.
  tdx::verified_quote quote;
  signing_algorithm signing_algo = signing_algorithm::ecdsa;
  /// The attested signing identity (20 bytes ecdsa, 32 bytes ed25519).
  bytes signing_address;
  /// The attested SHA-256 of the TLS SPKI (== the live peer's).
  sha256_digest tls_cert_fingerprint{};
  /// The verdict must not be relied on after this time (== quote.collateral_expires_at).
  unix_time collateral_expires_at{};
};

/// Verifies `attestation` as of `now`:
///  1. the quote's platform (FMSPC, PCK CA) must be the one `collateral` describes (else
///     collateral_mismatch: the caller picked the wrong collateral, nothing is known yet
///     about the quote; a quote whose platform cannot be read is quote_rejected);
///  2. tdx::verify_quote(intel_quote, collateral, anchor, now) (else quote_rejected; the
///     message carries the tdx errc spelling and message, error::quote_error the kind);
///  3. check_binding() on the verified TD report (missing_tls_fingerprint,
///     fingerprint_mismatch, report_data_binding, nonce_mismatch).
/// `nonce32`: the 32 random bytes sent as `nonce`; `live_spki_sha256`: SHA-256 of the DER
/// SubjectPublicKeyInfo of the TLS peer on the connection that returned the report.
/// Errors: the above, invalid_argument (argument lengths).
result<attestation_verdict> verify_attestation(const near_attestation& attestation, byte_view nonce32,
                                               byte_view live_spki_sha256, const tdx::prepared_collateral& collateral,
                                               const tdx::trust_anchor& anchor, unix_time now);

}  // namespace vp::attest
