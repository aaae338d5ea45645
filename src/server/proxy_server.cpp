#include "server/proxy_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
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
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <future>
#include <list>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <variant>

#include "core/hex.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "core/version.hpp"
#include "net/bounded_parser.hpp"
#include "net/lazy_deadline.hpp"
#include "net/peer_state.hpp"
#include "net/spawn.hpp"
#include "observe/local_endpoints.hpp"
#include "observe/prometheus.hpp"
#include "observe/status_board.hpp"
#include "observe/status_json.hpp"
#include "observe/status_page.hpp"
#include "proxy/error_body.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/memory_budget.hpp"
#include "proxy/routing.hpp"
#include "proxy/signature_ledger.hpp"
#include "server/descriptor_budget.hpp"
#include "server/attestation_gate.hpp"
#include "server/backend_attestation.hpp"
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


std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

/// The backend named by the X-Backend-Domain header: nullopt when there is none (the
/// body's model decides), an error when it is repeated or not a DNS name.
boost::system::result<std::optional<std::string>, proxy::error_response> header_domain(
    const http::request_header<>& request) {
  auto field = request.find(proxy::backend_domain_header);
  if (field == request.end()) return std::optional<std::string>();
  const auto value = sv(field->value());
  if (request.count(proxy::backend_domain_header) > 1) {
    return proxy::bad_request("X-Backend-Domain appears more than once: the request names no single backend",
                              "ambiguous_backend_domain");
  }
  auto host = proxy::normalize_host(value);
  if (!host) {
    return proxy::bad_request("X-Backend-Domain must be a DNS host name (no scheme, port or path)",
                              "invalid_backend_domain");
  }
  return std::optional<std::string>(std::move(*host));
}

/// Why a request without X-Backend-Domain cannot be routed by its body, and the log note.
std::pair<proxy::error_response, std::string_view> model_refusal(const proxy::model_lookup& lookup) {
  using outcome = proxy::model_lookup::outcome;
  switch (lookup.result) {
    case outcome::not_json:
      return {proxy::bad_request("the request body is not valid JSON (" + lookup.detail +
                                     "), so it names no model; send the X-Backend-Domain header or a JSON body",
                                 "malformed_request"),
              "(body not JSON)"};
    case outcome::too_deep:
      return {proxy::bad_request("the JSON request body nests deeper than " +
                                     std::to_string(proxy::max_request_json_depth) + " levels",
                                 "malformed_request"),
              "(body nested too deep)"};
    case outcome::ambiguous:
      return {proxy::bad_request("the JSON request body has more than one top-level \"model\" key: it names no "
                                 "single model",
                                 "ambiguous_model"),
              "(model repeated)"};
    case outcome::not_string:
      return {proxy::bad_request("the \"model\" field of the request body must be a string", "malformed_request"),
              "(model not a string)"};
    case outcome::missing:
    case outcome::found:
      break;
  }
  return {proxy::bad_request("cannot choose a backend: send the X-Backend-Domain header (e.g. "
                             "X-Backend-Domain: <model>.completions.near.ai) or a JSON body with a \"model\" field "
                             "(GET /v1/models lists them)",
                             "missing_model"),
          "(no domain, no model)"};
}

/// "METHOD /path" of a request for the log (the query may carry secrets).
template <class Parser>
std::string request_line(const Parser& parser) {
  return std::string(sv(parser.get().method_string())) + " " +
         std::string(proxy::path_without_query(sv(parser.get().target())));
}

proxy::error_response body_budget_exhausted(std::size_t limit) {
  return proxy::overloaded("the proxy already holds request bodies up to its memory limit of " +
                               text::size_text(limit) + " (--body-memory); nothing was forwarded, retry shortly",
                           "body_memory_exhausted");
}

// A refused client gets its 503 within this, or is closed anyway: the descriptor it holds
// is the scarce thing.
constexpr std::chrono::milliseconds refusal_deadline{1000};
// Request bytes of a refused client read and discarded before closing, at most.
constexpr std::size_t refusal_drain_bytes = 64u << 10;
// Idle connections given up per accepted one, so one accept cannot stall the loop.
constexpr std::size_t max_reclaimed_per_accept = 16;

constexpr std::string_view refused_key = "refused";
constexpr std::string_view accept_failed_key = "accept failed";

http::response<http::string_body> local_response(unsigned status, std::string body, bool keep_alive,
                                                 bool retryable,
                                                 const std::vector<std::pair<std::string, std::string>>& fields) {
  http::response<http::string_body> res{static_cast<http::status>(status), 11};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::server, "verified-proxy");
  if (!retryable) res.set("x-should-retry", "false");
  for (const auto& [name, value] : fields) res.set(name, value);
  res.body() = std::move(body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

// After an answer to a request that was not read to its end. Closing a socket with unread
// bytes makes the kernel send a reset, which may destroy the answer before the client
// reads it (RFC 9112 §9.6): so the proxy stops sending, then discards what the client
// still sends, up to `max_bytes`, until it closes or the stream's deadline passes.
asio::awaitable<void> drain_before_close(beast::tcp_stream& stream, std::size_t max_bytes) {
  error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  std::array<char, 4096> sink{};
  for (std::size_t drained = 0; drained < max_bytes;) {
    auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(sink), asio::as_tuple(asio::use_awaitable));
    if (read_ec) break;
    drained += n;
  }
}

// Answers a client the proxy cannot take, without reading its request; one deadline
// covers the answer and the drain.
asio::awaitable<void> answer_refused(tcp::socket socket, http::response<http::string_body> response) {
  beast::tcp_stream stream(std::move(socket));
  stream.expires_after(refusal_deadline);
  if (auto [ec, n] = co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable)); ec) co_return;
  co_await drain_before_close(stream, refusal_drain_bytes);
}

/// The hosts requests may go to: the configured patterns, and NEAR's gateway only when it
/// is the backend (its name must not become a destination by default).
std::vector<std::string> allowed_hosts(const proxy_config& config) {
  auto out = config.allow_domains;
  if (config.backend == backend_kind::gateway) out.push_back(config.gateway_host);
  return out;
}

std::string host_port_text(const std::string& host, std::uint16_t port) {
  return port == 443 ? host : host + ":" + std::to_string(port);
}

/// Where model ids come from: NEAR's discovery list, or in gateway mode the gateway's
/// own model list (every model served through the gateway host).
std::string model_list_url(const proxy_config& config) {
  if (config.backend != backend_kind::gateway) return config.endpoints_url;
  return "https://" + host_port_text(config.gateway_host, config.upstream_port) + "/v1/models";
}

net::http_client_options model_list_http_options(const proxy_config& config) {
  const bool gateway = config.backend == backend_kind::gateway;
  net::http_client_options options{config.timeouts.connect, config.timeouts.attestation, 1u << 20,
                                   gateway ? config.upstream_tls.ca_file : config.endpoints_ca, "verified-proxy", {}};
  // --connect-to applies to every connection to a host (curl semantics), the lists' too.
  options.dial = [rules = config.connect_to](std::string_view host,
                                             std::uint16_t port) -> std::optional<std::pair<std::string, std::uint16_t>> {
    if (const auto* rule = proxy::find_connect_to(rules, host, port)) {
      return std::pair<std::string, std::uint16_t>{rule->address, rule->address_port};
    }
    return std::nullopt;
  };
  return options;
}

list_parser model_list_parser(const proxy_config& config) {
  if (config.backend != backend_kind::gateway) return nullptr;
  return [host = config.gateway_host](std::string_view body, std::string& error) {
    return proxy::parse_model_list(body, host, error);
  };
}

std::string seconds_text(std::chrono::milliseconds ms) {
  return std::to_string(ms.count() / 1000) + "." + std::to_string(ms.count() % 1000 / 100) + " s";
}

/// What the status page shows of the configuration: what decides "verified".
observe::trust_configuration trust_configuration_of(const proxy_config& config, const proxy_dependencies& deps) {
  observe::trust_configuration t;
  t.version = VP_VERSION;
  t.listen = config.listen_host + ":" + std::to_string(config.listen_port);
  t.backend = std::string(to_string(config.backend));
  if (config.backend == backend_kind::gateway) t.gateway_host = config.gateway_host;
  t.e2ee = std::string(proxy::to_string(config.e2ee));
  t.verify_signatures = std::string(proxy::to_string(config.verify_signatures));
  t.signing_algo = std::string(attest::to_string(config.signing_algo));
  t.allow_domains = allowed_hosts(config);
  t.attestation_ttl = config.attestation_ttl;
  t.negative_ttl = config.negative_ttl;
  t.webpki = config.upstream_tls.webpki;
  t.nras = config.nras.enabled;
  t.policy = deps.policy ? deps.policy->name() : std::string();
  t.model_list_url = model_list_url(config);
  t.model_list_kind = config.backend == backend_kind::gateway ? "gateway_models" : "endpoints";
  return t;
}

/// How long an exchange runs before the proxy watches its client for leaving (and then
/// cancels the upstream request): client_watches.hpp.
constexpr std::chrono::milliseconds client_watch_delay{50};

/// "host:port", bracketing an IPv6 address.
std::string address_text(const tcp::endpoint& endpoint) {
  const std::string host = endpoint.address().to_string();
  return (endpoint.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(endpoint.port());
}

}  // namespace

std::string_view to_string(backend_kind b) noexcept { return b == backend_kind::gateway ? "gateway" : "direct"; }

std::optional<backend_kind> parse_backend_kind(std::string_view text) noexcept {
  if (text == "direct") return backend_kind::direct;
  if (text == "gateway") return backend_kind::gateway;
  return std::nullopt;
}

class session;

/// The signature ledger shared by the shards (a request's signature may be looked up
/// through another shard than the one that relayed its answer).
class shared_signature_ledger {
 public:
  void record(std::string chat_id, proxy::signature_record r) {
    const std::lock_guard lock(mutex_);
    ledger_.record(std::move(chat_id), std::move(r));
  }
  std::optional<std::string> answer(std::string_view chat_id) const {
    const std::lock_guard lock(mutex_);
    return ledger_.answer(chat_id);
  }

 private:
  mutable std::mutex mutex_;
  proxy::signature_ledger ledger_;
};

/// What one shard reads of its own state for the status gauges and statistics().
struct shard_gauges {
  std::size_t sessions = 0;       ///< client connections, cut ones whose coroutine runs on included
  std::size_t idle_sessions = 0;  ///< waiting for their client's next request
  std::size_t upstream_open = 0;
  std::size_t upstream_pooled = 0;
  shard_gauges& operator+=(const shard_gauges& o) {
    sessions += o.sessions;
    idle_sessions += o.idle_sessions;
    upstream_open += o.upstream_open;
    upstream_pooled += o.upstream_pooled;
    return *this;
  }
};

/// What every shard shares: thread-safe, or (the directory's fetches, the attester's
/// evidence) run on the control executor.
struct shared_services {
  shared_services(asio::any_io_executor control_executor, proxy_config cfg, proxy_dependencies deps)
      : control(std::move(control_executor)),
        config(std::move(cfg)),
        dependencies(std::move(deps)),
        board(std::make_shared<observe::status_board>(trust_configuration_of(config, dependencies),
                                                      dependencies.time_source->now())),
        attester(make_attester(control, config, dependencies, board)),
        gate(*dependencies.time_source,
             appraise::verdict_cache_options{config.attestation_ttl, config.negative_ttl, 1024, 64}, board),
        directory(control, model_list_url(config), config.endpoints_refresh, model_list_http_options(config),
                  model_list_parser(config)),
        body_budget(config.max_buffered_bodies) {
    directory.on_fetch([board = board, clock = dependencies.time_source](const endpoints_directory::fetch_outcome& o) {
      board->record_discovery_fetch(o.ok, o.domains, o.models, o.error, clock->now());
    });
  }

  /// The shard that a shard's stop() completed on (the last one) calls this.
  void shard_drained() {
    if (shards_draining.fetch_sub(1) != 1) return;
    std::function<void()> done;
    asio::any_io_executor keep_running;
    {
      const std::lock_guard lock(stop_mutex);
      done = std::move(on_stopped);
      on_stopped = nullptr;
      keep_running = std::move(stopping_work);
    }
    asio::post(control, [done = std::move(done), keep_running = std::move(keep_running)] {
      if (done) done();
    });
  }

  asio::any_io_executor control;
  const proxy_config config;
  const proxy_dependencies dependencies;
  /// What the proxy verified and did (/_proxy/…): every counter lives there.
  std::shared_ptr<observe::status_board> board;
  std::shared_ptr<server::attester> attester;
  attestation_gate gate;
  endpoints_directory directory;
  proxy::memory_budget body_budget;
  shared_signature_ledger signatures;
  /// Client connections open (accepted, not cut) over every shard: --max-connections
  /// bounds this. A shard reserves a place before it creates a session.
  std::atomic<std::size_t> open_clients{0};
  /// Upstream connections open over every shard (each shard's TLS context counts its own
  /// in here too): the pools' bound and the descriptor budget are the process's.
  std::shared_ptr<std::atomic<std::size_t>> upstream_open = std::make_shared<std::atomic<std::size_t>>(0);
  /// Shards whose client connections have not all closed since stop().
  std::atomic<std::size_t> shards_draining{0};
  std::mutex stop_mutex;
  bool stop_requested = false;
  std::function<void()> on_stopped;
  /// Counts as work of the control executor from stop() until `on_stopped` ran: the
  /// control shard may drain first, and its loop must not end before the last shard's
  /// completion reaches it.
  asio::any_io_executor stopping_work;
  /// Every shard (weak: the shards own this). Set before start(), read-only after.
  std::vector<std::weak_ptr<proxy_server::state>> shards;
};

struct proxy_server::state : std::enable_shared_from_this<proxy_server::state> {
  state(asio::any_io_executor ex, std::shared_ptr<shared_services> services)
      : shared(std::move(services)),
        executor(ex),
        config(shared->config),
        dependencies(shared->dependencies),
        acceptor(ex),
        allowlist(allowed_hosts(config)),
        tls(config.upstream_tls, shared->upstream_open),
        board(shared->board),
        attester(shared->attester),
        gate(shared->gate),
        pool(ex, {config.pool_max_connections.value_or(config.max_client_connections), config.pool_idle_timeout},
             [this] { return upstream_open_everywhere(); }),
        directory(shared->directory),
        body_budget(shared->body_budget),
        watches(ex, client_watch_delay),
        grace_timer(ex),
        log_flush_timer(ex),
        signatures(shared->signatures) {}

  /// Upstream connections open on every shard (each has its own TLS context): the pool's
  /// bound is the process's, as the client-connection limit is.
  std::size_t upstream_open_everywhere() const { return tls.open_in_group(); }

  std::shared_ptr<shared_services> shared;
  /// This shard's: its io_context is run by one thread.
  asio::any_io_executor executor;
  const proxy_config& config;
  const proxy_dependencies& dependencies;
  tcp::acceptor acceptor;
  proxy::domain_allowlist allowlist;
  upstream::tls_client_context tls;
  std::shared_ptr<observe::status_board> board;
  std::shared_ptr<server::attester> attester;
  attestation_gate& gate;
  upstream_pool pool;
  endpoints_directory& directory;
  proxy::memory_budget& body_budget;
  /// The relay's client watches, started for exchanges that outlast the delay.
  client_watches watches;
  asio::steady_timer grace_timer;

  std::list<session*> sessions;
  /// Sessions waiting for their client's next request, the longest waiting first: given
  /// up first when the connection limit is near, as nginx does with its reusable
  /// connections (an idle client loses nothing but a reconnect).
  std::list<session*> idle_sessions;
  std::size_t refusals_in_flight = 0;
  log::rate_limiter log_limiter{std::chrono::seconds(1)};
  asio::steady_timer log_flush_timer;
  bool log_flush_armed = false;
  std::string last_accept_error;
  bool stopping = false;
  /// Every session of this shard closed after stop() (reported to `shared` once).
  bool drained = false;
  shared_signature_ledger& signatures;

  /// Over every shard; sessions cut but not ended yet no longer count.
  std::size_t open_connections() const { return shared->open_clients.load(std::memory_order_relaxed); }
  /// The client connections allowed now: --max-connections, and no more than the
  /// descriptors the backend connections open on every shard leave (descriptor_budget.hpp).
  std::size_t client_limit() const {
    if (config.max_descriptors == 0) return config.max_client_connections;
    const std::size_t backend = upstream_open_everywhere();
    const std::size_t left = config.max_descriptors > backend ? config.max_descriptors - backend : 0;
    return std::min(config.max_client_connections, left);
  }
  /// A place for one more client connection, or false at the client limit.
  bool reserve_client() {
    if (shared->open_clients.fetch_add(1, std::memory_order_relaxed) < client_limit()) return true;
    release_client();
    return false;
  }
  /// Whether a backend connection may be opened now: below the descriptor budget, or at
  /// it once an idle client of this shard was given up (its descriptor comes back as its
  /// session ends, out of the reserve meanwhile). False: every descriptor is taken.
  bool descriptor_for_backend() {
    if (config.max_descriptors == 0) return true;
    if (open_connections() + upstream_open_everywhere() < config.max_descriptors) return true;
    if (idle_sessions.empty()) return false;
    reclaim_idle(1);
    return true;
  }
  void release_client() { shared->open_clients.fetch_sub(1, std::memory_order_relaxed); }
  shard_gauges gauges() const {
    return {sessions.size(), idle_sessions.size(), tls.open_connections(), pool.idle_count()};
  }
  /// Every shard's gauges, each read on its own thread (this one's directly).
  asio::awaitable<shard_gauges> all_gauges();
  /// The board with the live gauges of every shard, as of now.
  asio::awaitable<observe::status_snapshot> snapshot();
  /// The shard's part of proxy_server::stop(), on its thread.
  void begin_stop();
  void session_ended();
  asio::awaitable<void> accept_loop();
  void reclaim_idle(std::size_t at_most);
  void make_room();
  void refuse(tcp::socket socket);
  void count_event(std::string_view key);
  void report(std::string_view key, const log::rate_limiter::summary& s);
  void arm_log_flush();
  /// A new TCP + TLS connection to `domain` (--connect-to applied), not yet attested;
  /// it may resume a session whose key's verdict under `verdict_key` is fresh.
  asio::awaitable<upstream::result<upstream::upstream_connection>> connect(std::string domain, std::string verdict_key);
};

// ---------------------------------------------------------------------------------------
// One client connection.

class session {
 public:
  session(std::shared_ptr<proxy_server::state> st, tcp::socket socket)
      : st_(std::move(st)), client_(std::move(socket)), deadline_(client_.get_executor()) {
    it_ = st_->sessions.insert(st_->sessions.end(), this);
    idle_node_ = parked_.insert(parked_.end(), this);
  }
  ~session() {
    if (idle_ && !cut_) st_->idle_sessions.erase(idle_node_);
    if (!cut_) st_->release_client();
    st_->sessions.erase(it_);
    st_->session_ended();
  }

  /// Waiting for the client's next request (nothing in flight).
  bool idle() const { return idle_; }

  /// Ends the connection from outside the session. Closing the descriptor under a pending
  /// read or write would make the operations that follow fail with "Bad file descriptor"
  /// and reuse a number the kernel may already have given to another socket; a shutdown
  /// makes every pending and later operation end (end of stream, broken pipe) and the
  /// session closes its own socket as its coroutine unwinds. Not cancel(): the forwarder's
  /// client watch takes a cancelled read for its own doing and would let the upstream
  /// request run on until the next write to the client. `why` replaces the transport
  /// error in the session's log line.
  void cut(const char* why) {
    if (cut_) return;
    if (idle_) parked_.splice(parked_.end(), st_->idle_sessions, idle_node_);
    cut_ = true;
    cut_reason_ = why;
    st_->release_client();
    error_code ec;
    client_.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  void close() {
    error_code ec;
    client_.socket().shutdown(tcp::socket::shutdown_both, ec);
    client_.socket().close(ec);
  }

  asio::awaitable<void> run();

 private:
  /// The backend a request goes to, as `verify` names one (backend_name, subject).
  struct routed : attestation_target {
    /// What a verdict (and a pooled connection) is about: the domain's key, and behind a
    /// gateway the model too — its report attests the gateway and that model's CVM.
    std::string verdict_key() const { return gateway ? domain + " model=" + model.value_or("") : domain; }
  };
  using request_parser = net::bounded_request_parser<http::string_body>;
  /// Where a request goes: a backend, an answer of the proxy's own, or a refusal.
  struct route_decision {
    std::optional<routed> to;
    std::optional<std::string> local_body;  ///< 200 application/json answered here
    std::optional<proxy::error_response> refusal;
    std::string note;  ///< for the log line
  };

  /// Waits for the first byte of the next request (the keep-alive wait); false when the
  /// connection should close instead.
  asio::awaitable<bool> await_request();
  /// Reads one request: header section, checks that can refuse it before its body is
  /// read, 100-continue, body (leased from the memory budget). nullopt: the connection is
  /// done (any answer has been written).
  asio::awaitable<std::optional<client_request>> read_request(proxy::memory_budget::lease& lease);
  /// Parses what the read buffer already holds of the request in `parser`, without an
  /// asynchronous operation (one that completes at once still costs a pass through the
  /// event loop). `ec`: what the parser refused (need_more is not an error here).
  void parse_held(request_parser& parser, error_code& ec);
  /// Refusals decided by the header section alone (before 100 Continue and before the
  /// body is read); `parser` holds a complete header.
  std::optional<proxy::error_response> refuse_before_body(request_parser& parser, proxy::memory_budget::lease& lease);
  /// A connection the request may be written on: a pooled one whose key is still verified
  /// (take_pooled, without a coroutine of its own), else a new one admitted by the gate
  /// (acquire). Without `conn` and `refusal`, the client left during the attestation.
  struct acquired {
    std::optional<upstream::upstream_connection> conn;
    bool pooled = false;
    std::string how;  ///< for the log line
    std::optional<proxy::error_response> refusal;
    bool admission_refused = false;  ///< the refusal is the gate's (else the connection failed)
    std::string note;                ///< for the log line of a connection failure
    std::optional<failure> why{};    ///< the failure behind `refusal`
    /// The verdict's appraisal a pooled connection was taken under (looked up once for the
    /// request); null for a new connection (integrity_for looks it up after admission).
    std::shared_ptr<const appraise::appraisal> appraisal{};
  };
  std::optional<acquired> take_pooled(const std::string& key);
  asio::awaitable<acquired> acquire(const routed& route, const std::string& key);
  /// The end-to-end plan of `request` on `conn` (proxy::plan_request over the attested
  /// identity of conn's CVM: `appraisal`, the fresh verdict's, looked up when null), or the
  /// refusal.
  boost::system::result<relay_integrity, proxy::error_response> integrity_for(
      const client_request& request, std::string_view path, const routed& route, const std::string& key,
      const upstream::upstream_connection& conn, std::shared_ptr<const appraise::appraisal> appraisal);
  /// Counts and remembers an exchange's signature verdict; the words for the log line.
  std::string note_integrity(const std::string& domain, const integrity_report& report);
  /// Routing step: X-Backend-Domain, the local endpoints, or the body's model through the
  /// discovery list. The allowlist is applied by the caller.
  asio::awaitable<route_decision> route(const client_request& request, std::string_view path);
  asio::awaitable<bool> handle(client_request request);
  /// GET /_proxy/…: the proxy's own status endpoints (never forwarded), for local clients only.
  asio::awaitable<bool> answer_local(const client_request& request, std::string_view path, bool keep_alive);
  /// Counts the answer to the current request on the status board.
  void answered(unsigned status, std::string_view code = {}) {
    st_->board->count_request(route_class_, status, code);
  }
  /// Remembers a failure of `domain`'s backend that the current request was answered with.
  void domain_failed(const std::string& domain, unsigned status, observe::failure_record why) {
    st_->board->record_domain_failure(domain, status, why, st_->dependencies.time_source->now());
  }
  asio::awaitable<bool> write_local(unsigned status, std::string body, bool keep_alive, bool retryable = true,
                                    const std::vector<std::pair<std::string, std::string>>& fields = {});
  asio::awaitable<bool> write_error(const proxy::error_response& e, bool keep_alive) {
    answered(e.status, e.code);
    co_return co_await write_local(e.status, e.body, keep_alive, e.retryable, e.fields);
  }
  /// Answers a request whose reading failed (`ec`), unless the client simply went away.
  asio::awaitable<void> answer_read_failure(const error_code& ec, const request_parser& parser, bool got_header);
  /// Answers a request that will not be read further (counted, logged), then the
  /// connection closes after a linger.
  asio::awaitable<void> refuse(std::string what, proxy::error_response answer, std::string_view note);
  /// The client closed or reset its connection (checked without blocking).
  bool client_hung_up();
  /// Closes after a refusal without losing it (drain_before_close, at most 2 s / 1 MiB).
  asio::awaitable<void> linger_close();

  std::shared_ptr<proxy_server::state> st_;
  beast::tcp_stream client_;
  beast::flat_buffer buffer_{net::max_read_buffer_bytes};
  void set_idle(bool idle) {
    if (idle == idle_) return;
    if (!cut_) {
      if (idle) {
        st_->idle_sessions.splice(st_->idle_sessions.end(), parked_, idle_node_);
      } else {
        parked_.splice(parked_.end(), st_->idle_sessions, idle_node_);
      }
    }
    idle_ = idle;
  }

  std::list<session*>::iterator it_;
  // This session's node in st_->idle_sessions while idle, else in parked_: moving it is a
  // splice, with no allocation per request.
  std::list<session*> parked_;
  std::list<session*>::iterator idle_node_;
  bool idle_ = false;
  bool cut_ = false;
  const char* cut_reason_ = nullptr;
  /// The one deadline of whatever the connection waits for (lazy_deadline: moving it costs
  /// no system call); the relay sets its own expiry action for its exchange.
  net::lazy_deadline deadline_;
  /// What a passing deadline does: reads of a request are interrupted so that a 408 can
  /// still be written; a keep-alive wait or a write ends the connection.
  enum class on_expiry { interrupt_read, close };
  void expect_within(std::chrono::milliseconds within, on_expiry what) {
    deadline_.on_expiry([this, what] {
      error_code ignored;
      if (what == on_expiry::close) client_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      client_.socket().cancel(ignored);
    });
    deadline_.expire_after(within);
  }
  /// A refusal was written while the client may still be sending: drain before closing.
  bool linger_ = false;
  /// The route of the request being answered (what the board counts it under).
  observe::route_class route_class_ = observe::route_class::other;
};

asio::awaitable<bool> session::write_local(unsigned status, std::string body, bool keep_alive, bool retryable,
                                           const std::vector<std::pair<std::string, std::string>>& fields) {
  auto res = local_response(status, std::move(body), keep_alive && !st_->stopping, retryable, fields);
  expect_within(st_->config.timeouts.client_body, on_expiry::close);
  auto [ec, n] = co_await http::async_write(client_, res, asio::as_tuple(asio::use_awaitable));
  deadline_.cancel();
  co_return !ec && res.keep_alive();
}

bool session::client_hung_up() {
  return net::peek_peer(client_.socket().native_handle()) == net::peer_state::gone;
}

asio::awaitable<bool> session::await_request() {
  if (buffer_.size() != 0) co_return true;
  // Waiting holds a small read buffer, not the one the last request may have grown: an idle
  // keep-alive connection costs its socket, this session and these bytes (nginx holds none,
  // and allocates when the next request arrives); a longer request is read on from there.
  // A read rather than a readiness wait: Asio re-arms epoll for every async_wait (one
  // epoll_ctl per request), and a read that drains the socket lets the next receive on it
  // (the client watch) wait without a system call.
  constexpr std::size_t idle_read_bytes = 1024;
  buffer_.shrink_to_fit();
  expect_within(st_->config.timeouts.client_keep_alive, on_expiry::close);
  auto [ec, n] = co_await client_.socket().async_read_some(buffer_.prepare(idle_read_bytes),
                                                           asio::as_tuple(asio::use_awaitable));
  if (ec) co_return false;
  buffer_.commit(n);
  co_return true;
}

void session::parse_held(request_parser& parser, error_code& ec) {
  if (buffer_.size() == 0) return;
  const std::size_t used = parser.put(buffer_.data(), ec);
  buffer_.consume(used);
  if (ec == http::error::need_more) ec = {};
}

asio::awaitable<void> session::answer_read_failure(const error_code& ec, const request_parser& parser,
                                                   bool got_header) {
  // The client went away or stopped mid-request: nobody to answer.
  if (ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::operation_aborted || ec == asio::error::broken_pipe ||
      ec == asio::error::bad_descriptor) {
    co_return;
  }
  proxy::error_response answer;
  if (ec == http::error::body_limit) {
    answer = proxy::body_too_large(st_->config.max_body);
  } else if (ec == beast::error::timeout) {
    answer = got_header ? proxy::request_refused(408,
                                                 "the request body stopped arriving for " +
                                                     std::to_string(st_->config.timeouts.client_body.count()) + " ms",
                                                 "request_timeout")
                        : proxy::request_refused(408,
                                                 "the request header section did not arrive within " +
                                                     std::to_string(st_->config.timeouts.client_header.count()) + " ms",
                                                 "request_timeout");
  } else if (const auto& v = parser.violation()) {
    const std::string_view code = v->status == 431   ? "header_too_large"
                                  : v->status == 501 ? "unsupported_transfer_coding"
                                                     : "malformed_request";
    answer = proxy::request_refused(v->status, "malformed HTTP request: " + v->reason, code);
  } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
    answer = proxy::request_refused(431, "request header fields too large", "header_too_large");
  } else {
    answer = proxy::request_refused(400, "malformed HTTP request: " + ec.message(), "malformed_request");
  }
  std::string what = got_header ? request_line(parser) : std::string("request");
  co_await refuse(std::move(what), std::move(answer), {});
}

asio::awaitable<void> session::refuse(std::string what, proxy::error_response answer,
                                      std::string_view note) {
  log::info(what + " → " + std::to_string(answer.status) + " (" + answer.code +
            (note.empty() ? std::string() : ", " + std::string(note)) + ")");
  linger_ = true;
  co_await write_error(answer, false);
}

std::optional<proxy::error_response> session::refuse_before_body(request_parser& parser,
                                                                 proxy::memory_budget::lease& lease) {
  auto& request = parser.get();
  if (request.method() == http::verb::connect) return proxy::method_not_allowed("CONNECT");
  std::string why;
  const auto target = proxy::origin_form_target(sv(request.method_string()), sv(request.target()), why);
  if (!target) return proxy::request_refused(400, "malformed HTTP request: " + why, "malformed_request");
  if (*target != sv(request.target())) request.target(*target);
  const auto domain = header_domain(request);
  if (!domain) return domain.error();
  if (*domain && !st_->allowlist.allows(**domain)) return proxy::domain_not_allowed(**domain);
  if (const auto length = parser.content_length(); length && !lease.resize(static_cast<std::size_t>(*length))) {
    return body_budget_exhausted(st_->body_budget.limit());
  }
  return std::nullopt;
}

asio::awaitable<std::optional<client_request>> session::read_request(proxy::memory_budget::lease& lease) {
  const auto tuple = asio::as_tuple(asio::use_awaitable);
  request_parser parser;
  parser.body_limit(static_cast<std::uint64_t>(st_->config.max_body));
  route_class_ = observe::route_class::other;
  client_.expires_never();
  error_code header_ec;
  parse_held(parser, header_ec);
  if (!header_ec && !parser.is_header_done()) {
    // The rest of the header section is awaited, within its deadline from now on.
    expect_within(st_->config.timeouts.client_header, on_expiry::interrupt_read);
    auto [read_ec, n] = co_await http::async_read_header(client_, buffer_, parser, tuple);
    header_ec = read_ec;
  }
  // Whichever deadline ran (the keep-alive wait's, when the header came whole) ends here:
  // routing and attestation have their own.
  deadline_.cancel();
  if (header_ec) {
    co_await answer_read_failure(deadline_.expired() ? error_code(beast::error::timeout) : header_ec, parser, false);
    co_return std::nullopt;
  }
  route_class_ = observe::classify_route(proxy::path_without_query(sv(parser.get().target())));
  if (auto refusal = refuse_before_body(parser, lease)) {
    // Refused on its header alone: the final status goes out instead of 100 Continue, and
    // the unread body makes the connection unusable for another request.
    std::string what = request_line(parser);
    co_await refuse(std::move(what), std::move(*refusal), "refused before the body");
    co_return std::nullopt;
  }
  if (!parser.is_done() && beast::iequals(parser.get()[http::field::expect], "100-continue") &&
      parser.get().version() >= 11) {
    static constexpr std::string_view continue_line = "HTTP/1.1 100 Continue\r\n\r\n";
    expect_within(st_->config.timeouts.client_body, on_expiry::close);
    if (auto [ec, n] = co_await asio::async_write(client_, asio::buffer(continue_line), tuple); ec) {
      co_return std::nullopt;
    }
    deadline_.cancel();
  }
  // The body bytes that came with the header first, in one parse, then reads.
  parser.eager(true);
  for (bool held = buffer_.size() != 0; !parser.is_done(); held = false) {
    error_code ec;
    if (held) {
      parse_held(parser, ec);
    } else {
      expect_within(st_->config.timeouts.client_body, on_expiry::interrupt_read);
      auto [read_ec, n] = co_await http::async_read_some(client_, buffer_, parser, tuple);
      ec = read_ec;
      deadline_.cancel();
    }
    if (ec) {
      co_await answer_read_failure(deadline_.expired() ? error_code(beast::error::timeout) : ec, parser, true);
      co_return std::nullopt;
    }
    // What the body holds now (a chunked body grows as it arrives); Content-Length bodies
    // were leased whole before the first byte was read.
    if (!lease.resize(std::max(lease.size(), parser.get().body().capacity()))) {
      std::string what = request_line(parser);
      auto answer = body_budget_exhausted(st_->body_budget.limit());
      co_await refuse(std::move(what), std::move(answer), "while reading the body");
      co_return std::nullopt;
    }
  }
  client_.expires_never();
  co_return parser.release();
}

asio::awaitable<void> session::run() {
  for (;;) {
    set_idle(true);
    if (st_->stopping) break;
    if (!co_await await_request()) break;
    set_idle(false);
    auto lease = st_->body_budget.open();
    auto request = co_await read_request(lease);
    if (!request) break;
    if (!co_await handle(std::move(*request))) break;
  }
  if (linger_) co_await linger_close();
  close();
}

asio::awaitable<void> session::linger_close() {
  client_.expires_after(std::chrono::seconds(2));
  co_await drain_before_close(client_, 1u << 20);
}

asio::awaitable<session::route_decision> session::route(const client_request& request, std::string_view path) {
  route_decision out;
  // The header names the backend, else the model field through the discovery list.
  auto by_header = header_domain(request);
  if (!by_header) {
    out.refusal = by_header.error();
    out.note = "(bad X-Backend-Domain)";
    co_return out;
  }
  const bool gateway_mode = st_->config.backend == backend_kind::gateway;
  // Behind the gateway a verdict is about one model: a request naming the gateway host
  // is routed by its model like any other.
  const bool header_names_gateway = *by_header && gateway_mode && **by_header == st_->config.gateway_host;
  if (*by_header && !header_names_gateway) {
    out.to = routed{{std::move(**by_header), std::nullopt}};
    co_return out;
  }
  if (const auto id = proxy::signature_lookup_id(path); !id.empty() && request.method() == http::verb::get) {
    if (auto answer = st_->signatures.answer(id)) {
      out.local_body = std::move(*answer);
      out.note = "signature answered locally with the proxy's verdict";
    } else {
      auto e = proxy::request_refused(404,
                                      "the proxy has relayed no answer with id '" + text::printable_excerpt(id, 128) +
                                          "' (name the backend with X-Backend-Domain to ask it directly)",
                                      "signature_not_found");
      out.refusal = std::move(e);
      out.note = "(signature not seen)";
    }
    co_return out;
  }
  if (path == "/v1/models" && request.method() == http::verb::get) {
    auto list = co_await st_->directory.get();
    if (!list) {
      out.refusal = proxy::backend_unreachable(list.error());
      out.note = "(no endpoint list)";
    } else {
      const auto listed_at = st_->board->discovery().last_success_at;
      out.local_body = boost::json::serialize(
          proxy::models_list(**list, listed_at.value_or(st_->dependencies.time_source->now())));
      out.note = "answered locally from the endpoint list";
    }
    co_return out;
  }
  auto lookup = proxy::find_request_model(request.body());
  if (lookup.result != proxy::model_lookup::outcome::found) {
    auto [error, why] = model_refusal(lookup);
    if (gateway_mode && lookup.result == proxy::model_lookup::outcome::missing) {
      error = proxy::bad_request("--backend gateway attests the gateway together with the model CVM behind it, so "
                                 "every request needs a JSON body with a \"model\" field (GET /v1/models lists "
                                 "them)",
                                 "missing_model");
    }
    out.refusal = std::move(error);
    out.note = std::string(why);
    co_return out;
  }
  const auto to_gateway = [&](std::string model) {
    routed r{{st_->config.gateway_host, std::move(model), true}};
    if (auto auth = request.find(http::field::authorization); auth != request.end()) {
      r.authorization = sv(auth->value());
    }
    return r;
  };
  if (header_names_gateway) {
    out.to = to_gateway(std::move(lookup.model));
    co_return out;
  }
  boost::system::result<endpoint_list, std::string> list{st_->directory.held()};
  if (!*list) list = co_await st_->directory.get();
  if (!list) {
    out.refusal = proxy::backend_unreachable("Nothing was sent: the backend for model '" + lookup.model +
                                             "' is unknown because " + list.error());
    out.note = "(no endpoint list)";
    co_return out;
  }
  const auto domain = proxy::domain_for_model(**list, lookup.model);
  if (!domain) {
    out.refusal = proxy::bad_request("model '" + lookup.model + "' is not served by any endpoint of " +
                                         model_list_url(st_->config) + " (GET /v1/models lists them)",
                                     "model_not_found");
    out.note = "(unknown model)";
    co_return out;
  }
  if (gateway_mode && *domain == st_->config.gateway_host) {
    out.to = to_gateway(std::move(lookup.model));
  } else {
    out.to = routed{{*domain, std::move(lookup.model)}};
  }
  co_return out;
}

std::optional<session::acquired> session::take_pooled(const std::string& key) {
  // One pointer captured: it fits std::function's own storage (three would be allocated).
  struct verdict_lookup {
    const attestation_gate& gate;
    const std::string& key;
    std::shared_ptr<const appraise::appraisal> appraisal{};
  } lookup{st_->gate, key};
  auto conn = st_->pool.take(key, [found = &lookup](const upstream::upstream_connection& c) {
    found->appraisal = found->gate.appraisal_of(found->key, c.spki_hex());
    return found->appraisal != nullptr;
  });
  if (!conn) return std::nullopt;
  acquired out;
  out.conn = std::move(conn);
  out.appraisal = std::move(lookup.appraisal);
  out.pooled = true;
  out.how = "pooled";
  return out;
}

asio::awaitable<session::acquired> session::acquire(const routed& route, const std::string& key) {
  acquired out;
  if (!st_->descriptor_for_backend()) {
    out.refusal = proxy::overloaded("every file descriptor the proxy may use holds a busy client or backend "
                                    "connection, so no backend connection can be opened; nothing was sent, retry "
                                    "shortly",
                                    "too_many_connections");
    out.note = "(no descriptor left for a backend connection)";
    co_return out;
  }
  auto connected = co_await st_->connect(route.domain, key);
  if (!connected) {
    const auto& e = connected.error();
    out.why = upstream::to_failure(e);
    out.refusal = proxy::refusal_response(*out.why, route.backend_name());
    out.note = "(" + route.domain + ": " + std::string(upstream::to_string(e.kind)) + ")";
    co_return out;
  }
  // Named, not temporaries in the co_await operand (GCC 12 destroys those twice).
  attestation_subject subject = route.subject();
  auto attest = [attester = st_->attester, &conn_ref = *connected, subject = std::move(subject)]() {
    return attester->attest(conn_ref, subject);
  };
  std::string key_copy = key;
  const sha256_digest spki = connected->spki_sha256();
  auto admitted = co_await st_->gate.admit(std::move(key_copy), spki, std::move(attest));
  if (!admitted) {
    out.why = admitted.error();
    out.refusal = proxy::refusal_response(admitted.error(), route.backend_name());
    out.admission_refused = true;
    co_return out;
  }
  if (client_hung_up()) {
    // Nobody is left to read the answer; the verified connection serves the next client.
    if (connected->reusable() && !st_->stopping) st_->pool.put(std::move(*connected), key);
    co_return out;
  }
  out.how = std::string(connected->resumed() ? "new (TLS resumed)" : "new") + ", attestation " +
            std::string(to_string(*admitted));
  out.conn.emplace(std::move(*connected));
  co_return out;
}

namespace {

proxy::backend_identity identity_of(const appraise::attested_entity& entity) {
  return proxy::backend_identity{entity.keys.signing_algo, entity.keys.signing_address, entity.keys.signing_public_key,
                                 entity.keys.bound, entity.model_name};
}

}  // namespace

boost::system::result<relay_integrity, proxy::error_response> session::integrity_for(
    const client_request& request, std::string_view path, const routed& route, const std::string& key,
    const upstream::upstream_connection& conn, std::shared_ptr<const appraise::appraisal> appraisal) {
  relay_integrity out;
  out.signatures = st_->config.verify_signatures;
  out.signature_wait = st_->config.signature_wait;
  if (!appraisal) appraisal = st_->gate.appraisal_of(key, conn.spki_hex());
  // E2EE seals to, and signatures must be by, the CVM that reads the prompt: behind a
  // gateway the model attestation's, not the gateway's (§5.1 steps 5-6).
  const appraise::attested_entity* entity = appraisal ? appraisal->model_entity() : nullptr;
  if (entity != nullptr) out.backend = identity_of(*entity);
  bool client_encrypts = false;
  std::optional<std::string> client_model_key;
  std::string_view content_type;
  // One pass over the fields (a lookup by name walks Beast's tree with a case-insensitive
  // comparison at every node). The E2EE fields are names Beast does not register.
  for (const auto& f : request.base()) {
    if (f.name() == http::field::content_type) {
      if (content_type.empty()) content_type = sv(f.value());
      continue;
    }
    if (f.name() != http::field::unknown) continue;
    const std::string_view name(f.name_string().data(), f.name_string().size());
    if (text::ascii_iequals(name, "X-Client-Pub-Key") || text::ascii_iequals(name, "X-Signing-Algo")) {
      client_encrypts = true;
    }
    if (text::ascii_iequals(name, "X-Model-Pub-Key")) client_model_key = sv(f.value());
  }
  const proxy::request_facts facts{sv(request.method_string()), path, content_type, request.body(), client_encrypts};
  auto plan = proxy::plan_request(facts, st_->config.e2ee, st_->config.verify_signatures,
                                  entity != nullptr ? &out.backend : nullptr);
  if (!plan) return plan.error();
  out.plan = std::move(*plan);
  if (route.gateway) {
    const auto pinned = proxy::pin_gateway_model(out.plan, entity != nullptr ? &out.backend : nullptr,
                                                 client_encrypts ? client_model_key : std::nullopt);
    if (!pinned) return pinned.error();
    relay_integrity::via_gateway via{route.model.value_or(""), std::nullopt, *pinned};
    // What the gateway signs itself is only what it sent: acceptable for a request it
    // could read anyway, never for one sealed to the model (§5.2).
    const appraise::attested_entity* gateway = appraisal ? appraisal->connection_entity() : nullptr;
    if (gateway != nullptr && gateway != entity && out.plan.e2ee == proxy::e2ee_applied::none) {
      via.own_signer = identity_of(*gateway);
    }
    out.gateway = std::move(via);
  }
  // What only the signature lookup uses (built for it alone).
  if (out.plan.verify_signature) {
    if (auto auth = request.find(http::field::authorization); auth != request.end()) {
      out.authorization = std::string(auth->value());
    }
    // A backend that closed the connection after its answer is asked on a new one, taken
    // only if it presents the same attested key (the SPKI the signer is bound to).
    using reconnected = boost::system::result<upstream::upstream_connection, std::string>;
    out.reconnect = [self = st_, domain = route.domain, key,
                     spki = conn.spki_sha256()]() -> asio::awaitable<reconnected> {
      auto connected = co_await self->connect(domain, key);
      if (!connected) co_return "reconnecting failed: " + connected.error().message;
      if (connected->spki_sha256() != spki || !self->gate.is_fresh(key, spki)) {
        co_return std::string(
            "the backend closed the connection, and a new one reached another key (another instance, which did not "
            "sign this answer)");
      }
      co_return std::move(*connected);
    };
  }
  out.response_fields = {{"X-Verified-Backend", route.domain},
                         {"X-Verified-Backend-Key", "sha256:" + conn.spki_hex()},
                         {"X-E2EE", out.plan.label}};
  if (route.gateway && entity != nullptr) {
    // The model CVM behind the gateway, by the signing identity its quote binds.
    out.response_fields.emplace_back(
        "X-Verified-Model-Key", attest::format_signing_address(entity->keys.signing_algo, entity->keys.signing_address));
  }
  return out;
}

std::string session::note_integrity(const std::string& domain, const integrity_report& report) {
  std::string words;
  if (report.e2ee != "none") {
    words += ", e2ee " + report.e2ee;
    if (report.fields_opened > 0) words += " (" + std::to_string(report.fields_opened) + " fields decrypted)";
  }
  if (!report.signature) return words;
  const signature_outcome& s = *report.signature;
  st_->board->count_signature(to_string(s.status));
  words += ", signature " + std::string(to_string(s.status));
  if (!s.kind.empty()) words += " (" + s.kind + ")";
  if (s.status != signature_status::valid) words += ": " + s.failed_check + ": " + s.detail;
  if (report.chat_id) {
    st_->signatures.record(*report.chat_id,
                           proxy::signature_record{domain, s.document.value_or(""), std::string(to_string(s.status)),
                                                   s.failed_check, s.detail, report.e2ee, report.request_sha256,
                                                   report.response_sha256});
  }
  return words;
}

asio::awaitable<bool> session::handle(client_request request) {
  const auto started = steady::now();
  const bool keep = request.keep_alive();
  // Views into `request`, which nothing changes from here on.
  const std::string_view method = sv(request.method_string());
  const std::string_view path = proxy::path_without_query(sv(request.target()));
  route_class_ = observe::classify_route(path);
  const auto finish_local = [&](const proxy::error_response& e, std::string_view why) -> asio::awaitable<bool> {
    log::info(std::string(method) + " " + std::string(path) + " → " + std::to_string(e.status) + " " +
              std::string(why) + " in " + text::elapsed_since(started));
    co_return co_await write_error(e, keep);
  };
  // The reserved prefix is the proxy's own whatever the request names (X-Backend-Domain
  // included): nothing under it is ever forwarded.
  if (observe::is_local_path(path)) co_return co_await answer_local(request, path, keep);

  auto decided = co_await route(request, path);
  if (decided.local_body) {
    log::info(std::string(method) + " " + std::string(path) + " → 200 (" + decided.note + ") in " +
              text::elapsed_since(started));
    answered(200);
    co_return co_await write_local(200, std::move(*decided.local_body), keep);
  }
  if (decided.refusal) co_return co_await finish_local(*decided.refusal, decided.note);
  routed route = std::move(*decided.to);
  // Every route's domain is a normalized host: X-Backend-Domain's, an endpoint list's,
  // --gateway-host's.
  if (!st_->allowlist.allows_normalized(route.domain)) {
    co_return co_await finish_local(proxy::domain_not_allowed(route.domain), "(" + route.domain + " not allowed)");
  }
  // What the verdict and the pooled connections are about.
  const std::string key = route.verdict_key();
  // For log lines only: built when one is written.
  const auto arrow = [&] { return std::string(method) + " " + std::string(path) + " → " + route.domain; };

  // Upstream: a pooled connection whose key is still verified, else a new one admitted by
  // the gate. A pooled connection the backend had dropped is retried once on a new one.
  for (int attempt = 0;; ++attempt) {
    std::optional<acquired> pooled_one = attempt == 0 ? take_pooled(key) : std::nullopt;
    acquired got;
    if (pooled_one) {
      got = std::move(*pooled_one);
    } else {
      got = co_await acquire(route, key);
    }
    if (got.refusal) {
      if (got.why) domain_failed(route.domain, got.refusal->status, observe::to_record(*got.why));
      if (!got.admission_refused) co_return co_await finish_local(*got.refusal, got.note);
      log::info(arrow() + " " + std::to_string(got.refusal->status) + " (not verified) in " +
                text::elapsed_since(started));
      co_return co_await write_error(*got.refusal, keep);
    }
    if (!got.conn) {
      // The client left while the backend was being attested: its request must not run (a
      // generation nobody reads is still paid for).
      log::info(arrow() + " not forwarded: the client closed its connection during the attestation (" +
                text::elapsed_since(started) + ")");
      answered(0, "client_closed");
      co_return false;
    }
    auto& conn = got.conn;
    const bool pooled = got.pooled;
    const std::string& how = got.how;

    // What protects this request end to end depends on the key this very connection's
    // CVM attested: decided per connection, never carried over from another one.
    auto integrity = integrity_for(request, path, route, key, *conn, std::move(got.appraisal));
    if (!integrity) {
      const auto& e = integrity.error();
      log::warn(arrow() + " " + std::to_string(e.status) + " " + e.code + " in " + text::elapsed_since(started) +
                " (nothing forwarded)");
      if (e.status >= 500) domain_failed(route.domain, e.status, {e.code, "e2ee", e.message, {}, true});
      if (conn->reusable() && !st_->stopping) st_->pool.put(std::move(*conn), key);
      co_return co_await write_error(e, keep);
    }
    if (integrity->plan.e2ee == proxy::e2ee_applied::sealed) st_->board->count_e2ee_sealed();

    auto result = co_await relay(client_, *conn, request, st_->config.timeouts, !st_->stopping, &*integrity,
                                 st_->board.get(), &deadline_, &st_->watches);
    if (const auto* done = std::get_if<relay_completed>(&result)) {
      // take() hands it out again only while its key's verdict is fresh.
      if (conn->reusable() && !st_->stopping) st_->pool.put(std::move(*conn), key);
      const std::string checked = note_integrity(route.domain, done->integrity);
      const bool doubtful = done->integrity.signature && done->integrity.signature->status != signature_status::valid;
      // Built only when it is written: at --log-level warn a relayed request formats nothing.
      if (const auto level = doubtful ? log::level::warn : log::level::info; log::enabled(level)) {
        log::write(level, arrow() + " " + std::to_string(done->status) + " in " + text::elapsed_since(started) + " (" +
                              (done->streamed ? "streamed " : "") + std::to_string(done->body_bytes) +
                              " bytes, connection " + how + checked + ")");
      }
      answered(done->status);
      st_->board->count_forwarded();
      co_return done->client_reusable;
    }
    if (const auto* refused = std::get_if<relay_refused>(&result)) {
      using resend = relay_refused::resend;
      if (attempt == 0 && (refused->may_resend == resend::safe || (refused->may_resend == resend::if_pooled && pooled))) {
        log::debug(arrow() + ": " + refused->detail + "; retrying on a new connection");
        continue;
      }
      if (attempt == 0 && refused->may_resend == resend::after_reattestation) {
        // The verdict named a model key the gateway no longer routes to: attest anew (the
        // report then names the current replica's key) and send once more.
        st_->gate.forget(key, conn->spki_sha256());
        log::info(arrow() + ": " + refused->detail + "; attesting again and resending once");
        continue;
      }
      const std::string checked = refused->integrity ? note_integrity(route.domain, *refused->integrity) : "";
      log::warn(arrow() + " " + std::to_string(refused->answer.status) + " in " + text::elapsed_since(started) + ": " +
                refused->detail + checked);
      if (refused->answer.status >= 500) {
        domain_failed(route.domain, refused->answer.status,
                      {refused->answer.code, "relay", refused->answer.message, {}, true});
      }
      co_return co_await write_error(refused->answer, keep);
    }
    const auto& cut = std::get<relay_cut_short>(result);
    const std::string checked = cut.integrity ? note_integrity(route.domain, *cut.integrity) : "";
    log::warn(arrow() + " " + (cut.status ? std::to_string(cut.status) + " " : std::string()) + "cut short after " +
              std::to_string(cut.body_bytes) + " bytes in " + text::elapsed_since(started) + ": " +
              (cut_reason_ ? std::string(cut_reason_) : cut.detail) + checked);
    const bool backend_failed = cut.why == relay_cut_short::cause::upstream_failed;
    answered(cut.status, backend_failed ? "cut_short" : "client_closed");
    if (cut.status != 0) st_->board->count_forwarded();
    if (backend_failed) domain_failed(route.domain, cut.status, {"cut_short", "relay", cut.detail, {}, true});
    co_return false;
  }
}

asio::awaitable<bool> session::answer_local(const client_request& request, std::string_view path,
                                            bool keep_alive) {
  const auto started = steady::now();
  const std::string what = std::string(sv(request.method_string())) + " " + std::string(path);
  const auto host = request.find(http::field::host);
  const std::string host_value = host == request.end() ? std::string() : std::string(sv(host->value()));
  std::optional<proxy::error_response> refusal;
  const auto endpoint = observe::find_local_endpoint(path);
  if (!observe::is_local_host(host_value, st_->config.listen_host)) {
    // DNS rebinding: a page the user visits can resolve its own name to 127.0.0.1, but the
    // browser still names it in Host.
    refusal = proxy::forbidden("/_proxy/ answers only requests for a loopback host or the listen address, not Host: " +
                                   text::quoted_excerpt(host_value, 100) + " (a web page may have rebound its name)",
                               "host_not_local");
  } else if (!endpoint) {
    refusal = proxy::request_refused(404,
                                     "the proxy has no endpoint " + text::quoted_excerpt(path, 100) +
                                         "; under /_proxy/ it serves /_proxy/ (status page), /_proxy/status, "
                                         "/_proxy/healthz and /_proxy/metrics",
                                     "not_found");
  } else if (request.method() != http::verb::get) {
    refusal = proxy::request_refused(405, "the proxy's own endpoints answer GET only", "method_not_allowed");
    refusal->fields.emplace_back("Allow", "GET");
  }
  if (refusal) {
    log::info(what + " → " + std::to_string(refusal->status) + " (" + refusal->code + ") in " +
              text::elapsed_since(started));
    co_return co_await write_error(*refusal, keep_alive);
  }

  unsigned status = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> fields = {{"Cache-Control", "no-store"},
                                                             {"X-Content-Type-Options", "nosniff"}};
  switch (*endpoint) {
    case observe::local_endpoint::page:
      body = std::string(observe::status_page_html());
      fields.emplace_back("Content-Type", "text/html; charset=utf-8");
      fields.emplace_back("Content-Security-Policy", observe::status_page_csp());
      fields.emplace_back("Referrer-Policy", "no-referrer");
      fields.emplace_back("X-Frame-Options", "DENY");
      break;
    case observe::local_endpoint::status: {
      const auto snapshot = co_await st_->snapshot();
      body = observe::render_status_json(snapshot);
      break;
    }
    case observe::local_endpoint::metrics: {
      const auto snapshot = co_await st_->snapshot();
      body = observe::render_prometheus(snapshot);
      fields.emplace_back("Content-Type", std::string(observe::prometheus_content_type));
      break;
    }
    case observe::local_endpoint::healthz: {
      // Answered from what is known now, never after a fetch: a monitor must get an answer
      // within its own timeout. A due refresh starts in the background.
      st_->directory.refresh_if_due();
      const auto list = st_->board->discovery();
      boost::json::object health;
      if (st_->stopping) {
        status = 503;
        health = {{"status", "unavailable"}, {"reason", "the proxy is stopping"}};
      } else if (!list.usable) {
        status = 503;
        const std::string why = list.last_error.empty() ? "not fetched yet" : text::valid_utf8(list.last_error);
        health = {{"status", "unavailable"},
                  {"reason", "no model list from " + text::valid_utf8(model_list_url(st_->config)) + ": " + why}};
      } else {
        health = {{"status", "ok"}};
      }
      body = boost::json::serialize(health);
      break;
    }
  }
  log::debug(what + " → " + std::to_string(status) + " (answered by the proxy) in " + text::elapsed_since(started));
  answered(status);
  co_return co_await write_local(status, std::move(body), keep_alive, true, fields);
}

// ---------------------------------------------------------------------------------------
// The server.

asio::awaitable<upstream::result<upstream::upstream_connection>> proxy_server::state::connect(std::string domain,
                                                                                             std::string verdict_key) {
  auto options = connect_options_for(config, domain);
  // A session is resumed only while the verdict on its server's key is fresh (the
  // argument is connect_upstream's); the connection then passes the gate as any other.
  if (config.tls_resumption) {
    options.resume_if = [this, key = std::move(verdict_key)](const sha256_digest& spki) {
      return gate.is_fresh(key, spki);
    };
  }
  pool.make_room_for_one();
  board->count_upstream_created();
  co_return co_await upstream::connect_upstream(executor, tls, std::move(domain), config.upstream_port, options);
}

void proxy_server::state::session_ended() {
  if (stopping && sessions.empty() && !drained) {
    drained = true;
    grace_timer.cancel();
    pool.clear();
    shared->shard_drained();
  }
}

namespace {

asio::awaitable<shard_gauges> read_gauges(std::shared_ptr<proxy_server::state> shard) { co_return shard->gauges(); }

}  // namespace

asio::awaitable<shard_gauges> proxy_server::state::all_gauges() {
  shard_gauges total;
  for (const auto& weak : shared->shards) {
    const auto shard = weak.lock();
    if (!shard) continue;
    if (shard.get() == this) {
      total += gauges();
      continue;
    }
    // Read on the shard's own thread (its lists and pool are not thread-safe); this
    // coroutine resumes on its own.
    auto reading = read_gauges(shard);
    const shard_gauges theirs = co_await asio::co_spawn(shard->executor, std::move(reading), asio::use_awaitable);
    total += theirs;
  }
  co_return total;
}

asio::awaitable<observe::status_snapshot> proxy_server::state::snapshot() {
  const shard_gauges g = co_await all_gauges();
  co_return board->snapshot(dependencies.time_source->now(),
                            observe::live_gauges{open_connections(), g.idle_sessions, g.upstream_open,
                                                 g.upstream_pooled});
}

void proxy_server::state::reclaim_idle(std::size_t at_most) {
  for (std::size_t i = 0; i < at_most && !idle_sessions.empty(); ++i) {
    idle_sessions.front()->cut("closed while idle to make room for another client");
  }
}

void proxy_server::state::make_room() {
  const std::size_t limit = client_limit();
  const std::size_t near = limit - limit / 10;
  if (open_connections() >= near) reclaim_idle(std::min(open_connections() + 1 - near, max_reclaimed_per_accept));
}

void proxy_server::state::refuse(tcp::socket socket) {
  count_event(refused_key);
  // Beyond this many answers in flight the socket is just closed: their descriptors come
  // out of a fixed reserve.
  if (refusals_in_flight >= max_refusals_in_flight) return;
  ++refusals_in_flight;
  const auto e = proxy::too_many_connections(config.max_client_connections);
  auto response = local_response(e.status, e.body, false, e.retryable, e.fields);
  net::spawn_logged(
      executor,
      [self = shared_from_this(), s = std::move(socket), r = std::move(response)]() mutable -> asio::awaitable<void> {
        struct release {
          state& st;
          ~release() { --st.refusals_in_flight; }
        } released{*self};
        co_await answer_refused(std::move(s), std::move(r));
      },
      "connection refusal");
}

void proxy_server::state::count_event(std::string_view key) {
  if (const auto summary = log_limiter.record(key)) {
    report(key, *summary);
  } else {
    arm_log_flush();
  }
}

void proxy_server::state::report(std::string_view key, const log::rate_limiter::summary& s) {
  const std::string when = s.events == 1 ? std::string() : " in the last " + seconds_text(s.span);
  const std::string open = std::to_string(open_connections()) + " open (limit " +
                           std::to_string(config.max_client_connections) + ")";
  if (key == refused_key) {
    log::warn("refused " + std::to_string(s.events) + (s.events == 1 ? " client connection" : " client connections") +
              when + ": " + open);
  } else {
    log::warn("accept failed " + std::to_string(s.events) + (s.events == 1 ? " time" : " times") + when + ": " +
              last_accept_error + "; client connections: " + open);
  }
}

void proxy_server::state::arm_log_flush() {
  if (log_flush_armed) return;
  std::optional<log::rate_limiter::time_point> due;
  for (const auto key : {refused_key, accept_failed_key}) {
    if (const auto d = log_limiter.due(key); d && (!due || *d < *due)) due = d;
  }
  if (!due) return;
  log_flush_armed = true;
  log_flush_timer.expires_at(*due);
  log_flush_timer.async_wait([weak = weak_from_this()](error_code ec) {
    const auto st = weak.lock();
    if (!st) return;
    st->log_flush_armed = false;
    if (ec) return;
    for (const auto key : {refused_key, accept_failed_key}) {
      if (const auto summary = st->log_limiter.flush(key)) st->report(key, *summary);
    }
    st->arm_log_flush();
  });
}

asio::awaitable<void> proxy_server::state::accept_loop() {
  auto self = shared_from_this();
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (stopping) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      const bool out_of_descriptors =
          ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system;
      last_accept_error = out_of_descriptors ? "out of file descriptors" : ec.message();
      // The client waiting in the backlog needs a descriptor more than an idle one does.
      if (out_of_descriptors) reclaim_idle(1);
      count_event(accept_failed_key);
      // Back off briefly instead of spinning.
      asio::steady_timer pause(executor, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    make_room();
    if (!reserve_client()) {
      refuse(std::move(socket));
      continue;
    }
    error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    // The session reads a socket it was told is readable directly (await_request).
    socket.non_blocking(true, ignored);
    // Counted (reserved above) and registered now, not when its coroutine first runs, so
    // that connections accepted in a burst are counted against the limit.
    net::spawn_logged(
        executor,
        [sess = std::make_unique<session>(self, std::move(socket))]() mutable -> asio::awaitable<void> {
          co_await sess->run();
        },
        "client session");
  }
}

proxy_server::proxy_server(asio::any_io_executor executor, proxy_config config, proxy_dependencies dependencies)
    : proxy_server(std::vector<asio::any_io_executor>{std::move(executor)}, std::move(config),
                   std::move(dependencies)) {}

proxy_server::proxy_server(std::vector<asio::any_io_executor> shard_executors, proxy_config config,
                           proxy_dependencies dependencies) {
  if (shard_executors.empty()) throw std::invalid_argument("proxy_server: at least one executor is required");
  if (!dependencies.collateral || !dependencies.anchor || !dependencies.time_source) {
    throw std::invalid_argument("proxy_server: collateral source, trust anchor and clock are required");
  }
  if (config.backend == backend_kind::gateway && config.e2ee == proxy::e2ee_mode::off) {
    // The gateway would read every prompt: gateway mode exists to relay only ciphertext.
    throw std::invalid_argument("--backend gateway needs end-to-end encryption (--e2ee required or on), not --e2ee off");
  }
  auto services = std::make_shared<shared_services>(shard_executors.front(), std::move(config), std::move(dependencies));
  for (auto& executor : shard_executors) {
    shards_.push_back(std::make_shared<state>(std::move(executor), services));
    services->shards.push_back(shards_.back());
  }
}

proxy_server::~proxy_server() {
  for (const auto& shard : shards_) {
    if (shard->stopping) continue;
    shard->stopping = true;
    error_code ec;
    shard->acceptor.close(ec);
    for (auto* s : shard->sessions) s->close();
  }
}

namespace {

/// Opens, binds and listens; with `share_port`, SO_REUSEPORT first, so that every shard's
/// acceptor can bind the same address and the kernel spreads new connections over them.
void listen_on(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, bool share_port, const std::string& where) {
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && share_port) {
    const int on = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      ec.assign(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::system_error(ec, "cannot listen on " + where);
}

}  // namespace

void proxy_server::start() {
  auto& first = *shards_.front();
  error_code ec;
  const auto address = asio::ip::make_address(first.config.listen_host, ec);
  if (ec) throw std::system_error(ec, "--host '" + first.config.listen_host + "' is not an IP address");
  const bool share_port = shards_.size() > 1;
  // --port 0: the first shard binds an ephemeral port, the others bind that one.
  std::uint16_t port = first.config.listen_port;
  for (const auto& shard : shards_) {
    const std::string where = first.config.listen_host + ":" + std::to_string(port);
    listen_on(shard->acceptor, tcp::endpoint(address, port), share_port, where);
    if (port == 0) port = shard->acceptor.local_endpoint().port();
  }
  if (const auto bound = first.acceptor.local_endpoint(ec); !ec) first.board->listening_on(address_text(bound));
  first.directory.start();
  for (const auto& shard : shards_) net::spawn_logged(shard->executor, shard->accept_loop(), "accept loop");
}

std::uint16_t proxy_server::port() const {
  error_code ec;
  const auto ep = shards_.front()->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void proxy_server::stop(std::function<void()> done) {
  auto& services = *shards_.front()->shared;
  {
    const std::lock_guard lock(services.stop_mutex);
    if (services.stop_requested) {
      if (done) asio::post(services.control, std::move(done));
      return;
    }
    services.stop_requested = true;
    services.on_stopped = std::move(done);
    services.stopping_work = asio::prefer(services.control, asio::execution::outstanding_work.tracked);
    services.shards_draining = shards_.size();
  }
  // Each shard stops on its own thread; the calling shard's part runs now.
  for (const auto& shard : shards_) asio::dispatch(shard->executor, [shard] { shard->begin_stop(); });
}

void proxy_server::state::begin_stop() {
  stopping = true;
  error_code ec;
  acceptor.close(ec);
  pool.clear();
  // Snapshot: closing may end sessions (and unlink them) as handlers run later.
  std::size_t busy = 0;
  for (auto* s : std::vector<session*>(sessions.begin(), sessions.end())) {
    if (s->idle()) {
      s->cut("the proxy is stopping");
    } else {
      ++busy;
    }
  }
  if (busy != 0) {
    log::info("waiting up to " + std::to_string(config.shutdown_grace.count()) + " s for " + std::to_string(busy) +
              " request(s) in flight");
  }
  grace_timer.expires_after(config.shutdown_grace);
  grace_timer.async_wait([weak = weak_from_this()](error_code wait_ec) {
    auto s = weak.lock();
    if (!s || wait_ec) return;
    if (!s->sessions.empty())
      log::warn("shutdown grace expired: closing " + std::to_string(s->sessions.size()) + " connection(s)");
    for (auto* sess : std::vector<session*>(s->sessions.begin(), s->sessions.end())) {
      sess->cut("cut when the shutdown grace expired");
    }
  });
  session_ended();
}

proxy_statistics proxy_server::statistics() const {
  shard_gauges g;
  std::size_t serving = 0;
  for (const auto& shard : shards_) {
    shard_gauges theirs;
    if (shards_.size() == 1) {
      theirs = shard->gauges();
    } else {
      std::promise<shard_gauges> read;
      auto reading = read.get_future();
      asio::dispatch(shard->executor, [&read, shard] { read.set_value(shard->gauges()); });
      theirs = reading.get();
    }
    if (theirs.sessions != 0) ++serving;
    g += theirs;
  }
  const auto& st = *shards_.front();
  const auto s = st.board->snapshot(st.dependencies.time_source->now());
  return {st.gate.attestation_count(),
          s.requests_answered,
          s.upstream_created,
          g.upstream_pooled,
          g.sessions,
          g.idle_sessions,
          s.signatures_valid,
          s.signatures_invalid,
          s.signatures_unavailable,
          s.e2ee_sealed,
          serving};
}

}  // namespace vp::server
