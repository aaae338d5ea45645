#pragma once
// The TLS server side every simulated CVM shares (the model instances and the gateway):
// a certificate chain and key loaded into a server context that speaks TLS 1.2+ and
// selects http/1.1 by ALPN, as NEAR's in-CVM nginx does; and the HTTP/1.1 serving both
// servers do alike (accepting, the handshake, bounded request reads, SSE framing, closing).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "net/bounded_parser.hpp"
#include "sim/deployment.hpp"
#include "sim/e2ee_server.hpp"

namespace vp::sim {

/// A TLS identity ready to serve. Throws std::runtime_error / boost::system::system_error
/// if OpenSSL refuses the key or certificate (the simulator's own, trusted inputs).
struct live_identity {
  tls_identity id;
  boost::asio::ssl::context context{boost::asio::ssl::context::tls_server};

  explicit live_identity(tls_identity identity);
};

using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
using sim_request = boost::beast::http::request<boost::beast::http::string_body>;

inline constexpr auto tls_handshake_timeout = std::chrono::seconds(10);
/// Idle keep-alive connections are dropped after this long.
inline constexpr auto keep_alive_idle_timeout = std::chrono::seconds(300);
inline constexpr std::size_t max_request_body = 64u << 20;
inline constexpr std::string_view attestation_path = "/v1/attestation/report";
inline constexpr std::string_view signature_path_prefix = "/v1/signature/";

/// The path of a request target (the query cut off).
std::string path_of(std::string_view target);

std::optional<std::string> header_value(const sim_request& request, std::string_view name);

/// The §4.1 E2EE header fields of `request`, as parse_e2ee_headers takes them.
e2ee_headers e2ee_headers_of(const sim_request& request);

/// Accepts on `acceptor` until it is closed, handing every connection (TCP_NODELAY set,
/// like production servers' nginx tcp_nodelay, so that SSE events leave at once) to
/// `on_connection`, which starts its session.
boost::asio::awaitable<void> accept_connections(boost::asio::ip::tcp::acceptor acceptor,
                                                std::function<void(boost::asio::ip::tcp::socket)> on_connection);

/// The server side of the TLS handshake, bounded by tls_handshake_timeout. False when it
/// failed (e.g. the client rejected the certificate).
boost::asio::awaitable<bool> accept_handshake(tls_stream& stream);

/// The next request on `stream` (through `buffer`, any DynamicBuffer), waiting at most
/// keep_alive_idle_timeout for it and bounded by max_request_body; nullopt when the
/// connection ended or sent no valid request.
template <class DynamicBuffer>
boost::asio::awaitable<std::optional<sim_request>> read_request(tls_stream& stream, DynamicBuffer& buffer) {
  boost::beast::get_lowest_layer(stream).expires_after(keep_alive_idle_timeout);
  net::bounded_request_parser<boost::beast::http::string_body> parser;
  parser.body_limit(max_request_body);
  auto [ec, n] = co_await boost::beast::http::async_read(stream, buffer, parser,
                                                        boost::asio::as_tuple(boost::asio::use_awaitable));
  if (ec) co_return std::nullopt;
  boost::beast::get_lowest_layer(stream).expires_never();
  co_return parser.release();
}

/// Sends `head` (status and content fields set) as the header of an SSE stream: chunked,
/// not cached. False when the connection is gone.
boost::asio::awaitable<bool> write_stream_head(tls_stream& stream,
                                               boost::beast::http::response<boost::beast::http::empty_body> head,
                                               bool keep_alive);

/// One chunk of a chunked body. False when the connection is gone.
boost::asio::awaitable<bool> write_chunk(tls_stream& stream, std::string_view bytes);

/// The last chunk of a chunked body, with `trailer_fields` (each "Name: value\r\n").
/// False when the connection is gone.
boost::asio::awaitable<bool> write_last_chunk(tls_stream& stream, std::string trailer_fields);

/// TLS close_notify (waiting at most a second for the peer's), then the TCP close.
boost::asio::awaitable<void> close_gracefully(tls_stream& stream);

/// A copy of `member` of `owner`, read under `owner.mutex` (the servers' thread-safe accessors).
template <class Owner, class Member>
Member read_locked(const Owner& owner, Member Owner::*member) {
  const std::lock_guard lock(owner.mutex);
  return owner.*member;
}

}  // namespace vp::sim
