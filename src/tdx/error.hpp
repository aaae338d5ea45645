#pragma once
// The verifier's closed set of failure kinds. The spellings returned by to_string()
// are a stable interface: outside tools match on them (CLI JSON, proxy errors).

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <string>
#include <string_view>
#include <type_traits>

namespace vp::tdx {

enum class errc {
  malformed_quote = 1,         ///< the quote bytes do not parse (lengths, sizes, structure)
  unsupported_quote,           ///< parses, but is not a TDX ECDSA-P256 quote from Intel's QE
  untrusted_chain,             ///< a certificate chain does not lead to the trust anchor
  certificate_revoked,         ///< a certificate in a chain is listed on an authentic CRL
  invalid_signature,           ///< quote, QE report, TCB info or QE identity signature
  qe_report_binding,           ///< QE report data != SHA-256(attestation key ‖ QE auth data) ‖ 0
  qe_identity_mismatch,        ///< QE report vs QE identity (MRSIGNER, ISVPRODID, masks, id)
  fmspc_mismatch,              ///< PCK certificate FMSPC != TCB info FMSPC
  pceid_mismatch,              ///< PCK certificate PCE-ID != TCB info PCE-ID
  tdx_module_mismatch,         ///< MRSIGNERSEAM / SEAMATTRIBUTES / module identity missing
  no_matching_tcb_level,       ///< no TCB level (platform, module or QE) matches
  tcb_revoked,                 ///< the combined TCB status is Revoked
  unknown_tcb_status,          ///< collateral names a TCB status Intel does not define
  collateral_expired,          ///< TCB info / QE identity / CRL past nextUpdate
  collateral_not_yet_valid,    ///< TCB info / QE identity / CRL before issueDate / thisUpdate
  certificate_expired,         ///< a certificate past notAfter
  certificate_not_yet_valid,   ///< a certificate before notBefore
  malformed_collateral,        ///< collateral does not parse or has the wrong shape/version
  debug_td,                    ///< the TD runs with the DEBUG attribute
};

/// Stable snake_case spelling of `e` (e.g. "malformed_quote").
std::string_view to_string(errc e) noexcept;


/// A failure: its kind plus a sentence naming the failed step and the observed values.
struct error {
  errc kind;
  std::string message;
};

template <class T>
using result = boost::system::result<T, error>;

inline error make_error(errc kind, std::string message) { return error{kind, std::move(message)}; }

/// Lets result<T>::value() report an error (used only by tests and tools; the data
/// plane inspects results instead of calling value() on them).
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

}  // namespace vp::tdx

