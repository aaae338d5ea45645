#pragma once
// Why an attestation of a NEAR AI backend was not accepted. The spellings returned by
// to_string() are a stable interface, like vp::tdx::errc's: the proxy reports them to
// clients and outside tools match on them.

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "tdx/error.hpp"

namespace vp::attest {

enum class errc {
  malformed_report = 1,      ///< the report body / an attestation object does not have the expected shape
  unsupported_signing_algo,  ///< signing_algo is neither "ecdsa" nor "ed25519"
  missing_tls_fingerprint,   ///< no tls_cert_fingerprint: the report is not bound to any TLS key
  fingerprint_mismatch,      ///< SHA-256 of the live TLS SPKI != the attested tls_cert_fingerprint
  report_data_binding,       ///< report_data[0:32] != SHA-256(signing identity ‖ fingerprint)
  nonce_mismatch,            ///< report_data[32:64] != the nonce this client sent
  quote_rejected,            ///< the DCAP verifier rejected the quote (message: tdx spelling + message)
  collateral_mismatch,       ///< the collateral given is for another platform than the quote's
  invalid_argument,          ///< the caller passed a nonce / SPKI digest of the wrong length
};

/// Stable snake_case spelling of `e` (e.g. "fingerprint_mismatch").
std::string_view to_string(errc e) noexcept;


/// A failure: its kind plus a sentence naming the failed check (and, for report fields,
/// the JSON pointer of the field) and the observed values.
struct error {
  errc kind;
  std::string message;
  /// With quote_rejected: the DCAP verifier's own kind (e.g. collateral_expired), so that
  /// a caller can tell "fetch fresh collateral" from "this backend is not genuine".
  std::optional<tdx::errc> quote_error{};
};

template <class T>
using result = boost::system::result<T, error>;

inline error make_error(errc kind, std::string message) { return error{kind, std::move(message), std::nullopt}; }

/// Lets result<T>::value() report an error (tests and tools only).
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

}  // namespace vp::attest

