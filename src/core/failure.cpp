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

std::string failure_detail(const failure& f) {
  std::string_view rest = f.message;
  const auto redundant = [&](std::string_view segment) {
    return segment == f.code || segment == "report" || segment == "quote rejected" ||
           (!f.json_pointer.empty() && segment == f.json_pointer) || segment.starts_with("attesting ") ||
           segment.starts_with("workload policy '");
  };
  for (;;) {
    const std::size_t colon = rest.find(": ");
    if (colon == std::string_view::npos || !redundant(rest.substr(0, colon))) break;
    rest.remove_prefix(colon + 2);
  }
  while (!rest.empty() && (rest.back() == '.' || rest.back() == ' ')) rest.remove_suffix(1);
  return rest.empty() ? f.message : std::string(rest);
}

void throw_exception_from_error(const failure& f, const boost::source_location&) {
  throw std::runtime_error(f.code + ": " + f.message);
}

}  // namespace vp
