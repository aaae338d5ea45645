#pragma once
// Relays one client request to a verified upstream connection and streams the answer
// back as it arrives: hop-by-hop fields (RFC 9110 §7.6.1) and X-Backend-Domain
// removed, Host set to the backend's domain, each body read from the backend written to
// the client at once (SSE events are never buffered whole), and a client that goes away
// cancels the upstream request.

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <string>
#include <variant>

#include "proxy/error_body.hpp"
#include "server/proxy_config.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::server {

using client_request = boost::beast::http::request<boost::beast::http::string_body>;

/// The whole response reached the client.
struct relay_completed {
  unsigned status = 0;
  std::uint64_t body_bytes = 0;
  bool streamed = false;         ///< relayed chunked / close-delimited (SSE, unknown length)
  bool client_reusable = false;  ///< the client connection is positioned for its next request
};

/// The backend failed before a byte of the response reached the client: `answer` is what
/// the client gets instead.
struct relay_refused {
  /// Whether the request may go again on a fresh connection.
  enum class resend {
    never,
    /// The backend closed or reset the connection before sending a byte: on a pooled
    /// connection that is the backend having dropped it while idle.
    if_pooled,
    /// The connection was unfit before the request was written (bytes nobody asked for,
    /// Connection: close after the attestation): nothing of the request was sent.
    safe,
  };
  proxy::error_response answer;
  resend may_resend = resend::never;
  std::string detail;  ///< why, for the log
};

/// The exchange ended without a complete response and nothing more can be written to the
/// client: it went away, or the backend failed after the response had started (the client
/// sees it truncated and the connection closed).
struct relay_cut_short {
  enum class cause { upstream_failed, client_gone };
  cause why = cause::upstream_failed;
  unsigned status = 0;  ///< 0 when no response head reached the client
  std::uint64_t body_bytes = 0;
  std::string detail;  ///< why, for the log
};

using relay_result = std::variant<relay_completed, relay_refused, relay_cut_short>;

/// Sends `request` on `upstream` and relays the response to `client`. Bytes the client
/// sends meanwhile (a pipelined request) are appended to `client_buffer`. `keep_client`:
/// whether the proxy intends to keep the client connection open (false while shutting
/// down). Never throws.
boost::asio::awaitable<relay_result> relay(boost::beast::tcp_stream& client, boost::beast::flat_buffer& client_buffer,
                                           upstream::upstream_connection& upstream, const client_request& request,
                                           const timeouts& deadlines, bool keep_client);

}  // namespace vp::server
