#include "tdx/error.hpp"

#include <boost/throw_exception.hpp>

#include <stdexcept>

namespace vp::tdx {

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::malformed_quote: return "malformed_quote";
    case errc::unsupported_quote: return "unsupported_quote";
    case errc::untrusted_chain: return "untrusted_chain";
    case errc::certificate_revoked: return "certificate_revoked";
    case errc::invalid_signature: return "invalid_signature";
    case errc::qe_report_binding: return "qe_report_binding";
    case errc::qe_identity_mismatch: return "qe_identity_mismatch";
    case errc::fmspc_mismatch: return "fmspc_mismatch";
    case errc::pceid_mismatch: return "pceid_mismatch";
    case errc::tdx_module_mismatch: return "tdx_module_mismatch";
    case errc::no_matching_tcb_level: return "no_matching_tcb_level";
    case errc::tcb_revoked: return "tcb_revoked";
    case errc::unknown_tcb_status: return "unknown_tcb_status";
    case errc::collateral_expired: return "collateral_expired";
    case errc::collateral_not_yet_valid: return "collateral_not_yet_valid";
    case errc::certificate_expired: return "certificate_expired";
    case errc::certificate_not_yet_valid: return "certificate_not_yet_valid";
    case errc::malformed_collateral: return "malformed_collateral";
    case errc::debug_td: return "debug_td";
  }
  return "unknown_error";
}

void throw_exception_from_error(const error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(std::string(to_string(e.kind)) + ": " + e.message), loc);
}

}  // namespace vp::tdx
