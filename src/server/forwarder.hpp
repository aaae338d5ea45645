#pragma once
// Relays one client request to a verified upstream connection and streams the answer
// back as it arrives (issue #5 "Forwarding"): hop-by-hop fields and X-Backend-Domain
// removed, Host set to the backend's domain, each body read from the backend written to
// the client at once (SSE events are never buffered whole), and a client that goes away
// cancels the upstream request.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "proxy/error_body.hpp"
#include "server/proxy_config.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::server {

using client_request = boost::beast::http::request<boost::beast::http::string_body>;

struct relay_result {
  enum class outcome {
    completed,        ///< the whole response reached the client
    upstream_failed,  ///< the backend failed (before or during the response)
    client_gone,      ///< the client closed or stopped reading; the upstream request was cancelled
  };
  outcome result = outcome::completed;
  /// Whether any byte of the response was written to the client. When false and the
  /// relay failed, `error` is the answer to give the client instead.
  bool response_started = false;
  std::optional<proxy::error_response> error;
  /// The backend closed or reset the connection before sending a byte (a pooled
  /// connection the backend had already dropped): the request may be sent again on a
  /// fresh connection.
  bool stale_connection = false;
  /// The connection was unusable before the request was written (not reusable: bytes
  /// nobody asked for after the attestation answer, Connection: close); nothing of the
  /// request was sent, so it may go on another connection.
  bool request_unsent = false;
  unsigned status = 0;
  std::uint64_t body_bytes = 0;
  bool streamed = false;  ///< relayed chunked / close-delimited (SSE, unknown length)
  /// The client connection is positioned for its next request.
  bool client_reusable = false;
  std::string detail;  ///< why it failed, for the log
};

/// Sends `request` on `upstream` and relays the response to `client`. Bytes the client
/// sends meanwhile (a pipelined request) are appended to `client_buffer`. `keep_client`:
/// whether the proxy intends to keep the client connection open (false while shutting
/// down). Never throws.
boost::asio::awaitable<relay_result> relay(boost::beast::tcp_stream& client, boost::beast::flat_buffer& client_buffer,
                                           upstream::upstream_connection& upstream, const client_request& request,
                                           const timeouts& deadlines, bool keep_client);

}  // namespace vp::server
