#include "sim/tls_server.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <openssl/ssl.h>

#include <stdexcept>
#include <utility>

namespace vp::sim {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

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

std::string path_of(std::string_view target) { return std::string(target.substr(0, target.find('?'))); }

std::optional<std::string> header_value(const sim_request& request, std::string_view name) {
  const auto it = request.find(name);
  if (it == request.end()) return std::nullopt;
  return std::string(it->value());
}

e2ee_headers e2ee_headers_of(const sim_request& request) {
  return {header_value(request, "X-Signing-Algo"), header_value(request, "X-Client-Pub-Key"),
          header_value(request, "X-Encryption-Version"), header_value(request, "X-Encrypt-All-Fields")};
}

asio::awaitable<void> accept_connections(tcp::acceptor acceptor, std::function<void(tcp::socket)> on_connection) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      continue;
    }
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    on_connection(std::move(socket));
  }
}

asio::awaitable<bool> accept_handshake(tls_stream& stream) {
  boost::beast::get_lowest_layer(stream).expires_after(tls_handshake_timeout);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

asio::awaitable<bool> write_stream_head(tls_stream& stream, http::response<http::empty_body> head, bool keep_alive) {
  head.set(http::field::cache_control, "no-cache");
  head.keep_alive(keep_alive);
  head.chunked(true);
  http::response_serializer<http::empty_body> serializer{head};
  auto [ec, n] = co_await http::async_write_header(stream, serializer, asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

asio::awaitable<bool> write_chunk(tls_stream& stream, std::string_view bytes) {
  const auto chunk = http::make_chunk(asio::buffer(bytes));
  auto [ec, n] = co_await asio::async_write(stream, chunk, asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

asio::awaitable<bool> write_last_chunk(tls_stream& stream, std::string trailer_fields) {
  const std::string last_chunk = "0\r\n" + trailer_fields + "\r\n";
  auto [ec, n] = co_await asio::async_write(stream, asio::buffer(last_chunk), asio::as_tuple(asio::use_awaitable));
  co_return !ec;
}

asio::awaitable<void> close_gracefully(tls_stream& stream) {
  auto& lowest = boost::beast::get_lowest_layer(stream);
  lowest.expires_after(std::chrono::seconds(1));
  [[maybe_unused]] auto [ec] = co_await stream.async_shutdown(asio::as_tuple(asio::use_awaitable));
  boost::system::error_code ignored;
  lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
  lowest.close();
}

}  // namespace vp::sim
