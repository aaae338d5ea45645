#include "sim/tls_server.hpp"

#include <boost/asio/buffer.hpp>

#include <openssl/ssl.h>

#include <stdexcept>
#include <utility>

namespace vp::sim {
namespace {

/// ALPN: select http/1.1 when the client offers it (as NEAR's nginx does).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  static constexpr unsigned char http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (::SSL_select_next_proto(&selected, outlen, http11, sizeof http11, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

live_identity::live_identity(tls_identity identity) : id(std::move(identity)) {
  if (::SSL_CTX_set_min_proto_version(context.native_handle(), TLS1_2_VERSION) != 1) {
    throw std::runtime_error("verified-proxy-sim: cannot set the minimum TLS version");
  }
  context.use_certificate_chain(boost::asio::buffer(id.cert_pem));
  context.use_private_key(boost::asio::buffer(id.key_pem), boost::asio::ssl::context::pem);
  ::SSL_CTX_set_alpn_select_cb(context.native_handle(), select_alpn, nullptr);
}

}  // namespace vp::sim
