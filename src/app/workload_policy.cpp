#include "app/workload_policy.hpp"

#include <stdexcept>

#include "tdx/tcb_info.hpp"

namespace vp::app {

// Interim rule until the policy library lands: Intel's status must be UpToDate or
// SWHardeningNeeded.
workload_setup make_workload_check(const std::string& policy_file) {
  if (!policy_file.empty()) throw std::runtime_error("--policy is not supported yet");
  workload_setup s;
  s.description = "TCB status UpToDate or SWHardeningNeeded";
  s.check = [](const upstream::attestation_outcome& o,
               std::optional<std::string_view>) -> std::optional<attest::attestation_failure> {
    const auto status = o.verdict.quote.status;
    if (status == tdx::tcb_status::up_to_date || status == tdx::tcb_status::sw_hardening_needed) return std::nullopt;
    return attest::attestation_failure{"tcb_status", "TCB status " + std::string(tdx::to_string(status)) +
                                                         " is not accepted"};
  };
  return s;
}

}  // namespace vp::app
