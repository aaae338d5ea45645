#include "support/http_test_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/object.hpp>

#include <algorithm>
#include <array>

#include "support/test_http_server.hpp"

namespace vp::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::optional<std::string_view> client_response::header(std::string_view name) const {
  return find_header(headers, name);
}

std::optional<std::string_view> client_response::trailer(std::string_view name) const {
  return find_header(trailers, name);
}

struct http_test_client::impl {
  std::uint16_t port;
  std::chrono::milliseconds timeout;
  asio::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  bool ensure(std::string& error) {
    if (stream && stream->socket().is_open()) return true;
    stream.emplace(ioc);
    buffer.clear();
    boost::system::error_code ec;
    stream->expires_after(timeout);
    stream->connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    if (ec) {
      error = "connect: " + ec.message();
      stream.reset();
      return false;
    }
    return true;
  }

  /// `head_request`: the answer to a HEAD request, which has no body whatever its Content-Length.
  client_response read_response(std::optional<std::size_t> stop_after, bool head_request = false) {
    client_response out;
    boost::system::error_code ec;
    http::response_parser<http::buffer_body> parser;
    parser.body_limit(boost::none);
    parser.skip(head_request);
    stream->expires_after(timeout);
    http::read_header(*stream, buffer, parser, ec);
    if (ec) {
      out.error = "reading headers: " + ec.message();
      close();
      return out;
    }
    const auto& head = parser.get();
    out.status = head.result_int();
    for (const auto& f : head) out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    std::array<char, 8192> chunk{};
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      stream->expires_after(timeout);
      http::read_some(*stream, buffer, parser, ec);
      if (ec == http::error::need_buffer) ec = {};
      const std::size_t got = chunk.size() - parser.get().body().size;
      if (got > 0) {
        out.body.append(chunk.data(), got);
        out.pieces.emplace_back(std::chrono::steady_clock::now(), std::string(chunk.data(), got));
      }
      if (ec) {
        out.error = "reading body: " + ec.message();
        close();
        return out;
      }
      if (stop_after && out.pieces.size() >= *stop_after) {
        close();
        return out;
      }
    }
    out.complete = true;
    // Beast appends a chunked body's trailer fields to the message after its header fields.
    std::size_t index = 0;
    for (const auto& f : parser.get()) {
      if (index++ >= out.headers.size()) {
        out.trailers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
    }
    out.keep_alive = parser.get().keep_alive();
    if (!out.keep_alive) close();
    return out;
  }

  void close() {
    if (stream) {
      boost::system::error_code ec;
      stream->socket().shutdown(tcp::socket::shutdown_both, ec);
      stream->socket().close(ec);
      stream.reset();
    }
  }
};

http_test_client::http_test_client(std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<impl>()) {
  impl_->port = port;
  impl_->timeout = timeout;
}

http_test_client::~http_test_client() { impl_->close(); }

client_response http_test_client::send(const client_request& request, std::optional<std::size_t> stop_after_pieces) {
  client_response out;
  if (!impl_->ensure(out.error)) return out;
  http::request<http::string_body> req;
  req.version(11);
  req.method_string(request.method);
  req.target(request.target);
  req.set(http::field::host, "127.0.0.1:" + std::to_string(impl_->port));
  for (const auto& [n, v] : request.headers) req.insert(n, v);
  req.body() = request.body;
  if (!request.body.empty() || request.method == "POST") req.prepare_payload();
  boost::system::error_code ec;
  impl_->stream->expires_after(impl_->timeout);
  http::write(*impl_->stream, req, ec);
  if (ec) {
    out.error = "writing: " + ec.message();
    impl_->close();
    return out;
  }
  return impl_->read_response(stop_after_pieces, request.method == "HEAD");
}

client_response http_test_client::send_raw(std::string_view bytes) {
  client_response out;
  if (!impl_->ensure(out.error)) return out;
  boost::system::error_code ec;
  impl_->stream->expires_after(impl_->timeout);
  asio::write(*impl_->stream, asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec) {
    out.error = "writing: " + ec.message();
    impl_->close();
    return out;
  }
  return impl_->read_response(std::nullopt);
}

std::string http_test_client::write_raw(std::string_view bytes) {
  std::string error;
  if (!impl_->ensure(error)) return error;
  boost::system::error_code ec;
  impl_->stream->expires_after(impl_->timeout);
  asio::write(*impl_->stream, asio::buffer(bytes.data(), bytes.size()), ec);
  if (ec) return "writing: " + ec.message();
  return {};
}

client_response http_test_client::read_response() {
  client_response out;
  if (!connected()) {
    out.error = "not connected";
    return out;
  }
  return impl_->read_response(std::nullopt);
}

bool http_test_client::closed_by_peer(std::chrono::milliseconds within) {
  if (!impl_->stream) return true;
  std::array<char, 1> byte{};
  std::optional<boost::system::error_code> result;
  impl_->stream->socket().async_read_some(asio::buffer(byte),
                                          [&](const boost::system::error_code& ec, std::size_t) { result = ec; });
  impl_->ioc.restart();
  impl_->ioc.run_for(within);
  if (!result) {
    impl_->stream->socket().cancel();
    impl_->ioc.restart();
    impl_->ioc.run();
    return false;
  }
  const bool closed = *result == asio::error::eof || *result == asio::error::connection_reset;
  if (closed) impl_->close();
  return closed;
}

bool http_test_client::connected() const { return impl_->stream && impl_->stream->socket().is_open(); }
void http_test_client::close() { impl_->close(); }

client_response http_exchange(std::uint16_t port, const client_request& request) {
  http_test_client client(port);
  return client.send(request);
}

client_request chat_request(std::string_view model, bool stream, std::string_view prompt) {
  boost::json::object body;
  body["model"] = model;
  body["stream"] = stream;
  boost::json::array messages;
  boost::json::object m;
  m["role"] = "user";
  m["content"] = prompt;
  messages.push_back(std::move(m));
  body["messages"] = std::move(messages);
  client_request r;
  r.method = "POST";
  r.target = "/v1/chat/completions";
  r.headers = {{"Authorization", "Bearer sk-test-secret"}, {"Content-Type", "application/json"}};
  r.body = boost::json::serialize(body);
  return r;
}

}  // namespace vp::test
