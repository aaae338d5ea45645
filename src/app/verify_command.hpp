#pragma once
// `verified-proxy verify DOMAIN [--model M]` and `verified-proxy verify --gateway --model M`:
// attests one live backend now, exactly as the proxy would before forwarding a request —
// the same flags and config file as serve, the same connection, attester and gate — and
// prints the whole factor report (the renderer verify-report uses).

#include <iosfwd>
#include <string>
#include <vector>

namespace vp::app {

/// `args` are the arguments after "verify". Exit: exit_ok when the proxy would forward
/// requests to the backend, exit_rejected when it would refuse them (a failed factor, an
/// unusable report, Intel's or NVIDIA's services unavailable: the proxy's one-sentence
/// reason is printed), exit_usage for bad flags or configuration and when the backend
/// cannot be reached (DNS, connect, TLS, a timeout) or the gateway refuses the API key.
int verify_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace vp::app
