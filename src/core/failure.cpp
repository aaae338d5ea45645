#include "core/failure.hpp"

#include <stdexcept>

namespace vp {

std::string_view to_string(failure_phase p) noexcept {
  switch (p) {
    case failure_phase::connect: return "connect";
    case failure_phase::tls: return "tls";
    case failure_phase::exchange: return "exchange";
    case failure_phase::report: return "report";
    case failure_phase::collateral: return "collateral";
    case failure_phase::quote: return "quote";
    case failure_phase::binding: return "binding";
    case failure_phase::policy: return "policy";
    case failure_phase::gpu: return "gpu";
    case failure_phase::internal: return "internal";
  }
  return "internal";
}

void throw_exception_from_error(const failure& f, const boost::source_location&) {
  throw std::runtime_error(f.code + ": " + f.message);
}

}  // namespace vp
