#include "server/proxy_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/serialize.hpp>

#include <list>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "core/log.hpp"
#include "net/bounded_parser.hpp"
#include "net/spawn.hpp"
#include "proxy/error_body.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/routing.hpp"
#include "server/endpoints_directory.hpp"
#include "server/forwarder.hpp"
#include "server/upstream_pool.hpp"

namespace vp::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

namespace {


std::string ms_since(steady::time_point start) {
  return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start).count()) + " ms";
}

std::string sv(beast::string_view s) { return std::string(s.data(), s.size()); }

}  // namespace

class session;

struct proxy_server::state : std::enable_shared_from_this<proxy_server::state> {
  state(asio::any_io_executor ex, proxy_config cfg, proxy_dependencies deps)
      : executor(ex),
        config(std::move(cfg)),
        dependencies(std::move(deps)),
        acceptor(ex),
        allowlist(config.allow_domains),
        tls(config.upstream_tls),
        gate(dependencies.collateral, dependencies.anchor, *dependencies.time_source,
             attest::verdict_cache_options{config.attestation_ttl, config.negative_ttl, 1024, 64},
             upstream::attest_options{config.timeouts.attestation, config.max_attestation_report, std::nullopt},
             dependencies.check, dependencies.limit),
        pool(config.pool_max_idle_per_domain, config.pool_idle_timeout),
        directory(ex, config.endpoints_url, config.endpoints_refresh,
                  net::http_client_options{config.timeouts.connect, config.timeouts.attestation, 1u << 20,
                                           config.endpoints_ca, "verified-proxy"}),
        grace_timer(ex) {}

  asio::any_io_executor executor;
  proxy_config config;
  proxy_dependencies dependencies;
  tcp::acceptor acceptor;
  proxy::domain_allowlist allowlist;
  upstream::tls_client_context tls;
  attestation_gate gate;
  upstream_pool pool;
  endpoints_directory directory;
  asio::steady_timer grace_timer;

  std::list<session*> sessions;
  bool stopping = false;
  std::function<void()> on_stopped;
  std::size_t requests = 0;
  std::size_t upstream_connections = 0;

  void session_ended();
  asio::awaitable<void> accept_loop();
};

// ---------------------------------------------------------------------------------------
// One client connection.

class session {
 public:
  session(std::shared_ptr<proxy_server::state> st, tcp::socket socket)
      : st_(std::move(st)), client_(std::move(socket)) {
    it_ = st_->sessions.insert(st_->sessions.end(), this);
  }
  ~session() {
    st_->sessions.erase(it_);
    st_->session_ended();
  }

  /// Waiting for the client's next request (nothing in flight).
  bool idle() const { return idle_; }
  void close() {
    error_code ec;
    client_.socket().shutdown(tcp::socket::shutdown_both, ec);
    client_.socket().close(ec);
  }

  asio::awaitable<void> run();

 private:
  struct routed {
    std::string domain;
    std::optional<std::string> model;
  };

  asio::awaitable<bool> handle(client_request request);
  asio::awaitable<bool> write_local(unsigned status, std::string body, bool keep_alive, bool retryable = true);
  asio::awaitable<bool> write_error(const proxy::error_response& e, bool keep_alive) {
    co_return co_await write_local(e.status, e.body, keep_alive, e.retryable);
  }

  std::shared_ptr<proxy_server::state> st_;
  beast::tcp_stream client_;
  beast::flat_buffer buffer_{net::max_read_buffer_bytes};
  std::list<session*>::iterator it_;
  bool idle_ = true;
};

asio::awaitable<bool> session::write_local(unsigned status, std::string body, bool keep_alive, bool retryable) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, "verified-proxy");
  if (!retryable) res.set("x-should-retry", "false");
  res.body() = std::move(body);
  res.keep_alive(keep_alive && !st_->stopping);
  res.prepare_payload();
  client_.expires_after(st_->config.timeouts.client_request);
  auto [ec, n] = co_await http::async_write(client_, res, asio::as_tuple(asio::use_awaitable));
  client_.expires_never();
  co_return !ec && res.keep_alive();
}

asio::awaitable<void> session::run() {
  const auto tuple = asio::as_tuple(asio::use_awaitable);
  bool first = true;
  for (;;) {
    idle_ = true;
    if (st_->stopping) break;
    client_.expires_after(first ? st_->config.timeouts.client_request : st_->config.timeouts.client_keep_alive);
    first = false;
    net::bounded_request_parser<http::string_body> parser;
    parser.body_limit(static_cast<std::uint64_t>(st_->config.max_body));
    if (auto [ec, n] = co_await http::async_read_header(client_, buffer_, parser, tuple); ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::operation_aborted ||
          ec == asio::error::connection_reset || ec == asio::error::eof) {
        break;
      }
      if (ec == http::error::body_limit) {
        // The declared Content-Length is over --max-body: refused before reading the body,
        // so the connection cannot carry another request.
        ++st_->requests;
        log::info(sv(parser.get().method_string()) + " " +
                  std::string(proxy::path_without_query(sv(parser.get().target()))) + " → 413 (declared body over " +
                  std::to_string(st_->config.max_body) + " bytes)");
        co_await write_error(proxy::body_too_large(st_->config.max_body), false);
      } else if (ec == http::error::header_limit) {
        co_await write_local(
            431, proxy::make_error_body("request header fields too large", "invalid_request_error", "header_too_large"),
            false);
      } else {
        log::info("malformed request refused: " + ec.message());
        co_await write_error(proxy::bad_request("malformed HTTP request: " + ec.message(), "malformed_request"), false);
      }
      break;
    }
    idle_ = false;
    client_.expires_after(st_->config.timeouts.client_request);
    if (beast::iequals(parser.get()[http::field::expect], "100-continue") && parser.get().version() >= 11) {
      static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
      if (auto [ec, n] = co_await asio::async_write(client_, asio::buffer(continue_line), tuple); ec) break;
    }
    if (!parser.is_done()) {
      if (auto [ec, n] = co_await http::async_read(client_, buffer_, parser, tuple); ec) {
        if (ec == http::error::body_limit) {
          ++st_->requests;
          co_await write_error(proxy::body_too_large(st_->config.max_body), false);
        }
        break;
      }
    }
    client_.expires_never();
    if (!co_await handle(parser.release())) break;
  }
  close();
}

asio::awaitable<bool> session::handle(client_request request) {
  const auto started = steady::now();
  ++st_->requests;
  const bool keep = request.keep_alive();
  const std::string method = sv(request.method_string());
  const std::string path(proxy::path_without_query(sv(request.target())));
  const auto finish_local = [&](const proxy::error_response& e, std::string_view why) -> asio::awaitable<bool> {
    log::info(method + " " + path + " → " + std::to_string(e.status) + " " + std::string(why) + " in " +
              ms_since(started));
    co_return co_await write_error(e, keep);
  };

  // Routing: the header names the backend, else the model field through the discovery list.
  routed route;
  if (const auto header = request.find(proxy::backend_domain_header); header != request.end()) {
    const auto host = proxy::normalize_host(sv(header->value()));
    if (!host) {
      co_return co_await finish_local(
          proxy::bad_request("X-Backend-Domain must be a DNS host name (no scheme, port or path)",
                             "invalid_backend_domain"),
          "(invalid X-Backend-Domain)");
    }
    route.domain = *host;
  } else if (path == "/v1/models" && request.method() == http::verb::get) {
    auto list = co_await st_->directory.get();
    if (!list) co_return co_await finish_local(proxy::backend_unreachable(list.error()), "(no endpoint list)");
    log::info(method + " " + path + " → 200 (answered locally from the endpoint list) in " + ms_since(started));
    co_return co_await write_local(200, boost::json::serialize(proxy::models_list(**list)), keep);
  } else {
    route.model = proxy::model_of_request(request.body());
    if (!route.model) {
      co_return co_await finish_local(
          proxy::bad_request("cannot choose a backend: send the X-Backend-Domain header (e.g. "
                             "X-Backend-Domain: <model>.completions.near.ai) or a JSON body with a \"model\" field "
                             "(GET /v1/models lists them)",
                             "missing_model"),
          "(no domain, no model)");
    }
    auto list = co_await st_->directory.get();
    if (!list) co_return co_await finish_local(proxy::backend_unreachable(list.error()), "(no endpoint list)");
    const auto domain = proxy::domain_for_model(**list, *route.model);
    if (!domain) {
      co_return co_await finish_local(
          proxy::bad_request("model '" + *route.model + "' is not served by any endpoint of " +
                                 st_->config.endpoints_url + " (GET /v1/models lists them)",
                             "model_not_found"),
          "(unknown model)");
    }
    route.domain = *domain;
  }
  if (!st_->allowlist.allows(route.domain)) {
    co_return co_await finish_local(proxy::domain_not_allowed(route.domain), "(" + route.domain + " not allowed)");
  }
  const std::string arrow = method + " " + path + " → " + route.domain;

  // Upstream: a pooled connection whose key is still verified, else a new one admitted by
  // the gate. A pooled connection the backend had dropped is retried once on a new one.
  for (int attempt = 0;; ++attempt) {
    std::optional<upstream::upstream_connection> conn;
    std::string how;
    if (attempt == 0) {
      conn = st_->pool.take(route.domain,
                            [&](const sha256_digest& spki) { return st_->gate.is_fresh(route.domain, spki); });
      if (conn) how = "pooled";
    }
    if (!conn) {
      upstream::connect_options options{st_->config.timeouts.connect, st_->config.timeouts.tls, std::nullopt};
      if (const auto* rule = proxy::find_connect_to(st_->config.connect_to, route.domain, st_->config.upstream_port)) {
        options.connect_to = upstream::dial_address{rule->address, rule->address_port};
      }
      ++st_->upstream_connections;
      auto connected = co_await upstream::connect_upstream(st_->executor, st_->tls, route.domain,
                                                           st_->config.upstream_port, options);
      if (!connected) {
        const auto& e = connected.error();
        const bool tls_phase = e.message.find("TLS") != std::string::npos;
        co_return co_await finish_local(to_error_response(e, tls_phase ? "tls" : "connect"),
                                        "(" + route.domain + ": " + std::string(upstream::to_string(e.kind)) + ")");
      }
      auto admitted = co_await st_->gate.admit(*connected, route.model);
      if (!admitted) {
        log::info(arrow + " " + std::to_string(admitted.error().status) + " (not verified) in " + ms_since(started));
        co_return co_await write_error(admitted.error(), keep);
      }
      how = "new, attestation " + std::string(to_string(*admitted));
      conn.emplace(std::move(*connected));
    }

    auto result = co_await relay(client_, buffer_, *conn, request, st_->config.timeouts, !st_->stopping);
    if (result.result == relay_result::outcome::upstream_failed && !result.response_started && attempt == 0 &&
        (result.request_unsent || (result.stale_connection && how == "pooled"))) {
      log::debug(arrow + ": " + result.detail + "; retrying on a new connection");
      continue;
    }
    if (result.result == relay_result::outcome::completed) {
      if (conn->reusable() && st_->gate.is_fresh(route.domain, conn->spki_sha256()) && !st_->stopping) {
        st_->pool.put(std::move(*conn));
      }
      log::info(arrow + " " + std::to_string(result.status) + " in " + ms_since(started) + " (" +
                (result.streamed ? "streamed " : "") + std::to_string(result.body_bytes) + " bytes, connection " + how +
                ")");
      co_return result.client_reusable;
    }
    if (!result.response_started && result.error) {
      log::warn(arrow + " " + std::to_string(result.error->status) + " in " + ms_since(started) + ": " + result.detail);
      co_return co_await write_error(*result.error, keep);
    }
    log::warn(arrow + " " + (result.status ? std::to_string(result.status) + " " : std::string()) + "cut short after " +
              std::to_string(result.body_bytes) + " bytes in " + ms_since(started) + ": " + result.detail);
    co_return false;
  }
}

// ---------------------------------------------------------------------------------------
// The server.

void proxy_server::state::session_ended() {
  if (stopping && sessions.empty()) {
    grace_timer.cancel();
    pool.clear();
    if (on_stopped) {
      auto done = std::move(on_stopped);
      on_stopped = nullptr;
      asio::post(executor, std::move(done));
    }
  }
}

asio::awaitable<void> proxy_server::state::accept_loop() {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      log::warn("accept failed: " + ec.message());
      // Out of descriptors and the like: back off briefly instead of spinning.
      asio::steady_timer pause(executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (sessions.size() >= config.max_client_connections) {
      log::warn("refusing a client connection: " + std::to_string(sessions.size()) + " already open");
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    net::spawn_logged(
        executor,
        [self, s = std::move(socket)]() mutable -> asio::awaitable<void> {
          auto sess = std::make_unique<session>(self, std::move(s));
          co_await sess->run();
        },
        "client session");
  }
}

proxy_server::proxy_server(asio::any_io_executor executor, proxy_config config, proxy_dependencies dependencies) {
  if (!dependencies.collateral || !dependencies.anchor || !dependencies.time_source) {
    throw std::invalid_argument("proxy_server: collateral source, trust anchor and clock are required");
  }
  state_ = std::make_shared<state>(executor, std::move(config), std::move(dependencies));
}

proxy_server::~proxy_server() {
  if (!state_->stopping) {
    state_->stopping = true;
    error_code ec;
    state_->acceptor.close(ec);
    for (auto* s : state_->sessions) s->close();
  }
}

void proxy_server::start() {
  auto& st = *state_;
  error_code ec;
  const auto address = asio::ip::make_address(st.config.listen_host, ec);
  if (ec) throw std::system_error(ec, "--host '" + st.config.listen_host + "' is not an IP address");
  const tcp::endpoint endpoint(address, st.config.listen_port);
  const std::string where = st.config.listen_host + ":" + std::to_string(st.config.listen_port);
  st.acceptor.open(endpoint.protocol(), ec);
  if (!ec) st.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) st.acceptor.bind(endpoint, ec);
  if (!ec) st.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::system_error(ec, "cannot listen on " + where);
  st.directory.start();
  net::spawn_logged(st.executor, st.accept_loop(), "accept loop");
}

std::uint16_t proxy_server::port() const {
  error_code ec;
  const auto ep = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void proxy_server::stop(std::function<void()> done) {
  auto& st = *state_;
  if (st.stopping) {
    if (done) asio::post(st.executor, std::move(done));
    return;
  }
  st.stopping = true;
  st.on_stopped = std::move(done);
  error_code ec;
  st.acceptor.close(ec);
  st.pool.clear();
  // Snapshot: closing may end sessions (and unlink them) as handlers run later.
  std::size_t busy = 0;
  for (auto* s : std::vector<session*>(st.sessions.begin(), st.sessions.end())) {
    if (s->idle()) {
      s->close();
    } else {
      ++busy;
    }
  }
  if (busy != 0) {
    log::info("waiting up to " + std::to_string(st.config.shutdown_grace.count()) + " s for " + std::to_string(busy) +
              " request(s) in flight");
  }
  st.grace_timer.expires_after(st.config.shutdown_grace);
  st.grace_timer.async_wait([weak = std::weak_ptr<state>(state_)](error_code wait_ec) {
    auto s = weak.lock();
    if (!s || wait_ec) return;
    if (!s->sessions.empty())
      log::warn("shutdown grace expired: closing " + std::to_string(s->sessions.size()) + " connection(s)");
    for (auto* sess : std::vector<session*>(s->sessions.begin(), s->sessions.end())) sess->close();
  });
  st.session_ended();
}

proxy_statistics proxy_server::statistics() const {
  const auto& st = *state_;
  return {st.gate.attestation_count(), st.requests, st.upstream_connections, st.pool.idle_count(), st.sessions.size()};
}

}  // namespace vp::server
