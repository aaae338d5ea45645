#pragma once
// One upstream connection to a NEAR AI backend, and the attestation request on that same
// connection.
//
// Why the report is fetched on the connection that will carry the client's request:
// report_data binds the CVM's TLS key (SHA-256 of its SPKI) and our fresh nonce. A
// report fetched on another connection could come from another machine behind the same
// name (round-robin backends, a TLS-terminating middlebox); only the live peer's SPKI,
// compared with the attested one, proves the prompts go to the attested CVM. Nothing of
// the client's request is written before the appraisal of that report accepted it.
//
// Usage (the proxy's per-request path, minus pooling and the verdict cache):
//   vp::upstream::tls_client_context tls({.webpki = true});       // once, at startup
//   auto conn = co_await vp::upstream::connect_upstream(ex, tls, domain, 443, {});
//   if (!conn) → 502 / 504 from to_failure(conn.error())
//   auto report = co_await vp::upstream::fetch_report(*conn);
//   → appraise::appraise(report body, {report->nonce, conn->spki_sha256()}, …)
//   write the client's request on conn->stream(), reading with conn->buffer().

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/system/result.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "attest/near_report.hpp"
#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "core/failure.hpp"
#include "crypto/ossl.hpp"
#include "net/tls_options.hpp"

namespace vp::upstream {

/// What went wrong on the way to a usable, attested connection. The spellings of
/// to_string() are stable (logs, the proxy's error bodies).
enum class errc {
  unreachable = 1,  ///< resolution failed, TCP connect refused / unreachable
  tls,              ///< TLS handshake, certificate (WebPKI) or ALPN failure
  timeout,          ///< a phase (connect, TLS, attestation) exceeded its deadline
  protocol,         ///< the backend broke HTTP: malformed or truncated response, closed connection
  too_large,        ///< the attestation report exceeds its body limit
  http_status,      ///< the attestation endpoint answered with a status other than 200
  unauthorized,     ///< the gateway refused the client's API key for the report (401 / 403)
  internal,         ///< a local failure (random generator, resources, unexpected exception)
};

/// Stable snake_case spelling (e.g. "unreachable").
std::string_view to_string(errc e) noexcept;

/// Where on the way to an attested connection a failure happened (names the 504 code of
/// a timeout: connect_timeout, tls_timeout, attestation_timeout).
enum class phase { connect, tls, attestation };
std::string_view to_string(phase p) noexcept;

/// A failure with a message naming the host (and dial address) and the cause.
struct error {
  errc kind;
  std::string message;
  upstream::phase where = phase::attestation;

};

template <class T>
using result = boost::system::result<T, error>;

/// Lets result<T>::value() report an error (tests and tools only).
[[noreturn]] void throw_exception_from_error(const error& e, const boost::source_location& loc);

// ---------------------------------------------------------------------------------------
// TLS configuration

/// webpki: validate the certificate chain and the host name on top of attestation;
/// false = --no-webpki: attestation alone, as the reference proxy does.
using tls_client_options = net::tls_client_options;

/// The TLS client configuration every upstream connection shares (one SSL_CTX: the
/// system trust store is parsed once). Cheap to copy; connections keep it alive.
/// Throws std::runtime_error for unusable options (unreadable ca_file, system store not
/// loadable): a startup configuration error.
class tls_client_context {
 public:
  /// `group`: a count shared with other contexts (one per thread, say) that this one's
  /// connections are counted in as well; open_in_group() reads it.
  explicit tls_client_context(tls_client_options options = {},
                              std::shared_ptr<std::atomic<std::size_t>> group = nullptr);
  const tls_client_options& options() const;
  /// Connections made with this context that exist now (connecting, in use or idle).
  std::size_t open_connections() const;
  /// Those of every context sharing its group (this context's alone without one).
  std::size_t open_in_group() const;

  struct state;
  const std::shared_ptr<state>& shared_state() const { return state_; }

 private:
  std::shared_ptr<state> state_;
};

// ---------------------------------------------------------------------------------------
// Connecting

/// Where to dial instead of the logical host (curl's --connect-to): SNI, the certificate
/// check and the Host header still use the logical host.
struct dial_address {
  std::string host;  ///< IP literal or DNS name
  std::uint16_t port = 0;
};

struct connect_options {
  std::chrono::milliseconds connect_timeout{10'000};  ///< resolution + TCP connect
  std::chrono::milliseconds tls_timeout{10'000};      ///< TLS handshake
  std::optional<dial_address> connect_to;
  /// Offer to resume an earlier TLS session with this server and name (kept by the
  /// tls_client_context), only one whose server key this accepts; empty: a full handshake
  /// always, and no session of this connection is kept. See connect_impl for why a
  /// resumed session is as attested as the one it resumes.
  std::function<bool(const sha256_digest& spki)> resume_if{};
};

/// A TLS connection to a backend, positioned between HTTP messages. Move-only; the stream
/// and buffer addresses are stable for its lifetime (it is a handle to heap state).
class upstream_connection {
 public:
  using stream_type = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  upstream_connection(upstream_connection&&) noexcept;
  upstream_connection& operator=(upstream_connection&&) noexcept;
  ~upstream_connection();

  /// The TLS stream, for writing requests and reading responses (the forwarder).
  stream_type& stream();
  /// Bytes read from the stream but not yet consumed: pass it to every http::async_read on
  /// this connection, or pipelined bytes are lost.
  boost::beast::flat_buffer& buffer();

  /// The logical host (SNI, Host header) and port.
  const std::string& host() const;
  std::uint16_t port() const;
  /// "host:port" of the address actually dialled (the connect_to target if any).
  const std::string& dialled() const;
  /// The Host header value for requests on this connection ("host" or "host:port").
  std::string host_header() const;

  /// SHA-256 of the DER SubjectPublicKeyInfo of the peer's leaf certificate (of a resumed
  /// session: the certificate of the full handshake that established it).
  const sha256_digest& spki_sha256() const;
  /// spki_sha256() in lowercase hex, as verdicts are keyed (computed once per connection,
  /// not at every verdict lookup of every request it carries).
  const std::string& spki_hex() const;
  /// Whether the TLS handshake resumed an earlier session (connect_options::resume_if).
  bool resumed() const;
  /// The peer's leaf certificate (never null on a connected object).
  X509* peer_certificate() const;

  /// False once the peer said it will close after the last response (Connection: close),
  /// or after any failed exchange: the connection must not carry another request.
  bool reusable() const;
  void mark_not_reusable();

  /// Why the connection, positioned between messages, must not carry another request even
  /// though reusable() may still say it can; nullopt when it is clean. Checked before a
  /// connection goes into the pool, when it comes out, and before any request is written:
  ///  - bytes nobody asked for: in buffer(), in OpenSSL's record layer (SSL_pending /
  ///    SSL_has_pending), in the memory BIO between Asio and OpenSSL, or readable on the
  ///    socket. HTTP/1.1 has no request ids (RFC 9112 §9.3): whatever a connection holds
  ///    before a request is sent would be read as that request's response;
  ///  - the peer's certificate is no longer the one whose key was attested (a renegotiated
  ///    session). Refused at the TLS layer already (SSL_OP_NO_RENEGOTIATION); checked again
  ///    because the attested key must be the key of the whole session.
  /// TLS's own post-handshake messages (TLS 1.3 NewSessionTicket, KeyUpdate: RFC 8446
  /// §4.6) are no hazard: whatever is readable on the socket is first handed to OpenSSL in
  /// one non-blocking read, which consumes them; application data, any alert and any other
  /// handshake message found that way make the connection not reusable for good. The
  /// reason names no byte of the data. Never blocks, never throws.
  std::optional<std::string> reuse_hazard();

  /// Application data that already arrived, decrypted now without a system call: what
  /// OpenSSL can return from the TLS records Asio has handed it (its BIO pair is memory and
  /// never waits). 0 when no complete record is there, or on anything but data (an alert,
  /// the end of the stream): the next asynchronous read meets that and reports it. Only
  /// between asynchronous reads of the stream.
  std::size_t read_arrived(boost::asio::mutable_buffer into);
  /// mark_not_reusable(), logged at WARN with the domain and `why` (never any content).
  void poison(std::string_view why);

  struct state;
  explicit upstream_connection(std::unique_ptr<state> s);

 private:
  /// Lets OpenSSL read, without blocking, what arrived on the socket (called when bytes
  /// are readable); why the connection cannot be reused if that was anything but
  /// post-handshake messages.
  std::optional<std::string> settle_post_handshake_messages();
  std::unique_ptr<state> s_;
};

/// TCP + TLS to `host`:`port` (or options.connect_to), SNI = host, ALPN "http/1.1" (a
/// server that selects another protocol is rejected; one that selects none is taken to
/// speak HTTP/1.1), TLS 1.2 or later, WebPKI per `tls`. Errors: unreachable, tls, timeout;
/// the message names the host, the dialled address and the cause.
boost::asio::awaitable<result<upstream_connection>> connect_upstream(boost::asio::any_io_executor executor,
                                                                      const tls_client_context& tls,
                                                                      std::string host, std::uint16_t port,
                                                                      connect_options options = {});

// ---------------------------------------------------------------------------------------
// Attesting

using attestation_nonce = std::array<std::uint8_t, 32>;

/// 32 bytes from OpenSSL's CSPRNG (RAND_bytes); nullopt if it fails.
std::optional<attestation_nonce> random_nonce();

/// What a report request to NEAR's gateway adds (docs/gpu-signatures-e2ee.md §5.1 step 2):
/// the model whose CVM the gateway must attest behind itself, the provider tier
/// ("near" excludes third-party fallbacks), and the client's Authorization — the gateway
/// answers reports only to API keys, so this is the one request that carries a client's
/// credential to a backend not yet verified (the gateway host is allowlisted for it).
struct gateway_report_query {
  std::string model;
  std::string provider = "near";
  std::optional<std::string> authorization;
};

/// The request target for `nonce`:
/// /v1/attestation/report?include_tls_fingerprint=true&nonce=<64 hex>&signing_algo=<algo>,
/// and for a gateway `model=<percent-encoded>&…&provider=<tier>` around it.
std::string attestation_target(const attestation_nonce& nonce,
                               attest::signing_algorithm algo = attest::signing_algorithm::ed25519,
                               const gateway_report_query* gateway = nullptr);

struct attest_options {
  /// From writing the request to the complete body.
  std::chrono::milliseconds timeout{30'000};
  std::size_t max_body = attest::max_report_body_size;
  /// The nonce to send; nullopt = random_nonce() (tests pin it).
  std::optional<attestation_nonce> nonce;
  /// The key report_data is asked to bind: the one responses are signed with and E2EE
  /// encrypts to. Ed25519 by default: E2EE v2 (docs/gpu-signatures-e2ee.md §4.2) needs it.
  attest::signing_algorithm signing_algo = attest::signing_algorithm::ed25519;
};

/// The answer to the attestation request, as received, and the nonce it was asked with.
struct fetched_report {
  std::string body;
  attestation_nonce nonce{};
};

/// Writes exactly one request on `conn` — GET attestation_target(nonce) with Host,
/// User-Agent, Accept and Connection: keep-alive, nothing of any client; for a gateway
/// also its query, `x-no-aliasing: true` and the client's Authorization — and reads the
/// response (options.timeout, options.max_body). Nothing here judges the report: that is
/// the appraisal's (appraise/). On success the connection is positioned after the response
/// and stays usable unless the peer asked to close or bytes follow the answer (see
/// reusable()).
///
/// Errors: timeout, protocol, too_large, http_status, unauthorized, internal.
boost::asio::awaitable<result<fetched_report>> fetch_report(upstream_connection& conn, attest_options options = {},
                                                            std::optional<gateway_report_query> gateway = std::nullopt);

/// The failure vocabulary's name for an upstream error: `<phase>_timeout`,
/// `backend_unreachable`, `report_too_large`, `attestation_unavailable`,
/// `attestation_unauthorized` (the client's key, not a verdict about the backend),
/// `internal_error`.
failure to_failure(const error& e);

}  // namespace vp::upstream
