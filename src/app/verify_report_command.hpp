#pragma once
// `verified-proxy verify-report`: verifies a saved NEAR AI attestation report completely
// offline — every quote (Intel DCAP), its binding to the client's nonce and TLS key, and
// the workload policy — and prints the factor report.

#include <iosfwd>
#include <string>
#include <vector>

#include "core/clock.hpp"

namespace vp::app {

/// `args` are the flags after "verify-report". `clock` supplies the default for --at.
/// Exit: exit_ok when every enforced factor of every attestation passes, exit_rejected
/// otherwise, exit_usage for bad flags, unreadable files or a malformed policy file.
int verify_report_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                          const clock& clock);

}  // namespace vp::app
