#include "net/tls_client.hpp"

#include <boost/asio/ssl/context.hpp>

#include <openssl/ssl.h>

#include <stdexcept>

namespace vp::net {

namespace ssl = boost::asio::ssl;
using boost::system::error_code;

std::shared_ptr<ssl::context> make_tls_client_context(const tls_client_options& options,
                                                      std::string_view error_label,
                                                      system_trust_loading loading) {
  const auto configuration_error = [&](const std::string& cause) {
    return std::runtime_error(std::string(error_label) + ": " + cause);
  };
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  if (::SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
    throw configuration_error("cannot require TLS 1.2 or later");
  }
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_compression);
  // The certificate checked in the handshake (by WebPKI, or by an attestation that binds
  // its key) must stay the peer's for the whole session: a TLS 1.2 renegotiation
  // (RFC 5246 §7.4.1.1) lets the server present another certificate, and another key, on
  // the same connection. RFC 5746 only binds the new handshake to the old one; it does not
  // keep the certificate. Renegotiation is therefore refused outright (the client answers
  // a HelloRequest with a no_renegotiation alert). TLS 1.3 has no renegotiation, but
  // requiring it would cut off TLS 1.2-only servers, so TLS 1.2 stays allowed.
  ::SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
  if (!options.webpki) {
    ctx->set_verify_mode(ssl::verify_none);
    return ctx;
  }
  ctx->set_verify_mode(ssl::verify_peer);
  if (!options.ca_file.empty()) {
    error_code ec;
    // A file without a single certificate also fails here (OpenSSL reports "no
    // certificate or CRL found"), so a wrong path or format surfaces at startup.
    ctx->load_verify_file(options.ca_file, ec);
    if (ec) throw configuration_error("cannot load CA file '" + options.ca_file + "': " + ec.message());
  } else if (loading == system_trust_loading::at_creation) {
    if (auto failure = load_system_trust(*ctx)) throw configuration_error(*failure);
  }
  return ctx;
}

std::optional<std::string> load_system_trust(ssl::context& context) {
  error_code ec;
  context.set_default_verify_paths(ec);
  if (ec) return "cannot load the system trust store: " + ec.message();
  return std::nullopt;
}

}  // namespace vp::net
