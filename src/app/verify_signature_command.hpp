#pragma once
// `verified-proxy verify-signature`: checks a saved NEAR response signature
// (GET /v1/signature/{chat_id}) offline — the signature over its text, the text's hashes
// against the exact request and response bytes, the model name, and that the signer is the
// key a saved attestation report names. The report's quotes are not verified here
// (verify-report does that).

#include <iosfwd>
#include <string>
#include <vector>

namespace vp::app {

/// `args` are the flags after "verify-signature". Exit: exit_ok when the signature and
/// every given expectation hold, exit_rejected otherwise (including a signature document
/// that is malformed or says it is unavailable, or a report that cannot be read as one),
/// exit_usage for bad flags and unreadable files.
int verify_signature_command(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace vp::app
