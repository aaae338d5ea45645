#include "upstream/attested_connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/hex.hpp"
#include "core/log.hpp"
#include "core/text.hpp"
#include "crypto/x509.hpp"
#include "net/bounded_parser.hpp"
#include "net/http_read.hpp"
#include "net/resolve.hpp"
#include "net/tls_client.hpp"
#include "net/tls_diagnostics.hpp"

namespace vp::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using steady = std::chrono::steady_clock;

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::unreachable: return "unreachable";
    case errc::tls: return "tls";
    case errc::timeout: return "timeout";
    case errc::protocol: return "protocol";
    case errc::too_large: return "too_large";
    case errc::http_status: return "http_status";
    case errc::unauthorized: return "unauthorized";
    case errc::internal: return "internal";
  }
  return "unknown";
}

std::string_view to_string(phase p) noexcept {
  switch (p) {
    case phase::connect: return "connect";
    case phase::tls: return "tls";
    case phase::attestation: return "attestation";
  }
  return "connect";
}

void throw_exception_from_error(const error& e, const boost::source_location&) {
  throw std::runtime_error("upstream " + std::string(to_string(e.kind)) + ": " + e.message);
}

namespace {

errc to_errc(net::read_failure::kind k) {
  switch (k) {
    case net::read_failure::kind::timeout: return errc::timeout;
    case net::read_failure::kind::too_large: return errc::too_large;
    case net::read_failure::kind::protocol: break;
  }
  return errc::protocol;
}

// ALPN wire format: length-prefixed protocol names.
constexpr unsigned char alpn_http11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};


std::string host_port(std::string_view host, std::uint16_t port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  return (v6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + std::to_string(port);
}

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// TLS context

namespace {

struct session_free {
  void operator()(SSL_SESSION* s) const noexcept { ::SSL_SESSION_free(s); }
};
using session_ptr = std::unique_ptr<SSL_SESSION, session_free>;

/// Sessions a server gave us, to resume later connections with (RFC 8446 §2.2). Per
/// dialled address and SNI, so that a session is only ever offered to the server (and for
/// the name) it was made with; a few per peer, each taken out when offered (RFC 8446
/// §C.4: a ticket is used once); bounded in all. Thread-safe: the new-session callback
/// runs on whichever thread reads the connection.
class session_cache {
 public:
  static constexpr std::size_t max_peers = 256;
  static constexpr std::size_t max_per_peer = 4;

  void store(const std::string& peer, session_ptr session, const sha256_digest& spki) {
    const std::lock_guard lock(mutex_);
    auto it = by_peer_.find(peer);
    if (it == by_peer_.end()) {
      if (by_peer_.size() >= max_peers) by_peer_.erase(by_peer_.begin());
      it = by_peer_.try_emplace(peer).first;
    }
    auto& list = it->second;
    if (list.size() >= max_per_peer) list.pop_front();
    list.push_back({std::move(session), spki});
  }

  /// The newest session for `peer` whose server key passes `offer_if`; the ones that do
  /// not are dropped.
  session_ptr take(const std::string& peer, const std::function<bool(const sha256_digest&)>& offer_if) {
    for (;;) {
      cached candidate;
      {
        const std::lock_guard lock(mutex_);
        const auto it = by_peer_.find(peer);
        if (it == by_peer_.end()) return nullptr;
        candidate = std::move(it->second.back());
        it->second.pop_back();
        if (it->second.empty()) by_peer_.erase(it);
      }
      if (offer_if(candidate.spki)) return std::move(candidate.session);
    }
  }

 private:
  struct cached {
    session_ptr session;
    sha256_digest spki{};
  };
  std::mutex mutex_;
  std::map<std::string, std::deque<cached>> by_peer_;
};

}  // namespace

struct tls_client_context::state {
  tls_client_options options;
  std::shared_ptr<ssl::context> context;
  std::atomic<std::size_t> connections{0};
  std::shared_ptr<std::atomic<std::size_t>> group;
  session_cache sessions;
};

namespace {

/// Where a connection that may resume says which cache entry its sessions go to.
int resumption_index() {
  static const int index = ::SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

int remember_session(SSL* ssl, SSL_SESSION* session);

}  // namespace

tls_client_context::tls_client_context(tls_client_options options, std::shared_ptr<std::atomic<std::size_t>> group)
    : state_(std::make_shared<state>()) {
  state_->options = std::move(options);
  state_->group = std::move(group);
  state_->context = net::make_tls_client_context(state_->options, "upstream TLS");
  SSL_CTX* ctx = state_->context->native_handle();
  // The client side of the session cache, kept by remember_session (OpenSSL's internal
  // store is for servers; a client must choose which session to offer to whom).
  ::SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  ::SSL_CTX_sess_set_new_cb(ctx, remember_session);
  if (resumption_index() < 0) throw std::runtime_error("upstream TLS: cannot register the session cache");
}

const tls_client_options& tls_client_context::options() const { return state_->options; }

std::size_t tls_client_context::open_connections() const { return state_->connections.load(); }

std::size_t tls_client_context::open_in_group() const {
  return state_->group ? state_->group->load(std::memory_order_relaxed) : open_connections();
}

// ---------------------------------------------------------------------------------------
// Connection

struct upstream_connection::state {
  std::shared_ptr<tls_client_context::state> tls;  // the SSL_CTX outlives the stream
  stream_type stream;
  beast::flat_buffer buffer{net::max_read_buffer_bytes};
  std::string host;
  std::uint16_t port = 0;
  std::string dialled;
  sha256_digest spki{};
  std::string spki_hex;
  crypto::x509_ptr peer;
  bool reusable = true;
  /// The first hazard settle_post_handshake_messages found: it consumed part of what
  /// arrived, so the connection stays condemned even if its caller asks again.
  std::optional<std::string> hazard;
  /// The session cache entry this connection's sessions are kept under (connect_options::
  /// resume_if given; "" = none are kept), and whether its handshake resumed one.
  std::string resumption_peer;
  bool resumed = false;

  state(asio::any_io_executor ex, std::shared_ptr<tls_client_context::state> t)
      : tls(std::move(t)), stream(std::move(ex), *tls->context) {
    ++tls->connections;
    if (tls->group) tls->group->fetch_add(1, std::memory_order_relaxed);
  }
  ~state() {
    --tls->connections;
    if (tls->group) tls->group->fetch_sub(1, std::memory_order_relaxed);
  }
  state(const state&) = delete;
  state& operator=(const state&) = delete;
};

namespace {

int remember_session(SSL* ssl, SSL_SESSION* session) {
  const auto* conn = static_cast<const upstream_connection::state*>(::SSL_get_ex_data(ssl, resumption_index()));
  X509* peer = ::SSL_SESSION_get0_peer(session);
  if (conn == nullptr || conn->resumption_peer.empty() || peer == nullptr || ::SSL_SESSION_is_resumable(session) != 1) {
    return 0;
  }
  // A copy: OpenSSL marks the connection's current session not resumable when the
  // connection is freed without a close_notify (the pool closes idle connections
  // without one), the SSL 3.0 rule RFC 5246 §7.2.1 dropped ("failure to properly close a
  // connection no longer requires that a session not be resumed"; TLS 1.3 has no such rule).
  session_ptr copy(::SSL_SESSION_dup(session));
  if (!copy) return 0;
  conn->tls->sessions.store(conn->resumption_peer, std::move(copy), crypto::spki_sha256(peer));
  return 0;  // OpenSSL keeps its reference to the original
}

}  // namespace

upstream_connection::upstream_connection(std::unique_ptr<state> s) : s_(std::move(s)) {}
upstream_connection::upstream_connection(upstream_connection&&) noexcept = default;
upstream_connection& upstream_connection::operator=(upstream_connection&&) noexcept = default;
upstream_connection::~upstream_connection() = default;

upstream_connection::stream_type& upstream_connection::stream() { return s_->stream; }
beast::flat_buffer& upstream_connection::buffer() { return s_->buffer; }
const std::string& upstream_connection::host() const { return s_->host; }
std::uint16_t upstream_connection::port() const { return s_->port; }
const std::string& upstream_connection::dialled() const { return s_->dialled; }
std::string upstream_connection::host_header() const {
  return s_->port == 443 ? s_->host : host_port(s_->host, s_->port);
}
const sha256_digest& upstream_connection::spki_sha256() const { return s_->spki; }
const std::string& upstream_connection::spki_hex() const { return s_->spki_hex; }
bool upstream_connection::resumed() const { return s_->resumed; }
X509* upstream_connection::peer_certificate() const { return s_->peer.get(); }
bool upstream_connection::reusable() const { return s_->reusable; }
void upstream_connection::mark_not_reusable() { s_->reusable = false; }

namespace {

/// What OpenSSL reported, through its message callback, while settling a connection.
struct settled_messages {
  std::size_t tickets = 0;    ///< NewSessionTicket (RFC 8446 §4.6.1)
  std::size_t key_updates = 0;  ///< KeyUpdate (RFC 8446 §4.6.3)
  bool other_handshake = false;  ///< any other handshake message (a TLS 1.2 HelloRequest, …)
  bool alert = false;
};

void note_inbound_message(int write_p, int /*version*/, int content_type, const void* buf, std::size_t len, SSL*,
                          void* arg) {
  if (write_p != 0) return;
  auto& seen = *static_cast<settled_messages*>(arg);
  if (content_type == SSL3_RT_ALERT) seen.alert = true;
  if (content_type != SSL3_RT_HANDSHAKE || len == 0) return;
  switch (*static_cast<const unsigned char*>(buf)) {
    case SSL3_MT_NEWSESSION_TICKET: ++seen.tickets; break;
    case SSL3_MT_KEY_UPDATE: ++seen.key_updates; break;
    default: seen.other_handshake = true; break;
  }
}

}  // namespace

std::optional<std::string> upstream_connection::settle_post_handshake_messages() {
  auto& socket = beast::get_lowest_layer(s_->stream).socket();
  error_code ec;
  // A TLS 1.3 server sends its session tickets after the handshake, at a moment of its
  // choosing; a connection that has not read since (admitted by a cached verdict, its
  // client gone before the request was written) finds them on the socket. They are TLS's
  // own messages, no byte of any HTTP answer: OpenSSL reads them (and keeps the tickets
  // for resumption) when asked for application data. The socket is put in non-blocking
  // mode for that one read, so this never waits: what is not there yet ends it with
  // would_block. Anything but those messages — application data, an alert (close_notify
  // included), a TLS 1.2 HelloRequest — is a hazard, and the read that saw it consumed
  // part of it, so the connection is poisoned for good.
  settled_messages seen;
  SSL* ssl = s_->stream.native_handle();
  ::SSL_set_msg_callback(ssl, note_inbound_message);
  ::SSL_set_msg_callback_arg(ssl, &seen);
  std::size_t data = 0;
  socket.non_blocking(true, ec);
  if (!ec) {
    char probe = 0;
    data = s_->stream.read_some(asio::buffer(&probe, 1), ec);
    error_code ignored;
    socket.non_blocking(false, ignored);
  }
  ::SSL_set_msg_callback(ssl, nullptr);
  ::SSL_set_msg_callback_arg(ssl, nullptr);
  if (data != 0) return "application data nobody asked for arrived";
  if (seen.alert || ec == asio::error::eof || ec == ssl::error::stream_truncated) {
    return "the backend sent an alert or closed the connection";
  }
  if (seen.other_handshake) return "the backend sent a handshake message other than a session ticket or key update";
  if (ec != asio::error::would_block && ec != asio::error::try_again) return "reading what arrived failed: " + ec.message();
  if (log::enabled(log::level::debug)) {
    log::debug("upstream connection to " + s_->host + " (" + s_->dialled + "): consumed " +
               std::to_string(seen.tickets) + " session ticket(s) and " + std::to_string(seen.key_updates) +
               " key update(s) that arrived after the handshake");
  }
  return std::nullopt;
}

std::size_t upstream_connection::read_arrived(asio::mutable_buffer into) {
  SSL* ssl = s_->stream.native_handle();
  BIO* rbio = ::SSL_get_rbio(ssl);
  if (::SSL_pending(ssl) <= 0 && (rbio == nullptr || BIO_ctrl_pending(rbio) == 0)) return 0;
  const int size = static_cast<int>(std::min<std::size_t>(into.size(), 1 << 30));
  ::ERR_clear_error();
  const int n = ::SSL_read(ssl, into.data(), size);
  if (n > 0) return static_cast<std::size_t>(n);
  // A partial record (SSL_ERROR_WANT_READ: OpenSSL keeps what it took of it), or an alert
  // or close_notify, which the SSL object remembers for the next read to report.
  ::ERR_clear_error();
  return 0;
}

std::optional<std::string> upstream_connection::reuse_hazard() {
  if (s_->hazard) return s_->hazard;
  auto& socket = beast::get_lowest_layer(s_->stream).socket();
  error_code ec;
  // Asked once when nothing arrived (the common case: one ioctl per check).
  std::size_t readable = socket.available(ec);
  if (ec) return "the socket cannot be queried: " + ec.message();
  if (readable != 0) {
    if (auto settled = settle_post_handshake_messages()) {
      s_->hazard = std::move(settled);
      s_->reusable = false;
      return s_->hazard;
    }
    readable = socket.available(ec);
    if (ec) return "the socket cannot be queried: " + ec.message();
  }
  // Every place bytes can wait between the kernel and the HTTP parser: Asio hands what it
  // reads from the socket to OpenSSL through a memory BIO (a partial record stays there),
  // OpenSSL keeps a record it has not fully returned, Beast keeps what it read ahead.
  SSL* ssl = s_->stream.native_handle();
  std::size_t held = s_->buffer.size() + static_cast<std::size_t>(std::max(::SSL_pending(ssl), 0));
  if (BIO* rbio = ::SSL_get_rbio(ssl); rbio != nullptr) held += BIO_ctrl_pending(rbio);
  if (held != 0 || ::SSL_has_pending(ssl) == 1) {
    return std::to_string(held) + " byte(s) nobody asked for are waiting on the connection";
  }
  // What arrived after settle_post_handshake_messages looked (a record still arriving).
  if (readable != 0) return std::to_string(readable) + " byte(s) nobody asked for (or a closing alert) arrived";
  X509* now = ::SSL_get0_peer_certificate(ssl);
  if (now == nullptr) return "the TLS session has no peer certificate any more";
  if (now != s_->peer.get() && crypto::spki_sha256(now) != s_->spki) {
    return "the TLS peer's key changed since it was attested (renegotiation)";
  }
  return std::nullopt;
}

void upstream_connection::poison(std::string_view why) {
  s_->reusable = false;
  log::warn("upstream connection to " + s_->host + " (" + s_->dialled + ") discarded: " + std::string(why));
}

namespace {

asio::awaitable<result<upstream_connection>> connect_impl(asio::any_io_executor executor,
                                                          const tls_client_context& tls, const std::string& host,
                                                          std::uint16_t port, const connect_options& options) {
  const auto tuple = asio::as_tuple(asio::use_awaitable);
  const std::string dial_host = options.connect_to ? options.connect_to->host : host;
  const std::uint16_t dial_port = options.connect_to ? options.connect_to->port : port;
  const std::string dialled = host_port(dial_host, dial_port);
  const std::string prefix = "connecting to " + host_port(host, port) +
                             (options.connect_to ? " (dialling " + dialled + ")" : std::string()) + ": ";
  const auto fail_in = [&](upstream::phase where, errc kind, std::string_view cause) {
    error e{kind, prefix + std::string(cause)};
    e.where = where;
    return e;
  };
  const auto fail = [&](errc kind, std::string_view cause) { return fail_in(phase::connect, kind, cause); };
  const auto fail_tls = [&](errc kind, std::string_view cause) { return fail_in(phase::tls, kind, cause); };

  if (host.empty() || host.find_first_of(std::string_view("\0\r\n /", 5)) != std::string::npos) {
    co_return fail(errc::unreachable, "invalid host name");
  }

  auto s = std::make_unique<upstream_connection::state>(executor, tls.shared_state());
  s->host = host;
  s->port = port;
  s->dialled = dialled;

  // Connect phase: one deadline across resolution and TCP.
  const auto connect_deadline = steady::now() + options.connect_timeout;
  auto resolved = co_await net::resolve_with_deadline(executor, dial_host, dial_port, connect_deadline);
  if (resolved.result == net::resolve_outcome::status::timed_out) {
    co_return fail(errc::timeout, "resolving '" + dial_host + "' exceeded the connect timeout of " +
                                      text::milliseconds_text(options.connect_timeout));
  }
  if (!resolved.error.empty()) co_return fail(errc::unreachable, "cannot resolve '" + dial_host + "': " + resolved.error);

  auto& tcp_layer = beast::get_lowest_layer(s->stream);
  tcp_layer.expires_at(connect_deadline);
  if (auto [ec, ep] = co_await tcp_layer.async_connect(resolved.endpoints, tuple); ec) {
    if (ec == beast::error::timeout) {
      co_return fail(errc::timeout, "TCP connect exceeded the connect timeout of " + text::milliseconds_text(options.connect_timeout));
    }
    co_return fail(errc::unreachable, "TCP connect failed: " + ec.message());
  }
  // Streamed answers are relayed piece by piece: Nagle's algorithm would hold small
  // writes behind the peer's delayed ACK (up to 40 ms per event).
  error_code nodelay_ec;
  tcp_layer.socket().set_option(tcp::no_delay(true), nodelay_ec);

  // TLS phase. SNI and the certificate's identity are the logical host, never the dialled
  // address: --connect-to must not change what is verified.
  SSL* ssl_handle = s->stream.native_handle();
  const bool host_is_ip = is_ip_literal(host);
  // RFC 6066 §3: SNI carries DNS names only.
  if (!host_is_ip && ::SSL_set_tlsext_host_name(ssl_handle, host.c_str()) != 1) {
    co_return fail_tls(errc::tls, "cannot set SNI");
  }
  if (::SSL_set_alpn_protos(ssl_handle, alpn_http11, sizeof alpn_http11) != 0) {
    co_return fail_tls(errc::tls, "cannot offer ALPN http/1.1");
  }
  if (tls.options().webpki) {
    X509_VERIFY_PARAM* param = ::SSL_get0_param(ssl_handle);
    ::X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    const int identity_ok = host_is_ip ? ::X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str())
                                       : ::X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    error_code ec;
    if (identity_ok == 1) s->stream.set_verify_callback(ssl::host_name_verification(host), ec);
    if (identity_ok != 1 || ec) co_return fail_tls(errc::tls, "cannot configure certificate verification");
  }

  // Resumption (RFC 8446 §2.2, §4.6.1). The attestation binds the SPKI of the
  // certificate a full handshake presented; a resumed session presents none. What the
  // server proves instead is the resumption secret of an earlier session of ours, one it
  // authenticated with that very certificate's key: the secret is derived from that
  // handshake's key schedule and reaches nobody but its two ends (and whoever the server
  // shares its ticket keys with — the CVM's own memory). So a resumed connection speaks
  // to the CVM the earlier session spoke to, and OpenSSL reports the earlier session's
  // peer certificate for it, whose key spki_sha256() carries on. That is only as good as
  // the trust in that CVM now, so a session is offered only while `resume_if` (the
  // proxy: the verdict for its key is fresh) accepts its key, and the resumed connection
  // still passes the proxy's gate like any other before it carries anything. PSK with
  // (EC)DHE (psk_dhe_ke, OpenSSL's default) keeps forward secrecy; no 0-RTT data is sent.
  // Sessions are kept per dialled address and SNI, so none is offered to another server
  // or for another name.
  std::optional<sha256_digest> offered_spki;
  if (options.resume_if) {
    s->resumption_peer = dialled + " " + host;
    if (::SSL_set_ex_data(ssl_handle, resumption_index(), s.get()) != 1) s->resumption_peer.clear();
  }
  if (!s->resumption_peer.empty()) {
    if (auto session = s->tls->sessions.take(s->resumption_peer, options.resume_if)) {
      if (X509* peer = ::SSL_SESSION_get0_peer(session.get());
          peer != nullptr && ::SSL_set_session(ssl_handle, session.get()) == 1) {
        offered_spki = crypto::spki_sha256(peer);
      }
    }
  }

  tcp_layer.expires_after(options.tls_timeout);
  if (auto [ec] = co_await s->stream.async_handshake(ssl::stream_base::client, tuple); ec) {
    if (ec == beast::error::timeout) {
      co_return fail_tls(errc::timeout, "TLS handshake exceeded the TLS timeout of " + text::milliseconds_text(options.tls_timeout));
    }
    co_return fail_tls(errc::tls, net::tls_handshake_failure(ssl_handle, ec, tls.options().webpki));
  }
  tcp_layer.expires_never();

  const unsigned char* alpn = nullptr;
  unsigned int alpn_size = 0;
  ::SSL_get0_alpn_selected(ssl_handle, &alpn, &alpn_size);
  const std::string_view selected(reinterpret_cast<const char*>(alpn), alpn_size);
  if (alpn_size != 0 && selected != std::string_view("http/1.1")) {
    co_return fail_tls(errc::tls,
                   "the server selected ALPN protocol '" + text::printable_excerpt(selected) + "', not http/1.1");
  }

  s->peer.reset(::SSL_get1_peer_certificate(ssl_handle));
  if (!s->peer) co_return fail_tls(errc::tls, "the server sent no certificate");
  s->spki = crypto::spki_sha256(s->peer.get());
  s->spki_hex = to_hex(s->spki);
  s->resumed = ::SSL_session_reused(ssl_handle) == 1;
  // A resumed session is the offered one, authenticated by the key resume_if accepted.
  if (s->resumed && (!offered_spki || *offered_spki != s->spki)) {
    co_return fail_tls(errc::tls, "the resumed TLS session is not the one offered");
  }
  co_return upstream_connection(std::move(s));
}

}  // namespace

asio::awaitable<result<upstream_connection>> connect_upstream(asio::any_io_executor executor,
                                                              const tls_client_context& tls, std::string host,
                                                              std::uint16_t port, connect_options options) {
  std::string unexpected;
  try {
    co_return co_await connect_impl(std::move(executor), tls, host, port, options);
  } catch (const std::exception& e) {
    unexpected = text::exception_text(e);
  } catch (...) {
    unexpected = "unknown exception";
  }
  co_return error{errc::internal, "connecting to " + host_port(host, port) + ": unexpected failure: " + unexpected};
}

// ---------------------------------------------------------------------------------------
// Attestation

std::optional<attestation_nonce> random_nonce() {
  attestation_nonce n{};
  if (::RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) return std::nullopt;
  return n;
}

std::string attestation_target(const attestation_nonce& nonce, attest::signing_algorithm algo,
                               const gateway_report_query* gateway) {
  const std::string common = "include_tls_fingerprint=true&nonce=" + to_hex(nonce) +
                             "&signing_algo=" + std::string(attest::to_string(algo));
  if (gateway == nullptr) return "/v1/attestation/report?" + common;
  // Model ids contain '/' and may contain anything else a client sends: every byte
  // outside RFC 3986's unreserved set is percent-encoded, so a model cannot add query
  // parameters of its own.
  const auto encoded = [](std::string_view value) { return boost::urls::encode(value, boost::urls::unreserved_chars); };
  return "/v1/attestation/report?model=" + encoded(gateway->model) + "&" + common +
         "&provider=" + encoded(gateway->provider);
}

namespace {

asio::awaitable<result<fetched_report>> fetch_report_impl(upstream_connection& conn, const attest_options& options,
                                                          const std::optional<gateway_report_query>& gateway) {
  const auto tuple = asio::as_tuple(asio::use_awaitable);
  const std::string prefix = "attesting " + conn.host() +
                             (conn.dialled() != host_port(conn.host(), conn.port()) ? " (at " + conn.dialled() + ")"
                                                                                    : std::string()) +
                             ": ";
  const auto fail = [&](errc kind, std::string_view cause) {
    conn.mark_not_reusable();
    return error{kind, prefix + std::string(cause)};
  };

  const auto nonce = options.nonce ? options.nonce : random_nonce();
  if (!nonce) co_return fail(errc::internal, "RAND_bytes failed to produce a nonce");

  auto& tcp_layer = beast::get_lowest_layer(conn.stream());
  tcp_layer.expires_after(options.timeout);
  const auto timed_out = [&] {
    return fail(errc::timeout, "no complete attestation report within the attestation timeout of " +
                                   text::milliseconds_text(options.timeout));
  };

  // Exactly what the report needs and nothing of any client (no Authorization, no
  // cookies, no body): a backend that is not yet verified learns nothing from us — but
  // the gateway, which refuses reports without an API key (§5.1 step 2).
  const std::string target = attestation_target(*nonce, options.signing_algo, gateway ? &*gateway : nullptr);
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, conn.host_header());
  request.set(http::field::user_agent, "verified-proxy");
  request.set(http::field::accept, "application/json");
  request.set(http::field::connection, "keep-alive");
  if (gateway) {
    // No alias substitution: the model attested is the model asked for.
    request.set("x-no-aliasing", "true");
    if (gateway->authorization) request.set(http::field::authorization, *gateway->authorization);
  }
  if (auto [ec, n] = co_await http::async_write(conn.stream(), request, tuple); ec) {
    if (ec == beast::error::timeout) co_return timed_out();
    co_return fail(errc::protocol, "sending the attestation request failed: " + ec.message());
  }

  std::optional<net::bounded_response_parser<http::string_body>> parser;
  const auto prepare = [&options](net::bounded_response_parser<http::string_body>& p) {
    p.body_limit(static_cast<std::uint64_t>(options.max_body));
  };
  const auto reading = co_await net::read_final_response<net::read_scope::message>(conn.stream(), conn.buffer(), parser,
                                                                               prepare);
  if (reading.failed()) {
    const net::read_wording wording{"attestation answer", "attestation timeout", options.timeout, options.max_body};
    auto failure = net::describe_read_failure(reading, parser->violation(), wording);
    co_return fail(to_errc(failure.what), failure.cause);
  }
  tcp_layer.expires_never();

  auto response = parser->release();
  if (gateway && (response.result_int() == 401 || response.result_int() == 403)) {
    co_return fail(errc::unauthorized, "the gateway refused the API key for its attestation report (HTTP " +
                                           std::to_string(response.result_int()) + "): " +
                                           text::printable_excerpt(response.body()));
  }
  if (response.result_int() != 200) {
    co_return fail(errc::http_status, "the attestation endpoint answered HTTP " +
                                          std::to_string(response.result_int()) + ": " +
                                          text::printable_excerpt(response.body()));
  }
  if (!response.keep_alive()) conn.mark_not_reusable();
  // The connection is only fit for the client's request if nothing follows the answer (it
  // would be read as that request's response).
  if (auto hazard = conn.reuse_hazard(); hazard && conn.reusable()) {
    conn.poison("after the attestation answer: " + *hazard);
  }
  co_return fetched_report{std::move(response.body()), *nonce};
}

}  // namespace

asio::awaitable<result<fetched_report>> fetch_report(upstream_connection& conn, attest_options options,
                                                     std::optional<gateway_report_query> gateway) {
  std::string unexpected;
  try {
    co_return co_await fetch_report_impl(conn, options, gateway);
  } catch (const std::exception& e) {
    unexpected = text::exception_text(e);
  } catch (...) {
    unexpected = "unknown exception";
  }
  conn.mark_not_reusable();
  co_return error{errc::internal, "attesting " + conn.host() + ": unexpected failure: " + unexpected};
}

failure to_failure(const error& e) {
  const auto where = e.where == phase::connect ? failure_phase::connect
                     : e.where == phase::tls   ? failure_phase::tls
                                               : failure_phase::exchange;
  switch (e.kind) {
    case errc::timeout: return failure{std::string(to_string(e.where)) + "_timeout", where, e.message, {}, false};
    case errc::unreachable:
    case errc::tls:
    case errc::protocol: return failure{"backend_unreachable", where, e.message, {}, false};
    // A verdict about the backend: it answers the attestation request, but not with a
    // report we can use.
    case errc::too_large: return failure{"report_too_large", failure_phase::exchange, e.message, {}, true};
    case errc::http_status: return failure{"attestation_unavailable", failure_phase::exchange, e.message, {}, true};
    // The client's credential, not the backend: never remembered as a verdict.
    case errc::unauthorized: return failure{"attestation_unauthorized", failure_phase::exchange, e.message, {}, false};
    case errc::internal: break;
  }
  return failure{"internal_error", failure_phase::internal, e.message, {}, false};
}

}  // namespace vp::upstream
