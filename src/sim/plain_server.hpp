#pragma once
// A plain-HTTP/1.1 server on 127.0.0.1 for the simulator's control plane (the PCCS and
// the /endpoints list): keep-alive, one handler call per request, Connection: close
// honoured. It runs on the io_context it is given; the acceptor and every connection
// live in coroutines, so destroying the io_context closes them all.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstdint>
#include <functional>

namespace vp::sim {

using plain_request = boost::beast::http::request<boost::beast::http::string_body>;
using plain_response = boost::beast::http::response<boost::beast::http::string_body>;
/// Builds the answer to one request (runs on the io_context's thread; must not throw).
using plain_handler = std::function<plain_response(const plain_request&)>;

/// Binds 127.0.0.1:`port` (0 = ephemeral), starts accepting on `ioc` and returns the
/// bound port. Throws std::runtime_error naming the address if the port cannot be bound.
std::uint16_t start_plain_server(boost::asio::io_context& ioc, std::uint16_t port, plain_handler handler);

/// A listening acceptor on 127.0.0.1:`port` (0 = ephemeral). Throws std::runtime_error
/// ("cannot listen on 127.0.0.1:8443: Address already in use").
boost::asio::ip::tcp::acceptor listen_on_loopback(boost::asio::io_context& ioc, std::uint16_t port);

/// A response with `status`, Content-Type and body (Content-Length set).
plain_response make_plain_response(unsigned status, std::string content_type, std::string body);

}  // namespace vp::sim
