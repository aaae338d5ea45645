#include "server/forwarder.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include <exception>
#include <memory>
#include <vector>

#include "net/bounded_parser.hpp"
#include "net/http_read.hpp"
#include "net/spawn.hpp"
#include "proxy/forwarding.hpp"

namespace vp::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

namespace {

constexpr std::size_t relay_chunk = 16 * 1024;

std::vector<std::string> tokens_of(const http::fields& fields) {
  std::vector<std::string> tokens;
  for (const auto& f : fields) {
    if (f.name() == http::field::connection) {
      auto t = proxy::connection_tokens(std::string_view(f.value().data(), f.value().size()));
      tokens.insert(tokens.end(), t.begin(), t.end());
    }
  }
  return tokens;
}

/// Copies the fields of `from` that `forward(name, connection tokens)` lets through, in
/// order, names as received.
void copy_fields(const http::fields& from, http::fields& to,
                 bool (*forward)(std::string_view name, const std::vector<std::string>& tokens)) {
  const auto tokens = tokens_of(from);
  for (const auto& f : from) {
    if (forward(std::string_view(f.name_string().data(), f.name_string().size()), tokens)) {
      to.insert(f.name_string(), f.value());
    }
  }
}

/// The request as the backend receives it: the client's method, target, end-to-end
/// fields and body; Host = the backend's domain; framing recomputed. The body is a view of
/// the client's (never a copy: request bodies are the largest thing the proxy holds).
using outgoing_request = http::request<http::span_body<const char>>;
outgoing_request upstream_request(const client_request& in, const upstream::upstream_connection& up) {
  outgoing_request out;
  out.version(11);
  if (in.method() == http::verb::unknown) {
    out.method_string(in.method_string());
  } else {
    out.method(in.method());
  }
  out.target(in.target());
  copy_fields(in.base(), out.base(), proxy::forward_request_field);
  out.set(http::field::host, up.host_header());
  out.body() = boost::span<const char>(in.body().data(), in.body().size());
  const bool body_method =
      in.method() == http::verb::post || in.method() == http::verb::put || in.method() == http::verb::patch;
  if (!in.body().empty() || body_method) out.content_length(in.body().size());
  out.keep_alive(true);
  return out;
}

bool is_timeout(const error_code& ec) { return ec == beast::error::timeout; }

/// The peer closed (or reset) the connection without a byte of response.
bool is_closed_before_response(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated;
}

/// Watches the client while the backend answers: a read that fails means the client is
/// gone, so the upstream request is cancelled (nothing reads the answer, and a paid
/// generation should not run on). Bytes that do arrive (a pipelined request) are kept.
struct client_watch {
  explicit client_watch(asio::any_io_executor ex) : done_signal(ex, steady::time_point::max()) {}
  asio::steady_timer done_signal;
  bool done = false;
  bool client_gone = false;
};

void start_watch(beast::tcp_stream& client, beast::flat_buffer& buffer, upstream::upstream_connection& up,
                 const std::shared_ptr<client_watch>& watch) {
  client.expires_never();
  // A client that has already pipelined a full read buffer is not watched further: its
  // bytes wait in the kernel until the response is done.
  const std::size_t room = std::min<std::size_t>(4096, buffer.max_size() - buffer.size());
  if (room == 0) {
    watch->done = true;
    return;
  }
  net::spawn_logged(
      client.get_executor(),
      [&client, &buffer, &up, watch, room]() -> asio::awaitable<void> {
        // Released on every exit, so stop_watch never waits for a watcher that died.
        struct release {
          client_watch& w;
          ~release() {
            w.done = true;
            w.done_signal.cancel();
          }
        } released{*watch};
        auto [ec, n] = co_await client.async_read_some(buffer.prepare(room), asio::as_tuple(asio::use_awaitable));
        if (!ec) {
          buffer.commit(n);
        } else if (ec != asio::error::operation_aborted) {
          watch->client_gone = true;
          up.mark_not_reusable();
          beast::get_lowest_layer(up.stream()).cancel();
        }
      },
      "client watch");
}

asio::awaitable<void> stop_watch(beast::tcp_stream& client, const std::shared_ptr<client_watch>& watch) {
  if (!watch->done) client.socket().cancel();
  while (!watch->done) co_await watch->done_signal.async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<relay_result> relay_impl(beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                                         upstream::upstream_connection& up, const client_request& request,
                                         const timeouts& deadlines, bool keep_client) {
  const auto tuple = asio::as_tuple(asio::use_awaitable);
  relay_result out;
  auto& up_tcp = beast::get_lowest_layer(up.stream());
  const auto fail_before = [&](proxy::error_response response, std::string detail, bool stale = false) {
    up.mark_not_reusable();
    out.result = relay_result::outcome::upstream_failed;
    out.error = std::move(response);
    out.detail = std::move(detail);
    out.stale_connection = stale;
    return out;
  };
  // The client went away (or stopped reading): the upstream connection carries an
  // unfinished exchange and must not be reused.
  const auto client_gone = [&](std::string detail) {
    up.mark_not_reusable();
    out.result = relay_result::outcome::client_gone;
    out.detail = std::move(detail);
    return out;
  };

  // 1. The request, only on a connection fit to carry it: one the attestation left unfit
  // (bytes nobody asked for after its answer, or Connection: close) would hand the
  // request's response slot to whatever it holds.
  if (!up.reusable()) {
    out.request_unsent = true;
    co_return fail_before(proxy::backend_unreachable(up.host() + " left the connection unusable before the request"),
                          "connection unusable before the request was written");
  }
  // Its deadline is part of the response-headers phase.
  auto outgoing = upstream_request(request, up);
  up_tcp.expires_after(deadlines.response_headers);
  if (auto [ec, n] = co_await http::async_write(up.stream(), outgoing, tuple); ec) {
    if (is_timeout(ec)) {
      co_return fail_before(
          proxy::gateway_timeout("response_headers", "sending the request to " + up.host() + " timed out"),
          "request write timed out");
    }
    co_return fail_before(
        proxy::backend_unreachable("sending the request to " + up.host() + " failed: " + ec.message()),
        "request write failed: " + ec.message(), is_closed_before_response(ec));
  }

  auto watch = std::make_shared<client_watch>(client.get_executor());
  start_watch(client, client_buffer, up, watch);

  // 2. Status line and headers (interim 1xx answers are consumed here).
  std::optional<net::bounded_response_parser<http::buffer_body>> parser;
  const auto prepare = [&](net::bounded_response_parser<http::buffer_body>& p) {
    p.body_limit(boost::none);
    if (request.method() == http::verb::head) p.skip(true);
    up_tcp.expires_after(deadlines.response_headers);
  };
  const auto reading =
      co_await net::read_final_response<net::read_scope::header>(up.stream(), up.buffer(), parser, prepare);
  if (reading.ec) {
    co_await stop_watch(client, watch);
    if (watch->client_gone) co_return client_gone("client closed the connection while waiting for the response");
    if (is_timeout(reading.ec)) {
      co_return fail_before(
          proxy::gateway_timeout("response_headers", up.host() + " sent no response headers within " +
                                                         std::to_string(deadlines.response_headers.count()) + " ms"),
          "response headers timed out");
    }
    const bool stale = is_closed_before_response(reading.ec) && up.buffer().size() == 0;
    const std::string cause = reading.ec.message();
    co_return fail_before(
        proxy::backend_unreachable(up.host() + " closed the connection without a valid response: " + cause),
        "reading response headers failed: " + cause, stale);
  }
  if (reading.too_many_interim) {
    co_await stop_watch(client, watch);
    co_return fail_before(proxy::backend_unreachable(up.host() + " sent too many interim responses"), "interim flood");
  }
  if (parser->get().result_int() == 101) {
    co_await stop_watch(client, watch);
    co_return fail_before(proxy::backend_unreachable(up.host() + " switched protocols, which the proxy does not relay"),
                          "101 switching protocols");
  }

  auto& upstream_head = parser->get();
  out.status = upstream_head.result_int();
  const bool body_forbidden = request.method() == http::verb::head || out.status == 204 || out.status == 304;
  enum class framing { none, length, chunked, close } mode = framing::none;
  http::response<http::empty_body> head;
  head.version(request.version() == 10 ? 10 : 11);
  head.result(upstream_head.result_int());
  head.reason(upstream_head.reason());
  copy_fields(upstream_head.base(), head.base(), proxy::forward_response_field);
  if (body_forbidden) {
    // A HEAD answer's Content-Length describes the GET body: pass it on unchanged.
    if (auto cl = upstream_head.find(http::field::content_length); cl != upstream_head.end()) {
      head.set(http::field::content_length, cl->value());
    }
  } else if (const auto length = parser->content_length()) {
    head.content_length(*length);
    mode = framing::length;
  } else if (head.version() == 11) {
    head.chunked(true);
    mode = framing::chunked;
  } else {
    mode = framing::close;  // an HTTP/1.0 client reads to the end of the connection
  }
  const bool client_keeps = keep_client && request.keep_alive() && mode != framing::close;
  head.keep_alive(client_keeps);
  out.streamed = mode == framing::chunked || mode == framing::close;

  // 3. Headers to the client. From here on, failures can only cut the response short.
  const auto client_failed = [&](const error_code& ec) {
    return client_gone("writing to the client failed: " + ec.message());
  };
  {
    http::response_serializer<http::empty_body> serializer(head);
    client.expires_after(deadlines.idle);
    auto [ec, n] = co_await http::async_write_header(client, serializer, tuple);
    client.expires_never();
    out.response_started = true;
    if (ec) {
      co_await stop_watch(client, watch);
      co_return client_failed(ec);
    }
  }

  // 4. The body, each read written out at once.
  std::array<char, relay_chunk> chunk{};
  while (!parser->is_done()) {
    parser->get().body().data = chunk.data();
    parser->get().body().size = chunk.size();
    up_tcp.expires_after(deadlines.idle);
    auto [ec, n] = co_await http::async_read_some(up.stream(), up.buffer(), *parser, tuple);
    if (ec == http::error::need_buffer) ec = {};
    // Servers often end a close-delimited body without TLS close_notify.
    if (ec == asio::ssl::error::stream_truncated && mode == framing::close) ec = {};
    const std::size_t got = chunk.size() - parser->get().body().size;
    if (got > 0) {
      out.body_bytes += got;
      client.expires_after(deadlines.idle);
      error_code wec;
      if (mode == framing::chunked) {
        std::tie(wec, std::ignore) =
            co_await asio::async_write(client, http::make_chunk(asio::buffer(chunk.data(), got)), tuple);
      } else {
        std::tie(wec, std::ignore) = co_await asio::async_write(client, asio::buffer(chunk.data(), got), tuple);
      }
      client.expires_never();
      if (wec) {
        co_await stop_watch(client, watch);
        co_return client_failed(wec);
      }
    }
    if (ec) {
      co_await stop_watch(client, watch);
      // Either way the client sees a truncated response and a closed connection.
      if (watch->client_gone) {
        co_return client_gone("client closed the connection mid-response; upstream request cancelled");
      }
      up.mark_not_reusable();
      out.result = relay_result::outcome::upstream_failed;
      out.detail = is_timeout(ec) ? "backend idle for " + std::to_string(deadlines.idle.count()) + " ms mid-response"
                                  : "backend failed mid-response: " +
                                        (parser->violation() ? parser->violation()->reason : ec.message());
      co_return out;
    }
  }
  if (mode == framing::chunked) {
    client.expires_after(deadlines.idle);
    auto [ec, n] = co_await asio::async_write(client, http::make_chunk_last(), tuple);
    client.expires_never();
    if (ec) {
      co_await stop_watch(client, watch);
      co_return client_failed(ec);
    }
  }
  up_tcp.expires_never();
  co_await stop_watch(client, watch);
  if (watch->client_gone) co_return client_gone("client closed the connection after the response");
  if (!upstream_head.keep_alive()) up.mark_not_reusable();
  out.result = relay_result::outcome::completed;
  out.client_reusable = client_keeps;
  co_return out;
}

}  // namespace

asio::awaitable<relay_result> relay(beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                                    upstream::upstream_connection& upstream, const client_request& request,
                                    const timeouts& deadlines, bool keep_client) {
  std::string unexpected;
  try {
    co_return co_await relay_impl(client, client_buffer, upstream, request, deadlines, keep_client);
  } catch (const std::exception& e) {
    unexpected = e.what();
  } catch (...) {
    unexpected = "unknown exception";
  }
  upstream.mark_not_reusable();
  relay_result out;
  out.result = relay_result::outcome::upstream_failed;
  // Unknown progress: treat the response as started so that the client connection is
  // closed rather than sent an error in the middle of a response.
  out.response_started = true;
  out.error = proxy::backend_unreachable("relaying to " + upstream.host() + " failed unexpectedly");
  out.detail = "unexpected failure: " + unexpected;
  co_return out;
}

}  // namespace vp::server
