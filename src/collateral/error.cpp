#include "collateral/error.hpp"

#include <boost/throw_exception.hpp>

#include <stdexcept>

namespace vp::collateral {

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::unavailable: return "unavailable";
    case errc::invalid: return "invalid";
    case errc::rejected: return "rejected";
    case errc::mismatch: return "mismatch";
    case errc::expired: return "expired";
    case errc::too_old: return "too_old";
    case errc::not_found: return "not_found";
  }
  return "unknown_error";
}

void throw_exception_from_error(const error& e, const boost::source_location& loc) {
  boost::throw_exception(std::runtime_error(std::string(to_string(e.kind)) + ": " + e.message), loc);
}

}  // namespace vp::collateral
