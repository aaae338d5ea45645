#include "sim/plain_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "net/bounded_parser.hpp"
#include "net/spawn.hpp"

namespace vp::sim {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

/// Idle keep-alive connections are dropped after this long.
constexpr auto idle_timeout = 120s;

asio::awaitable<void> serve_connection(tcp::socket socket, std::shared_ptr<const plain_handler> handler) {
  const auto tuple = asio::as_tuple(asio::use_awaitable);
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer{net::max_read_buffer_bytes};
  for (;;) {
    stream.expires_after(idle_timeout);
    net::bounded_request_parser<plain_request::body_type> parser;
    if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple); ec) co_return;
    const plain_request request = parser.release();
    plain_response response = (*handler)(request);
    response.version(request.version());
    response.keep_alive(request.keep_alive());
    response.set(http::field::server, "verified-proxy-sim");
    response.prepare_payload();
    if (auto [ec, n] = co_await http::async_write(stream, response, tuple); ec) co_return;
    if (!request.keep_alive()) {
      boost::system::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
      co_return;
    }
  }
}

asio::awaitable<void> serve(tcp::socket socket, std::shared_ptr<const plain_handler> handler) {
  try {
    co_await serve_connection(std::move(socket), std::move(handler));
  } catch (const std::exception&) {
    // One broken connection (or a handler failure) must not take the server thread down.
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor acceptor, std::shared_ptr<const plain_handler> handler) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    net::spawn_logged(acceptor.get_executor(), serve(std::move(socket), handler), "simulator HTTP session");
  }
}

}  // namespace

tcp::acceptor listen_on_loopback(asio::io_context& ioc, std::uint16_t port) {
  tcp::acceptor acceptor(ioc);
  const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
  // Error codes rather than Asio's exceptions, whose what() ends in a Boost source location.
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on 127.0.0.1:" + std::to_string(port) + ": " + ec.message());
  return acceptor;
}

std::uint16_t start_plain_server(asio::io_context& ioc, std::uint16_t port, plain_handler handler) {
  tcp::acceptor acceptor = listen_on_loopback(ioc, port);
  const std::uint16_t bound = acceptor.local_endpoint().port();
  net::spawn_logged(ioc, accept_loop(std::move(acceptor), std::make_shared<const plain_handler>(std::move(handler))),
                 "simulator HTTP accept loop");
  return bound;
}

plain_response make_plain_response(unsigned status, std::string content_type, std::string body) {
  plain_response r;
  r.version(11);
  r.result(status);
  r.set(http::field::content_type, content_type);
  r.body() = std::move(body);
  return r;
}

}  // namespace vp::sim
