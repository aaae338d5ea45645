#pragma once
// Why a TLS handshake failed, in words a person can act on.

#include <boost/system/error_code.hpp>

#include <openssl/ssl.h>

#include <string>

namespace vp::net {

/// "TLS handshake failed: certificate verify failed: <OpenSSL's reason>" when the peer's
/// certificate was being verified and failed ("unable to get local issuer certificate",
/// "hostname mismatch", …: the handshake error alone does not say why), else
/// "TLS handshake failed: <ec>". With verification off a verify result says nothing
/// about the failure, so pass `verifying = false` then.
std::string tls_handshake_failure(SSL* ssl, const boost::system::error_code& ec, bool verifying = true);

}  // namespace vp::net
