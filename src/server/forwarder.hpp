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

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "net/lazy_deadline.hpp"
#include "observe/status_board.hpp"
#include "proxy/error_body.hpp"
#include "proxy/integrity.hpp"
#include "server/client_watches.hpp"
#include "server/proxy_config.hpp"
#include "server/signature_check.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::server {

using client_request = boost::beast::http::request<boost::beast::http::string_body>;

/// What the relay does beyond relaying, for end-to-end integrity: the request's plan (the
/// sealed body, the E2EE fields), and what the answer's signature is checked against.
struct relay_integrity {
  proxy::integrity_plan plan;
  proxy::signature_mode signatures = proxy::signature_mode::check;
  /// The attested identity of the connection's CVM: the signer every signature must be by.
  proxy::backend_identity backend;
  /// The client's Authorization, for the signature lookup.
  std::optional<std::string> authorization;
  std::chrono::milliseconds signature_wait{3000};
  /// Another connection to the same attested key, for a signature lookup after the backend
  /// closed the connection (null: the signature is then unavailable).
  reconnect_fn reconnect;
  /// Fields added to every response head the client gets (the verified backend, X-E2EE),
  /// by names the proxy spells (literals).
  std::vector<std::pair<std::string_view, std::string>> response_fields;
  /// Behind NEAR's gateway (docs/gpu-signatures-e2ee.md §5): `backend` is the attested
  /// model CVM's identity, and this says what else the relay must know.
  struct via_gateway {
    /// The model the request was routed by: the signature lookup names it.
    std::string model;
    /// The attested gateway key, when the gateway's own signatures are acceptable (a
    /// request not sealed end to end); nullopt: only the model's.
    std::optional<proxy::backend_identity> own_signer;
    /// The request pins the model key (X-Model-Pub-Key): a 502 NoPubKeyProvider answer
    /// means no replica holds it any more and the request may go again after a new
    /// attestation.
    bool model_key_pinned = false;
  };
  std::optional<via_gateway> gateway;
};

/// What the relay established about one exchange's integrity.
struct integrity_report {
  std::string e2ee = "none";  ///< the X-E2EE value
  std::size_t fields_opened = 0;
  std::optional<std::string> chat_id;
  /// SHA-256 (hex) of the request body written and of the answer's entity as read.
  std::string request_sha256;
  std::string response_sha256;
  /// nullopt: the signature was not checked (off, not a signed endpoint, not a 2xx answer).
  std::optional<signature_outcome> signature;
};

/// The whole response reached the client.
struct relay_completed {
  unsigned status = 0;
  std::uint64_t body_bytes = 0;
  bool streamed = false;         ///< relayed chunked / close-delimited (SSE, unknown length)
  bool client_reusable = false;  ///< the client connection is positioned for its next request
  integrity_report integrity{};
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
    /// The gateway has no provider for the pinned model key any more (nothing was
    /// generated): resend once after attesting anew, which names the current key.
    after_reattestation,
  };
  proxy::error_response answer;
  resend may_resend = resend::never;
  std::string detail;  ///< why, for the log
  /// Set when the answer was withheld for integrity (a failed decryption or signature).
  std::optional<integrity_report> integrity{};
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
  std::optional<integrity_report> integrity{};
};

using relay_result = std::variant<relay_completed, relay_refused, relay_cut_short>;

/// Sends `request` on `upstream` and relays the response to `client`. Bytes the client
/// sends meanwhile (a pipelined request) stay unread for the caller. `keep_client`:
/// whether the proxy intends to keep the client connection open (false while shutting
/// down). `integrity` (nullptr: relay as is) may seal the request, decrypt the answer
/// and check its signature: for a signed endpoint's 2xx answer every entity byte read is
/// hashed; a JSON answer is held whole (decrypted, and under enforce given only once its
/// signature verified); a stream is decrypted event by event, its `data: [DONE]` withheld
/// under enforce until the signature verified, and its chunked framing ends with an
/// X-Signature-Status trailer. `board` (null: none) counts the body bytes relayed each
/// way and the answers of unknown length (streams) being relayed. `deadline` (null: one
/// of its own) enforces `deadlines` for the exchange; the relay sets its expiry action
/// and leaves it cancelled, without one. The streams' own expiry is left off. `watches`
/// (null: the watch starts with the exchange) defers the client watch (client_watches).
/// Never throws.
boost::asio::awaitable<relay_result> relay(boost::beast::tcp_stream& client, upstream::upstream_connection& upstream,
                                           const client_request& request, const timeouts& deadlines,
                                           bool keep_client, const relay_integrity* integrity = nullptr,
                                           observe::status_board* board = nullptr,
                                           net::lazy_deadline* deadline = nullptr,
                                           client_watches* watches = nullptr);

}  // namespace vp::server
