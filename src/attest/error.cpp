#include "attest/error.hpp"

#include <boost/throw_exception.hpp>

#include <stdexcept>

namespace vp::attest {

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::malformed_report: return "malformed_report";
    case errc::unsupported_signing_algo: return "unsupported_signing_algo";
    case errc::missing_tls_fingerprint: return "missing_tls_fingerprint";
    case errc::fingerprint_mismatch: return "fingerprint_mismatch";
    case errc::report_data_binding: return "report_data_binding";
    case errc::nonce_mismatch: return "nonce_mismatch";
    case errc::quote_rejected: return "quote_rejected";
    case errc::collateral_mismatch: return "collateral_mismatch";
    case errc::invalid_argument: return "invalid_argument";
  }
  return "unknown_error";
}

void throw_exception_from_error(const error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(std::string(to_string(e.kind)) + ": " + e.message), loc);
}

}  // namespace vp::attest
