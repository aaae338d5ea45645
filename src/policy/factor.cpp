#include "policy/factor.hpp"

namespace vp::policy {

std::string_view to_string(factor_status s) noexcept {
  switch (s) {
    case factor_status::pass: return "pass";
    case factor_status::fail: return "fail";
    case factor_status::warn: return "warn";
    case factor_status::skip: return "skip";
  }
  return "unknown";
}

bool factor_report::ok() const { return first_failure() == nullptr; }

const factor* factor_report::first_failure() const {
  for (const factor& f : factors) {
    if (f.status == factor_status::fail) return &f;
  }
  return nullptr;
}

const factor* factor_report::find(std::string_view name) const {
  for (const factor& f : factors) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace vp::policy
