#pragma once
// The workload policy the proxy applies after every successful attestation (--policy):
// glue between the pure policy library and the server's attestation gate.

#include <memory>
#include <string>

#include "core/clock.hpp"
#include "server/attestation_gate.hpp"

namespace vp::app {

struct workload_setup {
  server::workload_check check;
  /// How long an accepted attestation stays acceptable under the policy (the end of a TCB
  /// grace window), for the verdict cache.
  server::trust_limit limit;
  std::string description;  ///< for the startup log line
};

/// The policy from `policy_file`, or the built-in `nearai` policy when empty, evaluated as
/// of `clock.now()`. A failing factor refuses the backend (its name is the 502 code);
/// warnings are logged. An attestation whose role (model / gateway: the backend picks it
/// by the report's form) has no allowlist in a policy that pins the other role is refused
/// ("gateway_not_pinned" / "model_not_pinned"). Throws std::runtime_error naming the file
/// and the problem when the file cannot be read or parsed: the proxy refuses to start.
workload_setup make_workload_check(const std::string& policy_file, std::shared_ptr<const clock> clock);

}  // namespace vp::app
