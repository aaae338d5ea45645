#pragma once
// Why collateral could not be had. Every message names the URL, file or check.

#include <boost/system/result.hpp>

#include <string>
#include <string_view>

namespace vp::collateral {

enum class errc {
  unavailable = 1,  ///< every source failed: network, HTTP status, timeouts (message lists each)
  invalid,          ///< a response or file is not collateral (missing header, bad encoding, parse)
  rejected,         ///< collateral failed authentication (chain, CRL, signature: see message)
  mismatch,         ///< authentic, but for another FMSPC or CA type than asked for
  expired,          ///< authentic, but not valid now, and no fresh copy could be had
  too_old,          ///< tcbEvaluationDataNumber below the configured minimum
  not_found,        ///< an offline bundle has no collateral for this platform
};

std::string_view to_string(errc e) noexcept;

struct error {
  errc kind;
  std::string message;
};

template <class T>
using result = boost::system::result<T, error>;

[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

}  // namespace vp::collateral
