#pragma once
// The one TLS client context setup (SSL_CTX) shared by every outgoing TLS connection: the
// upstream backends and the control-plane HTTP client.

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "net/tls_options.hpp"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace vp::net {

/// When the system trust store goes into a context that uses it (options.webpki and no
/// ca_file).
enum class system_trust_loading {
  /// By make_tls_client_context: an unusable store is a startup configuration error.
  at_creation,
  /// By the caller, through load_system_trust(), before the first SSL object is created
  /// from the context: the bundle costs tens of milliseconds to parse, and a client that
  /// may never open a TLS connection should not pay for it.
  deferred,
};

/// TLS 1.2 or later, renegotiation refused, the peer's certificate verified against
/// options.ca_file or the system store (or not at all without options.webpki).
/// Throws std::runtime_error "<error_label>: <cause>" for unusable options (an unreadable
/// or certificate-less ca_file, a system store that does not load): a startup
/// configuration error.
std::shared_ptr<boost::asio::ssl::context> make_tls_client_context(
    const tls_client_options& options, std::string_view error_label,
    system_trust_loading loading = system_trust_loading::at_creation);

/// Loads the system trust store into `context`: nullopt, or why not ("cannot load the
/// system trust store: …"). SSL_CTX is not safe to modify while SSL objects share it: call
/// this before the first one is created from `context`.
std::optional<std::string> load_system_trust(boost::asio::ssl::context& context);

}  // namespace vp::net
