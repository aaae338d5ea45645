#pragma once
// The workload policy the proxy applies after every successful attestation (--policy).

#include <string>

#include "server/attestation_gate.hpp"

namespace vp::app {

struct workload_setup {
  server::workload_check check;
  std::string description;  ///< for the startup log line
};

/// The policy from `policy_file`, or the built-in one when empty. Throws
/// std::runtime_error naming the file and the problem when it cannot be used (the proxy
/// refuses to start).
workload_setup make_workload_check(const std::string& policy_file);

}  // namespace vp::app
