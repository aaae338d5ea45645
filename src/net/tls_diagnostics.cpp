#include "net/tls_diagnostics.hpp"

#include <openssl/x509_vfy.h>

namespace vp::net {

std::string tls_handshake_failure(SSL* ssl, const boost::system::error_code& ec, bool verifying) {
  const long verify = ::SSL_get_verify_result(ssl);
  if (verifying && verify != X509_V_OK) {
    return std::string("TLS handshake failed: certificate verify failed: ") + ::X509_verify_cert_error_string(verify);
  }
  return "TLS handshake failed: " + ec.message();
}

}  // namespace vp::net
