#include "server/forwarder.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include <boost/container/static_vector.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <variant>
#include <vector>

#include "core/hex.hpp"
#include "core/text.hpp"
#include "crypto/digest.hpp"
#include "net/bounded_parser.hpp"
#include "net/http_read.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/response_inspector.hpp"

namespace vp::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using boost::system::error_code;

namespace {

constexpr std::size_t relay_chunk = 16 * 1024;

std::string_view sv(beast::string_view s) { return {s.data(), s.size()}; }

/// The field names a message's Connection fields list (views into them), beyond the fixed
/// hop-by-hop ones.
std::vector<std::string_view> tokens_of(const http::fields& fields) {
  std::vector<std::string_view> tokens;
  for (const auto& f : fields) {
    if (f.name() == http::field::connection) proxy::add_connection_tokens(sv(f.value()), tokens);
  }
  return tokens;
}

/// What proxy::forward_request_field and forward_response_field decide for a field no
/// Connection token names, decided once per name Beast registers (its parser tells each
/// field's registered name apart): the relay asks it of every field of every message,
/// where the string rules cost a dozen case-insensitive comparisons a field. Names Beast
/// does not register take the string rules.
class forwarded_names {
 public:
  static const forwarded_names& rules() {
    static const forwarded_names table;
    return table;
  }
  template <class Field>
  bool request(const Field& f) const {
    return f.name() == http::field::unknown ? proxy::forward_request_field(sv(f.name_string()), {})
                                            : request_[index(f.name())];
  }
  template <class Field>
  bool response(const Field& f) const {
    return f.name() == http::field::unknown ? proxy::forward_response_field(sv(f.name_string()), {})
                                            : response_[index(f.name())];
  }

 private:
  // Beast numbers its registered names from 1 (`unknown` is 0) to `xref`, without gaps.
  static constexpr std::size_t count = static_cast<std::size_t>(http::field::xref) + 1;
  static std::size_t index(http::field f) { return static_cast<std::size_t>(f); }

  forwarded_names() {
    for (std::size_t i = 1; i < count; ++i) {
      const std::string_view name = sv(http::to_string(static_cast<http::field>(i)));
      request_[i] = proxy::forward_request_field(name, {});
      response_[i] = proxy::forward_response_field(name, {});
    }
  }
  std::array<bool, count> request_{};
  std::array<bool, count> response_{};
};

/// A message head written straight from the parsed one into the bytes that go on the
/// wire (RFC 9112 §2.1: start line, field lines, empty line), instead of building a second
/// Beast message field by field (an allocation and a name lookup each) and serializing it.
/// Every value comes from a parsed message (the parser refused CR, LF and NUL in it) or
/// from the proxy itself.
class head_text {
 public:
  head_text() { out_.reserve(512); }
  head_text& append(std::string_view text) {
    out_ += text;
    return *this;
  }
  head_text& field(std::string_view name, std::string_view value) {
    // One growth for the whole line, not four appends.
    const std::size_t at = out_.size();
    out_.resize(at + name.size() + value.size() + 4);
    char* p = out_.data() + at;
    p = std::copy(name.begin(), name.end(), p);
    *p++ = ':';
    *p++ = ' ';
    p = std::copy(value.begin(), value.end(), p);
    *p++ = '\r';
    *p = '\n';
    return *this;
  }
  head_text& field(std::string_view name, std::uint64_t value) {
    return append(name).append(": ").number(value).append("\r\n");
  }
  head_text& number(std::uint64_t value) {
    std::array<char, 24> digits;
    const auto end = std::to_chars(digits.data(), digits.data() + digits.size(), value).ptr;
    return append(std::string_view(digits.data(), static_cast<std::size_t>(end - digits.data())));
  }
  std::string finish() && {
    out_ += "\r\n";
    return std::move(out_);
  }

 private:
  std::string out_;
};

template <class Name>
bool named_among(std::string_view name, const std::vector<std::pair<Name, std::string>>& fields) {
  return std::any_of(fields.begin(), fields.end(), [&](const auto& f) { return text::ascii_iequals(f.first, name); });
}

/// The request head as the backend receives it: the client's method, target and
/// end-to-end fields; Host = the backend's domain; framing recomputed (the body follows
/// it: a view of the client's, never a copy, or the plan's sealed body). A plan's fields
/// replace the client's of the same name; one that seals drops every E2EE field of the
/// client's; one that checks signatures asks for the entity without content-coding.
std::string upstream_request_head(const client_request& in, const upstream::upstream_connection& up,
                                  const proxy::integrity_plan* plan, std::size_t body_size) {
  head_text head;
  head.append(in.method_string()).append(" ").append(in.target()).append(" HTTP/1.1\r\n");
  const auto tokens = tokens_of(in.base());
  const auto& forwarded = forwarded_names::rules();
  for (const auto& f : in.base()) {
    const std::string_view name = sv(f.name_string());
    if (!forwarded.request(f) || proxy::named_by_connection(name, tokens)) continue;
    if (plan != nullptr && (named_among(name, plan->fields) ||
                            (plan->e2ee == proxy::e2ee_applied::sealed && proxy::is_e2ee_request_field(name)))) {
      continue;
    }
    head.field(name, sv(f.value()));
  }
  if (plan != nullptr) {
    for (const auto& [name, value] : plan->fields) head.field(name, value);
  }
  head.field("Host", up.host_header());
  const bool body_method =
      in.method() == http::verb::post || in.method() == http::verb::put || in.method() == http::verb::patch;
  if (body_size != 0 || body_method) head.field("Content-Length", static_cast<std::uint64_t>(body_size));
  return std::move(head).finish();
}

bool is_timeout(const error_code& ec) { return ec == beast::error::timeout; }

/// The peer closed (or reset) the connection without a byte of response.
bool is_closed_before_response(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated;
}

/// Watches the client while the backend answers: a client that closes (or resets) its
/// connection is gone, so the upstream request is cancelled (nothing reads the answer,
/// and a paid generation should not run on). A one-byte MSG_PEEK receive, not a read: a
/// byte that does arrive (a pipelined request) stays in the kernel for the session's next
/// read, which also ends the watch. Not async_wait either: Asio re-arms epoll for every
/// readiness wait (one epoll_ctl per request), while a pending receive on a socket whose
/// last read drained it waits without a system call.
struct client_watch {
  bool active = false;
  bool client_gone = false;
  char peeked = 0;
};

void watch_client(beast::tcp_stream& client, upstream::upstream_connection& up,
                  const std::shared_ptr<client_watch>& watch) {
  // The references are used only while the exchange runs (`active`); it clears that
  // before they go out of scope.
  client.socket().async_receive(
      asio::buffer(&watch->peeked, 1), asio::socket_base::message_peek,
      [&client, &up, watch](const error_code& ec, std::size_t peeked) {
        if (!watch->active || ec == asio::error::operation_aborted) return;
        if (!ec && peeked != 0) return;  // a pipelined request: the client is there
        if (ec == asio::error::would_block || ec == asio::error::try_again || ec == asio::error::interrupted) {
          watch_client(client, up, watch);
          return;
        }
        // End of stream (an orderly close) or a socket error (a reset).
        watch->client_gone = true;
        up.mark_not_reusable();
        // The backend is told at once (it stops generating), and the exchange's upstream
        // read ends now or as soon as it next touches the socket: a cancel() alone is lost
        // when the TLS read is between two socket operations (it has just consumed a
        // session ticket, say) and issues its next one afterwards.
        auto& up_socket = beast::get_lowest_layer(up.stream()).socket();
        error_code ignored;
        up_socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        up_socket.cancel(ignored);
      });
}

void start_watch(beast::tcp_stream& client, upstream::upstream_connection& up,
                 const std::shared_ptr<client_watch>& watch) {
  watch->active = true;
  watch_client(client, up, watch);
}

void stop_watch(beast::tcp_stream& client, client_watch& watch) {
  if (!watch.active) return;
  watch.active = false;
  error_code ignored;
  client.socket().cancel(ignored);
}

/// How the response body is framed towards the client.
enum class framing {
  none,     ///< no body (HEAD, 204, 304)
  length,   ///< Content-Length, as the backend declared it (or of the decrypted answer)
  chunked,  ///< re-framed chunked: the length is not known ahead (SSE)
  close,    ///< an HTTP/1.0 client reads to the end of the connection
};

/// How the response head frames the body: as the backend did, with the length of an
/// answer the proxy holds whole, or as a stream of unknown length.
enum class head_framing { as_backend, held, stream };

/// The trailer (and, for held answers, header) field carrying the signature verdict.
constexpr std::string_view signature_status_field = "X-Signature-Status";
/// Behind a gateway, whose signature it was: "provider_tee" (the model CVM's), "gateway"
/// (the gateway CVM's own), "none" in a trailer when no signature was had.
constexpr std::string_view signature_kind_field = "X-Signature-Kind";

bool iequals_prefix(std::string_view value, std::string_view prefix) {
  return value.size() >= prefix.size() && text::ascii_iequals(value.substr(0, prefix.size()), prefix);
}

/// "invalid (signer_mismatch): <detail>", for a refusal's message.
std::string verdict_words(const signature_outcome& s) {
  return std::string(to_string(s.status)) + " (" + s.failed_check + "): " + s.detail;
}

/// One request's exchange, in the order it happens: send the request, read the response
/// head, write the head to the client, relay the body — as it is, or through the response
/// inspector (decryption, hashing) for a signed or sealed endpoint's answer, followed by
/// the signature lookup. Each stage either hands over to the next or ends the exchange
/// with its relay_result.
class exchange {
 public:
  exchange(beast::tcp_stream& client, upstream::upstream_connection& up, const client_request& request,
           const timeouts& deadlines, bool keep_client, const relay_integrity* integrity,
           observe::status_board* board, net::lazy_deadline& deadline, client_watches* watches)
      : watches_(watches),
        client_(client),
        up_(up),
        up_tcp_(beast::get_lowest_layer(up.stream())),
        request_(request),
        deadlines_(deadlines),
        keep_client_(keep_client),
        integrity_(integrity),
        board_(board),
        deadline_(deadline) {
    if (integrity_ != nullptr) report_.e2ee = integrity_->plan.label;
  }

  /// Before the stages: one deadline for the whole exchange, moved before each operation
  /// (lazy_deadline: no timer system call per read or write); the streams' own expiry
  /// stays off.
  void begin() {
    up_tcp_.expires_never();
    client_.expires_never();
    deadline_.on_expiry([this] { on_deadline(); });
  }

  /// Ends the exchange on every exit, an exception's included: the watch and the expiry
  /// action refer to this exchange and to the connections it was given.
  struct ended_guard {
    exchange& self;
    ~ended_guard() {
      self.deadline_.cancel();
      self.deadline_.on_expiry({});
      self.stop_watching();
    }
  };

  asio::awaitable<relay_result> stages() {
    if (auto refused = co_await send_request()) co_return std::move(*refused);
    watch_client_soon();
    if (auto ended = co_await read_head()) co_return std::move(*ended);
    if (key_may_be_unrouted()) {
      if (auto ended = co_await unless_key_unrouted()) co_return std::move(*ended);
    }
    if (auto refusal = inspect_answer()) co_return std::move(*refusal);
    if (inspector_ && !streaming_) co_return co_await relay_held();
    prepare_head(inspector_ ? head_framing::stream : head_framing::as_backend);
    if (inspector_) co_return co_await relay_stream();
    co_return co_await relay_body();
  }

  /// Stops watching the client as the exchange ends. A client that went away while the
  /// backend was failing is reported as gone: it is why the backend read failed (the watch
  /// shut it down).
  void after_watch(relay_result& ended) {
    stop_watching();
    if (delivered_ && std::holds_alternative<relay_completed>(ended)) return;
    if (watch_->client_gone && !std::holds_alternative<relay_cut_short>(ended)) {
      ended = cut_short(relay_cut_short::cause::client_gone, head_written_
                                                                 ? "client closed the connection after the response"
                                                                 : "client closed the connection while waiting for "
                                                                   "the response");
      return;
    }
    if (watch_->client_gone) {
      auto& cut = std::get<relay_cut_short>(ended);
      if (cut.why == relay_cut_short::cause::upstream_failed) {
        cut.why = relay_cut_short::cause::client_gone;
        cut.detail = "client closed the connection mid-response; upstream request cancelled";
      }
    }
  }

 private:
  using response_parser = net::bounded_response_parser<http::buffer_body>;

  const proxy::integrity_plan* plan() const { return integrity_ != nullptr ? &integrity_->plan : nullptr; }
  bool checks_signature() const { return integrity_ != nullptr && integrity_->plan.verify_signature; }
  bool enforces_signature() const {
    return checks_signature() && integrity_->signatures == proxy::signature_mode::enforce;
  }

  relay_result refused(proxy::error_response answer, std::string detail,
                       relay_refused::resend may_resend = relay_refused::resend::never) {
    up_.mark_not_reusable();
    relay_refused out{std::move(answer), may_resend, std::move(detail)};
    if (integrity_ != nullptr) out.integrity = report_;
    return out;
  }

  /// The upstream connection carries an unfinished exchange: never reused.
  relay_result cut_short(relay_cut_short::cause why, std::string detail) {
    up_.mark_not_reusable();
    relay_cut_short out{why, head_written_ ? status_ : 0, body_bytes_, std::move(detail)};
    if (integrity_ != nullptr) out.integrity = report_;
    return out;
  }

  /// The client watch, from now on or (with client_watches) once the exchange has run for
  /// their delay.
  void watch_client_soon() {
    if (watches_ == nullptr) {
      start_watch(client_, up_, watch_);
      return;
    }
    watches_->defer(
        watch_entry_, [](void* self) { static_cast<exchange*>(self)->start_deferred_watch(); }, this);
  }
  void start_deferred_watch() { start_watch(client_, up_, watch_); }
  void stop_watching() {
    watch_entry_.cancel();
    stop_watch(client_, *watch_);
  }

  /// The phase in progress ran out of time. The upstream connection is shut down, so its
  /// pending operation ends and is read as the timeout (a cancel() alone can be lost
  /// between two socket operations of a TLS read); so is the client's when a write to it
  /// is what stalls (a client that stopped reading).
  void on_deadline() {
    error_code ignored;
    auto& up_socket = up_tcp_.socket();
    up_socket.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    up_socket.cancel(ignored);
    if (client_writing_) {
      stop_watching();
      client_.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
      client_.socket().cancel(ignored);
    }
  }

  /// An upstream operation's error, as the deadline explains it.
  error_code upstream_error(const error_code& ec) const {
    return ec && deadline_.expired() ? error_code(beast::error::timeout) : ec;
  }

  relay_result completed() {
    relay_completed out{status_, body_bytes_, mode_ == framing::chunked || mode_ == framing::close, client_keeps_};
    out.integrity = report_;
    return out;
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
    const auto* p = plan();
    const std::string& body = p != nullptr && p->body ? *p->body : request_.body();
    std::string head = upstream_request_head(request_, up_, p, body.size());
    if (checks_signature()) {
      // The signed request hash is over the bytes the model CVM receives (§3.3).
      request_hash_ = crypto::sha256(as_bytes(std::string_view(body)));
      report_.request_sha256 = to_hex(request_hash_);
    }
    deadline_.expire_after(deadlines_.response_headers);
    // A small body leaves with the head, in one TLS record (RFC 8446 §5.1: up to 16 KiB);
    // a larger one after it, from the client's buffer. One buffer per write: Beast's
    // flat_stream writes nothing for a sequence whose first buffer is already consumed,
    // which async_write takes for the end of the message.
    constexpr std::size_t one_record = 16 * 1024;
    const bool body_with_head = head.size() + body.size() <= one_record;
    if (body_with_head) head += body;
    const auto tuple = asio::as_tuple(asio::use_awaitable);
    auto [write_ec, n] = co_await asio::async_write(up_.stream(), asio::buffer(head), tuple);
    if (!write_ec && !body_with_head) {
      std::tie(write_ec, n) = co_await asio::async_write(up_.stream(), asio::buffer(body), tuple);
    }
    const error_code ec = upstream_error(write_ec);
    if (!ec) {
      if (board_ != nullptr) board_->add_bytes_to_backend(body.size());
      co_return std::nullopt;
    }
    if (is_timeout(ec)) {
      // Part of it, or all, may have arrived: the backend may be generating.
      co_return refused(proxy::gateway_timeout("response_headers",
                                               "sending the request to " + up_.host() +
                                                   " timed out; it may have arrived, so it is not retried",
                                               false),
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
    };
    // The response-headers deadline set before the request runs on, interim answers
    // included.
    auto reading =
        co_await net::read_final_response<net::read_scope::header>(up_.stream(), up_.buffer(), parser_, prepare);
    reading.ec = upstream_error(reading.ec);
    if (reading.ec) {
      if (is_timeout(reading.ec)) {
        // The request was sent: a retry could start a second (paid) generation.
        co_return refused(proxy::gateway_timeout("response_headers",
                                                 up_.host() + " sent no response headers within " +
                                                     std::to_string(deadlines_.response_headers.count()) +
                                                     " ms after the request was sent; it may still be running, so "
                                                     "it is not retried",
                                                 false),
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
    status_ = parser_->get().result_int();
    co_return std::nullopt;
  }

  /// Behind a gateway, a 502 whose error code is NoPubKeyProvider says that no replica
  /// holds the pinned model key any more (§5.1 step 5): nothing was generated, so the
  /// request is refused for a resend after a new attestation. Any other 502 is relayed as
  /// it came (read whole here, a few KiB at most: an error message).
  bool key_may_be_unrouted() const {
    return integrity_ != nullptr && integrity_->gateway && integrity_->gateway->model_key_pinned && status_ == 502 &&
           request_.method() != http::verb::head;
  }
  asio::awaitable<std::optional<relay_result>> unless_key_unrouted() {
    constexpr std::size_t max_error_body = 64 * 1024;
    std::array<char, relay_chunk> chunk;  // not zeroed: only what a read wrote is used
    std::string body;
    while (!parser_->is_done() && body.size() <= max_error_body) {
      auto [got, ec] = co_await read_body_some(chunk);
      body.append(chunk.data(), got);
      if (ec) co_return cut_short(relay_cut_short::cause::upstream_failed, upstream_failure(ec));
    }
    if (!parser_->is_done()) {
      co_return refused(proxy::backend_unreachable(up_.host() + " answered 502 with an error body over " +
                                                   std::to_string(max_error_body) + " bytes"),
                        "oversized 502 body");
    }
    if (proxy::error_code_of(body) == "NoPubKeyProvider") {
      co_return refused(proxy::verification_failed("model_key_unrouted",
                                                   up_.host() + " no longer routes to a provider holding the attested "
                                                                "model key (NoPubKeyProvider), after a new attestation "
                                                                "too"),
                        "NoPubKeyProvider: the gateway has no provider for the pinned model key",
                        relay_refused::resend::after_reattestation);
    }
    if (!parser_->keep_alive()) up_.mark_not_reusable();
    prepare_head(head_framing::held, body.size());
    body_bytes_ = body.size();
    if (auto failed = co_await write_client(body.data(), body.size())) co_return std::move(*failed);
    co_return completed();
  }

  /// Whether the answer goes through the inspector: a signed or sealed endpoint's success
  /// with a body. Error answers are the backend's plaintext messages, relayed as they are.
  /// A sealed exchange whose answer the proxy cannot read (content-coded despite
  /// Accept-Encoding: identity) is refused: its covered fields could not be checked.
  std::optional<relay_result> inspect_answer() {
    const auto* p = plan();
    if (p == nullptr || !p->endpoint || (!p->cipher && !p->verify_signature)) return std::nullopt;
    if (status_ < 200 || status_ >= 300 || status_ == 204 || request_.method() == http::verb::head) {
      return std::nullopt;
    }
    const auto& head = parser_->get();
    const std::string_view coding = sv(head[http::field::content_encoding]);
    if (!coding.empty() && !text::ascii_iequals(coding, "identity")) {
      if (p->cipher) {
        return refused(proxy::verification_failed("e2ee_decryption_failed",
                                                  up_.host() + " sent its answer with Content-Encoding " +
                                                      text::quoted_excerpt(coding, 40) +
                                                      " although asked for identity, so its fields cannot be checked"),
                       "content-coded answer to a sealed request");
      }
      report_.signature = signature_unavailable("the answer is content-coded, so its bytes are not the signed ones");
      return std::nullopt;
    }
    streaming_ = iequals_prefix(sv(head[http::field::content_type]), "text/event-stream");
    proxy::response_inspector::options o;
    o.endpoint = *p->endpoint;
    o.cipher = p->cipher.get();
    o.streaming = streaming_;
    o.hold_done = streaming_ && enforces_signature();
    inspector_.emplace(o);
    return std::nullopt;
  }

  /// The response head as the client receives it: the backend's status and end-to-end
  /// fields, framing chosen for the client. From here on, failures can only cut the
  /// response short. It leaves with the first body bytes (write_client), in one write.
  void prepare_head(head_framing framed, std::uint64_t held_length = 0) {
    auto& upstream_head = parser_->get();
    const bool body_forbidden = request_.method() == http::verb::head || status_ == 204 || status_ == 304;
    const bool http10 = request_.version() == 10;
    std::optional<std::uint64_t> length;
    if (body_forbidden) {
      mode_ = framing::none;
    } else if (framed == head_framing::held) {
      length = held_length;
      mode_ = framing::length;
    } else if (const auto declared = parser_->content_length(); declared && framed == head_framing::as_backend) {
      length = *declared;
      mode_ = framing::length;
    } else {
      mode_ = http10 ? framing::close : framing::chunked;
    }
    client_keeps_ = keep_client_ && request_.keep_alive() && mode_ != framing::close;

    // The status line; an empty reason phrase is sent as Beast would (its obsolete one).
    const auto reason = upstream_head.reason();
    head_text head;
    head.append(http10 ? "HTTP/1.0 " : "HTTP/1.1 ")
        .number(status_)
        .append(" ")
        .append(reason.empty() ? http::obsolete_reason(static_cast<http::status>(status_)) : reason)
        .append("\r\n");
    const auto tokens = tokens_of(upstream_head.base());
    const auto& forwarded = forwarded_names::rules();
    for (const auto& f : upstream_head.base()) {
      const std::string_view name = sv(f.name_string());
      if (!forwarded.response(f) || proxy::named_by_connection(name, tokens)) continue;
      // The proxy's own fields are the proxy's alone: a backend's are dropped.
      if (text::ascii_iequals(name, signature_status_field) || text::ascii_iequals(name, signature_kind_field) ||
          (integrity_ != nullptr && named_among(name, integrity_->response_fields))) {
        continue;
      }
      head.field(name, sv(f.value()));
    }
    if (integrity_ != nullptr) {
      for (const auto& [name, value] : integrity_->response_fields) head.field(name, value);
    }
    if (body_forbidden) {
      // A HEAD answer's Content-Length describes the GET body: pass it on unchanged.
      if (auto cl = upstream_head.find(http::field::content_length); cl != upstream_head.end()) {
        head.field("Content-Length", sv(cl->value()));
      }
    } else if (length) {
      head.field("Content-Length", *length);
      if (framed == head_framing::held && report_.signature) {
        head.field(signature_status_field, to_string(report_.signature->status));
        if (!report_.signature->kind.empty()) head.field(signature_kind_field, report_.signature->kind);
      }
    } else if (mode_ == framing::chunked) {
      head.field("Transfer-Encoding", "chunked");
      if (framed == head_framing::stream && checks_signature()) {
        head.field("Trailer", integrity_->gateway ? std::string(signature_status_field) + ", " +
                                                        std::string(signature_kind_field)
                                                  : std::string(signature_status_field));
      }
    }
    // HTTP/1.1 connections persist unless closed, HTTP/1.0 ones only when asked (RFC 9112 §9.3).
    if (!http10 && !client_keeps_) head.field("Connection", "close");
    if (http10 && client_keeps_) head.field("Connection", "keep-alive");
    pending_head_ = std::move(head).finish();
    if (mode_ == framing::chunked || mode_ == framing::close) stream_.emplace(board_);
  }

  relay_result client_write_failed(const error_code& ec) {
    if (deadline_.expired()) {
      return cut_short(relay_cut_short::cause::client_gone,
                       "the client read nothing for " + std::to_string(deadlines_.idle.count()) + " ms");
    }
    return cut_short(relay_cut_short::cause::client_gone, "writing to the client failed: " + ec.message());
  }

  /// Body bytes to the client in its framing, after the head when it has not gone out yet:
  /// head and first bytes leave in one write (one segment, one system call). `last` also
  /// ends a chunked body (no trailer). An empty span writes only what is pending.
  asio::awaitable<std::optional<relay_result>> write_client(const char* data, std::size_t size, bool last = false) {
    const bool last_chunk = last && mode_ == framing::chunked;
    if (size == 0 && pending_head_.empty() && !last_chunk) co_return std::nullopt;
    boost::container::static_vector<asio::const_buffer, 16> pieces;
    const auto append = [&pieces](const auto& sequence) {
      for (const auto b : beast::buffers_range_ref(sequence)) pieces.push_back(b);
    };
    pieces.push_back(asio::buffer(pending_head_));
    std::optional<http::chunk_header> chunk_size;
    if (size != 0) {
      if (mode_ == framing::chunked) append(chunk_size.emplace(size));
      pieces.push_back(asio::buffer(data, size));
      if (mode_ == framing::chunked) append(http::chunk_crlf());
    }
    const auto end = http::make_chunk_last();
    if (last_chunk) append(end);
    deadline_.expire_after(deadlines_.idle);
    client_writing_ = true;
    // At once when the socket takes it all (the usual case: the socket is non-blocking),
    // without the pass through the event loop that even an asynchronous write completing at
    // once costs; what it does not take, asynchronously.
    error_code ec;
    const std::size_t total = beast::buffer_bytes(pieces);
    // Only on a non-blocking socket (the server makes its clients' so): a blocking one
    // would stall the thread on a client that stopped reading.
    const std::size_t taken = client_.socket().non_blocking() ? client_.socket().write_some(pieces, ec) : 0;
    if ((!ec || ec == asio::error::would_block || ec == asio::error::try_again) && taken < total) {
      beast::buffers_suffix<decltype(pieces)> rest(pieces);
      rest.consume(ec ? 0 : taken);
      std::tie(ec, std::ignore) = co_await asio::async_write(client_, rest, asio::as_tuple(asio::use_awaitable));
    }
    client_writing_ = false;
    if (ec) co_return client_write_failed(ec);
    if (!pending_head_.empty()) {
      head_written_ = true;
      pending_head_.clear();
      pending_head_.shrink_to_fit();
    }
    if (board_ != nullptr && size != 0) board_->add_bytes_to_client(size);
    co_return std::nullopt;
  }

  /// Parses body bytes already read from the backend (with the head, or with the last
  /// read) into what is left of the current piece, without I/O, until the piece is full or
  /// they run out: one write to the client for a read of many small chunks. (Beast's
  /// eager parsing would do it too, but a read then waits for the next chunk header.)
  void parse_held(error_code& ec) {
    auto& buffer = up_.buffer();
    while (!ec && buffer.size() != 0 && parser_->get().body().size != 0 && !parser_->is_done()) {
      const std::size_t used = parser_->put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_more || ec == http::error::need_buffer) {
        ec = {};
        break;
      }
      if (used == 0) break;
    }
  }

  /// Fills the rest of `chunk` (from `got` on) with body bytes that already arrived: held
  /// by the last read, or in TLS records already handed to OpenSSL (a burst of SSE events
  /// comes as several records in one socket read), decrypted without waiting. They then
  /// leave in one client write, not one per record.
  void take_arrived(std::array<char, relay_chunk>& chunk, std::size_t& got, error_code& ec) {
    auto& buffer = up_.buffer();
    while (!ec && got < chunk.size() && !parser_->is_done()) {
      const std::size_t room = chunk.size() - got;
      parser_->get().body().data = chunk.data() + got;
      parser_->get().body().size = room;
      parse_held(ec);
      const std::size_t parsed = room - parser_->get().body().size;
      got += parsed;
      if (ec || (parsed != 0 && buffer.size() != 0)) continue;
      // The read buffer is used up (or holds the start of a chunk's framing): more of it?
      buffer.reserve(relay_chunk);
      const std::size_t n = up_.read_arrived(buffer.prepare(buffer.capacity() - buffer.size()));
      if (n == 0) break;
      buffer.commit(n);
    }
  }

  /// The next body bytes: those already read when the head is still pending (it then
  /// leaves with them), else a read. A head with no body bytes behind it goes out first:
  /// the client must not wait for the backend's next bytes to learn the status.
  asio::awaitable<std::optional<relay_result>> next_body_bytes(std::array<char, relay_chunk>& chunk,
                                                                std::size_t& got, error_code& ec) {
    got = 0;
    ec = {};
    if (!pending_head_.empty()) {
      take_arrived(chunk, got, ec);
      if (got != 0 || ec || parser_->is_done()) co_return std::nullopt;
      if (auto failed = co_await write_client(nullptr, 0)) co_return failed;
    }
    auto read = co_await read_body_some(chunk);
    got = read.first;
    ec = read.second;
    take_arrived(chunk, got, ec);
    co_return std::nullopt;
  }

  /// The end of a chunked body: the last chunk, with the signature verdict as a trailer
  /// when the head declared one.
  asio::awaitable<std::optional<relay_result>> write_last_chunk() {
    if (mode_ != framing::chunked) co_return co_await write_client(nullptr, 0);
    if (!inspector_ || !checks_signature()) co_return co_await write_client(nullptr, 0, true);
    if (auto failed = co_await write_client(nullptr, 0)) co_return failed;
    const auto tuple = asio::as_tuple(asio::use_awaitable);
    deadline_.expire_after(deadlines_.idle);
    error_code ec;
    http::fields trailer;
    const signature_status status = report_.signature ? report_.signature->status : signature_status::unavailable;
    trailer.set(signature_status_field, to_string(status));
    if (integrity_->gateway) {
      const std::string kind = report_.signature ? report_.signature->kind : std::string();
      trailer.set(signature_kind_field, kind.empty() ? "none" : kind);
    }
    // Named: a chunk_last holding fields must not be a temporary in the co_await operand
    // (GCC 12 destroys those twice).
    const auto last = http::make_chunk_last(trailer);
    client_writing_ = true;
    std::tie(ec, std::ignore) = co_await asio::async_write(client_, last, tuple);
    client_writing_ = false;
    if (ec) co_return client_write_failed(ec);
    co_return std::nullopt;
  }

  /// One read of the body from the backend into `chunk`: the bytes got, and the error
  /// that ended reading (none while the body goes on).
  asio::awaitable<std::pair<std::size_t, error_code>> read_body_some(std::array<char, relay_chunk>& chunk) {
    parser_->get().body().data = chunk.data();
    parser_->get().body().size = chunk.size();
    // Beast reads max(512, capacity - size) bytes per call: without room reserved a 16 KiB
    // TLS record (RFC 8446 §5.1) arrives as 32 SSL_reads and leaves as 32 client writes.
    up_.buffer().reserve(relay_chunk);
    deadline_.expire_after(deadlines_.idle);
    const error_code read_ec = co_await net::read_and_parse(up_.stream(), up_.buffer(), *parser_);
    error_code ec = upstream_error(read_ec);
    if (ec == http::error::need_buffer) ec = {};
    if (!ec) parse_held(ec);
    // Servers often end a close-delimited body without TLS close_notify; accepted only when
    // the client reads to the close as well (it could not tell a truncation either).
    if (ec == asio::ssl::error::stream_truncated && mode_ == framing::close) ec = {};
    co_return std::pair<std::size_t, error_code>{chunk.size() - parser_->get().body().size, ec};
  }

  std::string upstream_failure(const error_code& ec) const {
    return is_timeout(ec) ? "backend idle for " + std::to_string(deadlines_.idle.count()) + " ms mid-response"
                          : "backend failed mid-response: " +
                                (parser_->violation() ? parser_->violation()->reason : ec.message());
  }

  /// The body, each read written out at once (the last one with the end of the body).
  asio::awaitable<relay_result> relay_body() {
    std::array<char, relay_chunk> chunk;  // not zeroed: only what a read wrote is used
    bool ended = false;
    while (!parser_->is_done()) {
      std::size_t got = 0;
      error_code ec;
      if (auto failed = co_await next_body_bytes(chunk, got, ec)) co_return std::move(*failed);
      if (got > 0) {
        body_bytes_ += got;
        ended = !ec && parser_->is_done();
        if (auto failed = co_await write_client(chunk.data(), got, ended)) co_return std::move(*failed);
      }
      if (ec) co_return cut_short(relay_cut_short::cause::upstream_failed, upstream_failure(ec));
    }
    if (!ended) {
      if (auto failed = co_await write_client(nullptr, 0, true)) co_return std::move(*failed);
    }
    // The parser's verdict (Connection, version, a body delimited by the close), not the
    // message's, which would look its Connection field up again.
    if (!parser_->keep_alive()) up_.mark_not_reusable();
    co_return completed();
  }

  void note_inspected() {
    report_.response_sha256 = to_hex(inspector_->response_hash());
    report_.chat_id = inspector_->chat_id();
    report_.fields_opened = inspector_->fields_opened();
    if (!parser_->keep_alive()) up_.mark_not_reusable();
  }

  /// The answer's signature, looked up on this connection and checked against the attested
  /// key, the model, and the hashes of the bytes written and read.
  asio::awaitable<signature_outcome> lookup_signature() {
    // The lookup keeps its own deadlines on the connection (check_signature).
    deadline_.cancel();
    if (!integrity_->backend.bound) co_return signature_unavailable("the backend has no attested signing key");
    if (!report_.chat_id) co_return signature_unavailable("the answer carries no id to look its signature up by");
    signature_lookup lookup;
    lookup.chat_id = *report_.chat_id;
    lookup.signing_algo = integrity_->backend.signing_algo;
    lookup.authorization = integrity_->authorization;
    lookup.expected.signer = signature::expected_signer{integrity_->backend.signing_algo, integrity_->backend.signing_address};
    lookup.expected.request_hash = request_hash_;
    lookup.expected.response_hash = inspector_->response_hash();
    lookup.expected.model = integrity_->backend.model_name;
    if (const auto& gateway = integrity_->gateway) {
      lookup.model = gateway->model;
      gateway_signatures kinds;
      if (const auto& own = gateway->own_signer; own && own->bound) {
        // §5.2: the gateway signs what it received and what it sent; it names no model.
        kinds.own = signature::expectations{signature::expected_signer{own->signing_algo, own->signing_address},
                                            request_hash_, inspector_->response_hash(), std::nullopt};
      }
      lookup.gateway = std::move(kinds);
    }
    lookup.wait = integrity_->signature_wait;
    lookup.timeout = std::min(deadlines_.response_headers, std::chrono::milliseconds(30'000));
    co_return co_await check_signature(up_, std::move(lookup), integrity_->reconnect);
  }

  /// A JSON answer, held whole: read, hashed, decrypted; under enforce given only once its
  /// signature verified, else given and then checked. Nothing has reached the client yet,
  /// so a failure is a clean 502.
  asio::awaitable<relay_result> relay_held() {
    std::array<char, relay_chunk> chunk;  // not zeroed: only what a read wrote is used
    std::string scratch;
    while (!parser_->is_done()) {
      auto [got, ec] = co_await read_body_some(chunk);
      if (got > 0 && !inspector_->feed(std::string_view(chunk.data(), got), scratch)) break;
      if (ec) {
        co_return refused(proxy::backend_unreachable(up_.host() + " broke off its answer: " + upstream_failure(ec)),
                          upstream_failure(ec));
      }
    }
    std::string answer;
    if (inspector_->failed() || !inspector_->finish(answer)) {
      const auto& f = *inspector_->failed();
      co_return refused(proxy::verification_failed(f.code, up_.host() + ": " + f.message), f.code + ": " + f.message);
    }
    note_inspected();
    if (enforces_signature()) {
      report_.signature = co_await lookup_signature();
      if (report_.signature->status != signature_status::valid) {
        const std::string code(refusal_code(*report_.signature));
        co_return refused(proxy::verification_failed(code, "the answer of " + up_.host() +
                                                               " is withheld: its signature is " +
                                                               verdict_words(*report_.signature)),
                          code + ": " + report_.signature->detail);
      }
    }
    prepare_head(head_framing::held, answer.size());
    body_bytes_ = answer.size();
    if (auto failed = co_await write_client(answer.data(), answer.size())) co_return std::move(*failed);
    if (checks_signature() && !report_.signature) {
      // The client has the whole answer: its leaving now must not cut the lookup (the
      // watch would shut the upstream down), and is no longer a reason to call the
      // exchange cut short.
      stop_watching();
      delivered_ = true;
      report_.signature = co_await lookup_signature();
    }
    co_return completed();
  }

  /// The stream's end when the proxy cannot vouch for it: an SSE error event naming the
  /// check, and no [DONE].
  asio::awaitable<std::optional<relay_result>> write_error_event(std::string_view code, std::string_view message) {
    const std::string event =
        "event: error\ndata: " + proxy::make_error_body(message, "verification_error", code) + "\n\n";
    co_return co_await write_client(event.data(), event.size());
  }

  /// A stream through the inspector: each event given (decrypted) the moment it is
  /// complete; at its end the signature lookup, then [DONE] (withheld until it verified
  /// under enforce) and the verdict as the X-Signature-Status trailer. A field that does
  /// not decrypt ends the stream with an error event: nothing unverifiable is passed on.
  asio::awaitable<relay_result> relay_stream() {
    std::array<char, relay_chunk> chunk;  // not zeroed: only what a read wrote is used
    std::string out;
    const auto broken = [&](const proxy::response_inspector::failure& f) -> asio::awaitable<relay_result> {
      // The events before the one that failed were complete and checked (several can come
      // in one read): they are given first.
      body_bytes_ += out.size();
      if (auto failed = co_await write_client(out.data(), out.size())) co_return std::move(*failed);
      if (auto failed = co_await write_error_event(f.code, f.message)) co_return std::move(*failed);
      co_return cut_short(relay_cut_short::cause::upstream_failed, f.code + ": " + f.message);
    };
    while (!parser_->is_done()) {
      std::size_t got = 0;
      error_code ec;
      if (auto failed = co_await next_body_bytes(chunk, got, ec)) co_return std::move(*failed);
      if (got > 0) {
        out.clear();
        if (!inspector_->feed(std::string_view(chunk.data(), got), out)) {
          const auto f = *inspector_->failed();
          co_return co_await broken(f);
        }
        body_bytes_ += out.size();
        if (auto failed = co_await write_client(out.data(), out.size())) co_return std::move(*failed);
      }
      if (ec) co_return cut_short(relay_cut_short::cause::upstream_failed, upstream_failure(ec));
    }
    out.clear();
    if (!inspector_->finish(out)) {
      const auto f = *inspector_->failed();
      co_return co_await broken(f);
    }
    body_bytes_ += out.size();
    if (auto failed = co_await write_client(out.data(), out.size())) co_return std::move(*failed);
    note_inspected();
    if (checks_signature()) {
      if (inspector_->saw_done()) {
        report_.signature = co_await lookup_signature();
      } else {
        report_.signature =
            signature_unavailable("the stream ended without data: [DONE]; only complete streams are signed");
      }
    }
    if (enforces_signature()) {
      if (report_.signature->status == signature_status::valid) {
        const std::string done = inspector_->release_done();
        body_bytes_ += done.size();
        if (auto failed = co_await write_client(done.data(), done.size())) co_return std::move(*failed);
      } else {
        // Named, not temporaries in the co_await operand (GCC 12 destroys those twice).
        const std::string code(refusal_code(*report_.signature));
        const std::string message = "the stream's signature is " + verdict_words(*report_.signature);
        if (auto failed = co_await write_error_event(code, message)) co_return std::move(*failed);
      }
    }
    if (auto failed = co_await write_last_chunk()) co_return std::move(*failed);
    co_return completed();
  }

  client_watches* watches_;
  /// This exchange's place among the watches waiting to start (it leaves when destroyed).
  client_watches::entry watch_entry_;
  beast::tcp_stream& client_;
  upstream::upstream_connection& up_;
  beast::tcp_stream& up_tcp_;
  const client_request& request_;
  const timeouts& deadlines_;
  const bool keep_client_;
  const relay_integrity* integrity_;
  observe::status_board* board_;
  /// Counts this answer among the streams being relayed, from its head on.
  std::optional<observe::stream_scope> stream_;

  net::lazy_deadline& deadline_;
  std::shared_ptr<client_watch> watch_ = std::make_shared<client_watch>();
  /// The serialized response head, until it went out with the first body bytes.
  std::string pending_head_;
  /// A write to the client is in progress (what a passing deadline must interrupt).
  bool client_writing_ = false;
  std::optional<response_parser> parser_;
  std::optional<proxy::response_inspector> inspector_;
  bool streaming_ = false;
  integrity_report report_;
  /// SHA-256 of the request body written (report_.request_sha256 in hex).
  sha256_digest request_hash_{};
  framing mode_ = framing::none;
  unsigned status_ = 0;
  bool head_written_ = false;
  /// The client has the complete answer (what follows is the proxy's own business).
  bool delivered_ = false;
  bool client_keeps_ = false;
  std::uint64_t body_bytes_ = 0;
};

}  // namespace

asio::awaitable<relay_result> relay(beast::tcp_stream& client, upstream::upstream_connection& upstream,
                                    const client_request& request, const timeouts& deadlines, bool keep_client,
                                    const relay_integrity* integrity, observe::status_board* board,
                                    net::lazy_deadline* deadline, client_watches* watches) {
  std::string unexpected;
  try {
    std::optional<net::lazy_deadline> own;
    if (deadline == nullptr) deadline = &own.emplace(client.get_executor());
    exchange one(client, upstream, request, deadlines, keep_client, integrity, board, *deadline, watches);
    one.begin();
    const exchange::ended_guard guard{one};
    relay_result ended = co_await one.stages();
    one.after_watch(ended);
    co_return ended;
  } catch (const std::exception& e) {
    unexpected = text::exception_text(e);
  } catch (...) {
    unexpected = "unknown exception";
  }
  upstream.mark_not_reusable();
  // Unknown progress: the response may have started, so the client connection is closed
  // rather than sent an error in the middle of a response.
  co_return relay_cut_short{relay_cut_short::cause::upstream_failed, 0, 0, "unexpected failure: " + unexpected};
}

}  // namespace vp::server
