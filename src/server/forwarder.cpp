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
#include <optional>
#include <variant>
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
          // The backend is told at once (it stops generating), and the exchange's upstream
          // read ends now or as soon as it next touches the socket: a cancel() alone is
          // lost when the TLS read is between two socket operations (it has just consumed
          // a session ticket, say) and issues its next one afterwards.
          auto& up_socket = beast::get_lowest_layer(up.stream()).socket();
          boost::system::error_code ignored;
          up_socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
          up_socket.cancel(ignored);
        }
      },
      "client watch");
}

asio::awaitable<void> stop_watch(beast::tcp_stream& client, const std::shared_ptr<client_watch>& watch) {
  if (!watch->done) client.socket().cancel();
  while (!watch->done) co_await watch->done_signal.async_wait(asio::as_tuple(asio::use_awaitable));
}

/// How the response body is framed towards the client.
enum class framing {
  none,     ///< no body (HEAD, 204, 304)
  length,   ///< Content-Length, as the backend declared it
  chunked,  ///< re-framed chunked: the length is not known ahead (SSE)
  close,    ///< an HTTP/1.0 client reads to the end of the connection
};

/// One request's exchange, in the order it happens: send the request, read the response
/// head, write the head to the client, relay the body. Each stage either hands over to the
/// next or ends the exchange with its relay_result.
class exchange {
 public:
  exchange(beast::tcp_stream& client, beast::flat_buffer& client_buffer, upstream::upstream_connection& up,
           const client_request& request, const timeouts& deadlines, bool keep_client)
      : client_(client),
        client_buffer_(client_buffer),
        up_(up),
        up_tcp_(beast::get_lowest_layer(up.stream())),
        request_(request),
        deadlines_(deadlines),
        keep_client_(keep_client) {}

  asio::awaitable<relay_result> run() {
    if (auto refused = co_await send_request()) co_return std::move(*refused);
    watch_ = std::make_shared<client_watch>(client_.get_executor());
    start_watch(client_, client_buffer_, up_, watch_);
    if (auto ended = co_await read_head()) co_return co_await after_watch(std::move(*ended));
    if (auto ended = co_await write_head()) co_return co_await after_watch(std::move(*ended));
    auto ended = co_await relay_body();
    co_return co_await after_watch(std::move(ended));
  }

 private:
  using response_parser = net::bounded_response_parser<http::buffer_body>;

  relay_result refused(proxy::error_response answer, std::string detail,
                       relay_refused::resend may_resend = relay_refused::resend::never) {
    up_.mark_not_reusable();
    return relay_refused{std::move(answer), may_resend, std::move(detail)};
  }

  /// The upstream connection carries an unfinished exchange: never reused.
  relay_result cut_short(relay_cut_short::cause why, std::string detail) {
    up_.mark_not_reusable();
    return relay_cut_short{why, head_written_ ? status_ : 0, body_bytes_, std::move(detail)};
  }

  /// Stops watching the client before the exchange ends. A client that went away while
  /// the backend was failing is reported as gone: it is why the backend read failed (the
  /// watch cancelled it).
  asio::awaitable<relay_result> after_watch(relay_result ended) {
    co_await stop_watch(client_, watch_);
    if (watch_->client_gone && !std::holds_alternative<relay_cut_short>(ended)) {
      co_return cut_short(relay_cut_short::cause::client_gone, head_written_
                                                                  ? "client closed the connection after the response"
                                                                  : "client closed the connection while waiting for "
                                                                    "the response");
    }
    if (watch_->client_gone) {
      auto& cut = std::get<relay_cut_short>(ended);
      if (cut.why == relay_cut_short::cause::upstream_failed) {
        cut.why = relay_cut_short::cause::client_gone;
        cut.detail = "client closed the connection mid-response; upstream request cancelled";
      }
    }
    co_return ended;
  }

  /// The request, only on a connection fit to carry it: one the attestation left unfit
  /// (bytes nobody asked for after its answer, or Connection: close) would hand the
  /// request's response slot to whatever it holds. Its deadline is part of the
  /// response-headers phase.
  asio::awaitable<std::optional<relay_result>> send_request() {
    if (!up_.reusable()) {
      co_return refused(proxy::backend_unreachable(up_.host() + " left the connection unusable before the request"),
                        "connection unusable before the request was written", relay_refused::resend::safe);
    }
    auto outgoing = upstream_request(request_, up_);
    up_tcp_.expires_after(deadlines_.response_headers);
    auto [ec, n] = co_await http::async_write(up_.stream(), outgoing, asio::as_tuple(asio::use_awaitable));
    if (!ec) co_return std::nullopt;
    if (is_timeout(ec)) {
      co_return refused(proxy::gateway_timeout("response_headers", "sending the request to " + up_.host() + " timed out"),
                        "request write timed out");
    }
    co_return refused(proxy::backend_unreachable("sending the request to " + up_.host() + " failed: " + ec.message()),
                      "request write failed: " + ec.message(),
                      is_closed_before_response(ec) ? relay_refused::resend::if_pooled : relay_refused::resend::never);
  }

  /// The final response's status line and fields (interim 1xx answers are consumed).
  asio::awaitable<std::optional<relay_result>> read_head() {
    const auto prepare = [this](response_parser& p) {
      p.body_limit(boost::none);
      if (request_.method() == http::verb::head) p.skip(true);
      up_tcp_.expires_after(deadlines_.response_headers);
    };
    const auto reading =
        co_await net::read_final_response<net::read_scope::header>(up_.stream(), up_.buffer(), parser_, prepare);
    if (reading.ec) {
      if (is_timeout(reading.ec)) {
        co_return refused(proxy::gateway_timeout("response_headers",
                                                 up_.host() + " sent no response headers within " +
                                                     std::to_string(deadlines_.response_headers.count()) + " ms"),
                          "response headers timed out");
      }
      const bool stale = is_closed_before_response(reading.ec) && up_.buffer().size() == 0;
      const std::string cause = reading.ec.message();
      co_return refused(
          proxy::backend_unreachable(up_.host() + " closed the connection without a valid response: " + cause),
          "reading response headers failed: " + cause,
          stale ? relay_refused::resend::if_pooled : relay_refused::resend::never);
    }
    if (reading.too_many_interim) {
      co_return refused(proxy::backend_unreachable(up_.host() + " sent too many interim responses"), "interim flood");
    }
    if (parser_->get().result_int() == 101) {
      co_return refused(proxy::backend_unreachable(up_.host() + " switched protocols, which the proxy does not relay"),
                        "101 switching protocols");
    }
    co_return std::nullopt;
  }

  /// The response head as the client receives it: the backend's status and end-to-end
  /// fields, framing chosen for the client. From here on, failures can only cut the
  /// response short.
  asio::awaitable<std::optional<relay_result>> write_head() {
    auto& upstream_head = parser_->get();
    status_ = upstream_head.result_int();
    const bool body_forbidden = request_.method() == http::verb::head || status_ == 204 || status_ == 304;
    http::response<http::empty_body> head;
    head.version(request_.version() == 10 ? 10 : 11);
    head.result(upstream_head.result_int());
    head.reason(upstream_head.reason());
    copy_fields(upstream_head.base(), head.base(), proxy::forward_response_field);
    if (body_forbidden) {
      // A HEAD answer's Content-Length describes the GET body: pass it on unchanged.
      if (auto cl = upstream_head.find(http::field::content_length); cl != upstream_head.end()) {
        head.set(http::field::content_length, cl->value());
      }
    } else if (const auto length = parser_->content_length()) {
      head.content_length(*length);
      mode_ = framing::length;
    } else if (head.version() == 11) {
      head.chunked(true);
      mode_ = framing::chunked;
    } else {
      mode_ = framing::close;
    }
    client_keeps_ = keep_client_ && request_.keep_alive() && mode_ != framing::close;
    head.keep_alive(client_keeps_);

    http::response_serializer<http::empty_body> serializer(head);
    client_.expires_after(deadlines_.idle);
    auto [ec, n] = co_await http::async_write_header(client_, serializer, asio::as_tuple(asio::use_awaitable));
    client_.expires_never();
    head_written_ = true;
    if (ec) co_return client_write_failed(ec);
    co_return std::nullopt;
  }

  relay_result client_write_failed(const error_code& ec) {
    return cut_short(relay_cut_short::cause::client_gone, "writing to the client failed: " + ec.message());
  }

  /// The body, each read written out at once.
  asio::awaitable<relay_result> relay_body() {
    const auto tuple = asio::as_tuple(asio::use_awaitable);
    std::array<char, relay_chunk> chunk{};
    while (!parser_->is_done()) {
      parser_->get().body().data = chunk.data();
      parser_->get().body().size = chunk.size();
      up_tcp_.expires_after(deadlines_.idle);
      auto [ec, n] = co_await http::async_read_some(up_.stream(), up_.buffer(), *parser_, tuple);
      if (ec == http::error::need_buffer) ec = {};
      // Servers often end a close-delimited body without TLS close_notify.
      if (ec == asio::ssl::error::stream_truncated && mode_ == framing::close) ec = {};
      const std::size_t got = chunk.size() - parser_->get().body().size;
      if (got > 0) {
        body_bytes_ += got;
        client_.expires_after(deadlines_.idle);
        error_code wec;
        if (mode_ == framing::chunked) {
          std::tie(wec, std::ignore) =
              co_await asio::async_write(client_, http::make_chunk(asio::buffer(chunk.data(), got)), tuple);
        } else {
          std::tie(wec, std::ignore) = co_await asio::async_write(client_, asio::buffer(chunk.data(), got), tuple);
        }
        client_.expires_never();
        if (wec) co_return client_write_failed(wec);
      }
      if (ec) {
        co_return cut_short(relay_cut_short::cause::upstream_failed,
                            is_timeout(ec) ? "backend idle for " + std::to_string(deadlines_.idle.count()) +
                                                 " ms mid-response"
                                           : "backend failed mid-response: " +
                                                 (parser_->violation() ? parser_->violation()->reason : ec.message()));
      }
    }
    if (mode_ == framing::chunked) {
      client_.expires_after(deadlines_.idle);
      auto [ec, n] = co_await asio::async_write(client_, http::make_chunk_last(), tuple);
      client_.expires_never();
      if (ec) co_return client_write_failed(ec);
    }
    up_tcp_.expires_never();
    if (!parser_->get().keep_alive()) up_.mark_not_reusable();
    co_return relay_completed{status_, body_bytes_, mode_ == framing::chunked || mode_ == framing::close,
                              client_keeps_};
  }

  beast::tcp_stream& client_;
  beast::flat_buffer& client_buffer_;
  upstream::upstream_connection& up_;
  beast::tcp_stream& up_tcp_;
  const client_request& request_;
  const timeouts& deadlines_;
  const bool keep_client_;

  std::shared_ptr<client_watch> watch_;
  std::optional<response_parser> parser_;
  framing mode_ = framing::none;
  unsigned status_ = 0;
  bool head_written_ = false;
  bool client_keeps_ = false;
  std::uint64_t body_bytes_ = 0;
};

}  // namespace

asio::awaitable<relay_result> relay(beast::tcp_stream& client, beast::flat_buffer& client_buffer,
                                    upstream::upstream_connection& upstream, const client_request& request,
                                    const timeouts& deadlines, bool keep_client) {
  std::string unexpected;
  try {
    exchange one(client, client_buffer, upstream, request, deadlines, keep_client);
    co_return co_await one.run();
  } catch (const std::exception& e) {
    unexpected = e.what();
  } catch (...) {
    unexpected = "unknown exception";
  }
  upstream.mark_not_reusable();
  // Unknown progress: the response may have started, so the client connection is closed
  // rather than sent an error in the middle of a response.
  co_return relay_cut_short{relay_cut_short::cause::upstream_failed, 0, 0, "unexpected failure: " + unexpected};
}

}  // namespace vp::server
