#pragma once
// The outcome of a workload policy evaluation: one named factor per check, each with the
// observed values, so that a person (verify-report) or a client (the proxy's 502 body)
// sees exactly what was proven and what was not.

#include <string>
#include <string_view>
#include <vector>

namespace vp::policy {

/// The outcome of one check.
enum class factor_status {
  pass,  ///< checked and satisfied
  fail,  ///< checked and violated: the attestation must not be trusted
  warn,  ///< accepted, but worth a person's attention (TCB grace window, model name)
  skip,  ///< not evaluated (nothing to check against, or a prerequisite failed)
};

/// "pass" / "fail" / "warn" / "skip".
std::string_view to_string(factor_status s) noexcept;

/// One check. `name` is a stable snake_case identifier ("tcb_status", "mrtd", …) that
/// clients may match on; `detail` is a sentence with the observed values.
struct factor {
  std::string name;
  factor_status status = factor_status::skip;
  std::string detail;
};

/// Every factor of one evaluation, in evaluation order.
struct factor_report {
  std::vector<factor> factors;

  /// No factor failed (warn and skip do not fail).
  bool ok() const;
  /// The first failed factor in evaluation order; nullptr when ok().
  const factor* first_failure() const;
  /// The factor named `name`, or nullptr.
  const factor* find(std::string_view name) const;
};

}  // namespace vp::policy
