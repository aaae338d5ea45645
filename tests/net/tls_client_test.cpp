// net::make_tls_client_context without sockets: the settings every outgoing TLS connection
// shares, and the startup errors for unusable options.

#include "net/tls_client.hpp"

#include <gtest/gtest.h>

#include <boost/asio/ssl/context.hpp>

#include <openssl/ssl.h>

#include <stdexcept>
#include <string>

namespace vp::net {
namespace {

TEST(TlsClientContext, Tls12MinimumAndNoRenegotiationWithAndWithoutWebPki) {
  for (const bool webpki : {true, false}) {
    const auto ctx = make_tls_client_context(tls_client_options{webpki, {}}, "test", system_trust_loading::deferred);
    SSL_CTX* native = ctx->native_handle();
    EXPECT_EQ(::SSL_CTX_get_min_proto_version(native), TLS1_2_VERSION) << webpki;
    EXPECT_NE(::SSL_CTX_get_options(native) & SSL_OP_NO_RENEGOTIATION, 0u) << webpki;
    EXPECT_EQ(::SSL_CTX_get_verify_mode(native), webpki ? SSL_VERIFY_PEER : SSL_VERIFY_NONE) << webpki;
  }
}

TEST(TlsClientContext, AnUnreadableCaFileIsAConfigurationErrorNamedByTheCaller) {
  try {
    make_tls_client_context(tls_client_options{true, "/nonexistent/vp-ca.pem"}, "upstream TLS");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("upstream TLS: cannot load CA file '/nonexistent/vp-ca.pem': ", 0), 0u)
        << e.what();
  }
}

TEST(TlsClientContext, WithoutWebPkiTheCaFileIsIgnored) {
  EXPECT_NO_THROW(make_tls_client_context(tls_client_options{false, "/nonexistent/vp-ca.pem"}, "test"));
}

}  // namespace
}  // namespace vp::net
