#pragma once
// The TLS server side every simulated CVM shares (the model instances and the gateway):
// a certificate chain and key loaded into a server context that speaks TLS 1.2+ and
// selects http/1.1 by ALPN, as NEAR's in-CVM nginx does.

#include <boost/asio/ssl/context.hpp>

#include "sim/deployment.hpp"

namespace vp::sim {

/// A TLS identity ready to serve. Throws std::runtime_error / boost::system::system_error
/// if OpenSSL refuses the key or certificate (the simulator's own, trusted inputs).
struct live_identity {
  tls_identity id;
  boost::asio::ssl::context context{boost::asio::ssl::context::tls_server};

  explicit live_identity(tls_identity identity);
};

}  // namespace vp::sim
