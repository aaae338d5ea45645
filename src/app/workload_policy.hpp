#pragma once
// The workload policy the proxy appraises every attestation under (--policy).

#include <memory>
#include <string>

#include "policy/policy.hpp"

namespace vp::app {

struct workload_setup {
  std::shared_ptr<const policy::workload_policy> policy;
  std::string description;  ///< for the startup log line
};

/// The policy from `policy_file`, or the built-in `nearai` policy when empty. Throws
/// std::runtime_error naming the file and the problem when the file cannot be read or
/// parsed: the proxy refuses to start.
workload_setup load_workload_policy(const std::string& policy_file);

}  // namespace vp::app
