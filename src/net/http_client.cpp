#include "net/http_client.hpp"
#include "net/bounded_parser.hpp"
#include "net/http_read.hpp"
#include "net/resolve.hpp"
#include "net/tls_client.hpp"
#include "net/tls_diagnostics.hpp"

#include "core/text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

#include <netdb.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <type_traits>
#include <variant>

namespace vp::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using clock_type = std::chrono::steady_clock;

std::optional<std::string_view> http_response::header(std::string_view name) const {
  for (const auto& [field, value] : headers) {
    if (beast::iequals(field, name)) return std::string_view{value};
  }
  return std::nullopt;
}

std::string_view to_string(http_error::kind k) noexcept {
  switch (k) {
    case http_error::kind::invalid_url: return "invalid_url";
    case http_error::kind::resolve: return "resolve";
    case http_error::kind::connect: return "connect";
    case http_error::kind::tls: return "tls";
    case http_error::kind::timeout: return "timeout";
    case http_error::kind::protocol: return "protocol";
    case http_error::kind::too_large: return "too_large";
  }
  return "unknown";
}

namespace {

// The exchange is complete before TLS shutdown, so a peer that never answers
// close_notify must not stall the caller for long.
constexpr std::chrono::milliseconds tls_shutdown_budget{500};


struct request_target {
  bool tls = false;
  std::string host;  ///< decoded, no brackets: resolver input, SNI, certificate check
  bool host_is_ip = false;
  std::uint16_t port = 0;
  std::string host_header;
  std::string target;  ///< origin-form: path + query
};

class request_failure {
 public:
  explicit request_failure(std::string_view url) : prefix_("GET " + text::printable_excerpt(url) + ": ") {}
  http_error operator()(http_error::kind k, std::string_view cause) const {
    return http_error{k, prefix_ + std::string(cause)};
  }

 private:
  std::string prefix_;
};

bool valid_reg_name(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

/// RFC 6761 §6.4: names under "invalid." never resolve, and resolvers SHOULD say so
/// without asking the network.
bool is_special_invalid_name(std::string host) {
  std::transform(host.begin(), host.end(), host.begin(),
                 [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
  while (!host.empty() && host.back() == '.') host.pop_back();
  return host == "invalid" || (host.size() > 8 && host.ends_with(".invalid"));
}

boost::system::result<request_target, http_error> parse_target(std::string_view url,
                                                               const request_failure& fail) {
  const auto invalid = [&](std::string_view why) { return fail(http_error::kind::invalid_url, why); };
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) return invalid("not an absolute URI (" + parsed.error().message() + ")");
  const boost::urls::url_view u = *parsed;

  request_target t;
  if (u.scheme_id() == boost::urls::scheme::https) {
    t.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    return invalid("unsupported scheme '" + text::printable_excerpt(u.scheme()) + "' (only http and https)");
  }
  if (!u.has_authority() || u.encoded_host().empty()) return invalid("no host");
  // Credentials in URLs would silently go nowhere (we never send them): refuse them.
  if (u.has_userinfo()) return invalid("user info in URLs is not supported");

  switch (u.host_type()) {
    case boost::urls::host_type::ipv4:
      t.host = u.host_address();
      t.host_is_ip = true;
      t.host_header = t.host;
      break;
    case boost::urls::host_type::ipv6:
      t.host = u.host_address();
      t.host_is_ip = true;
      t.host_header = "[" + t.host + "]";
      break;
    case boost::urls::host_type::name:
      // Percent-decoding could produce bytes that do not belong in SNI, the Host header
      // or the resolver; only plain DNS characters pass.
      t.host = u.host_address();
      if (!valid_reg_name(t.host)) return invalid("host '" + text::printable_excerpt(t.host) + "' is not a DNS name");
      t.host_header = t.host;
      break;
    default:
      return invalid("unsupported host form '" + text::printable_excerpt(u.encoded_host()) + "'");
  }

  const std::uint16_t default_port = t.tls ? 443 : 80;
  t.port = default_port;
  if (u.has_port() && !u.port().empty()) {
    // url_view::port_number() wraps values above 65535 in Boost 1.81: parse it here.
    const std::string_view digits = u.port();
    unsigned long value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || end != digits.data() + digits.size() || value == 0 || value > 65535) {
      return invalid("port '" + text::printable_excerpt(digits) + "' out of range");
    }
    t.port = static_cast<std::uint16_t>(value);
  }
  if (t.port != default_port) t.host_header += ":" + std::to_string(t.port);

  t.target = u.encoded_path();
  if (t.target.empty()) t.target = "/";
  if (u.has_query()) {
    t.target += '?';
    t.target += u.encoded_query();
  }
  return t;
}

bool valid_header_name(std::string_view name) {
  // RFC 9110 §5.6.2 token.
  constexpr std::string_view specials = "!#$%&'*+-.^_`|~";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           specials.find(c) != std::string_view::npos;
  });
}

bool valid_header_value(std::string_view value) {
  // No CR/LF/NUL: the caller's value must not be able to inject header lines.
  return std::none_of(value.begin(), value.end(), [](char c) {
    return c == '\r' || c == '\n' || c == '\0';
  });
}

// ---------------------------------------------------------------------------------------
// Resolution (deadline-bounded, net/resolve.hpp) plus the URL-level special cases.

template <class T>
using phase_result = boost::system::result<T, http_error>;

asio::awaitable<phase_result<std::vector<tcp::endpoint>>> resolve(
    asio::any_io_executor ex, const request_target& t, clock_type::time_point deadline,
    std::chrono::milliseconds connect_timeout, const request_failure& fail) {
  if (t.host_is_ip) {
    error_code ec;
    const auto address = asio::ip::make_address(t.host, ec);
    if (ec) co_return fail(http_error::kind::invalid_url, "bad IP address '" + text::printable_excerpt(t.host) + "'");
    co_return std::vector<tcp::endpoint>{tcp::endpoint(address, t.port)};
  }
  if (is_special_invalid_name(t.host)) {
    co_return fail(http_error::kind::resolve,
                   "cannot resolve host '" + t.host + "': names under .invalid never resolve (RFC 6761)");
  }

  auto out = co_await resolve_with_deadline(ex, t.host, t.port, deadline);
  if (out.result == resolve_outcome::status::timed_out) {
    co_return fail(http_error::kind::timeout,
                   "resolving '" + t.host + "' exceeded the connect timeout of " + text::milliseconds_text(connect_timeout));
  }
  if (out.result != resolve_outcome::status::ok) {
    co_return fail(http_error::kind::resolve, "cannot resolve host '" + t.host + "': " + out.error);
  }
  co_return std::move(out.endpoints);
}

http_error response_failure(const response_read& read, const request_failure& fail,
                            const std::optional<message_violation>& violation, const http_client_options& options) {
  const read_wording wording{"response", "response timeout", options.response_timeout, options.max_body};
  auto failure = describe_read_failure(read, violation, wording);
  switch (failure.what) {
    case read_failure::kind::timeout: return fail(http_error::kind::timeout, failure.cause);
    case read_failure::kind::too_large: return fail(http_error::kind::too_large, failure.cause);
    case read_failure::kind::protocol: break;
  }
  return fail(http_error::kind::protocol, failure.cause);
}

template <class Stream>
constexpr bool is_tls_stream = !std::is_same_v<Stream, beast::tcp_stream>;

}  // namespace

struct http_client::impl {
  asio::any_io_executor executor;
  http_client_options options;
  std::shared_ptr<ssl::context> tls_context;
  std::once_flag system_trust_once;
  std::string system_trust_error;

  impl(asio::any_io_executor ex, http_client_options opts)
      : executor(std::move(ex)),
        options(std::move(opts)),
        tls_context(make_tls_client_context(tls_client_options{true, options.ca_file}, "http_client",
                                            system_trust_loading::deferred)) {}

  /// The system store is parsed on the first https:// request, not at construction: a
  /// client used only for an http:// PCCS never needs it.
  const std::string& ensure_trust() {
    if (options.ca_file.empty()) {
      std::call_once(system_trust_once, [this] {
        if (auto failure = load_system_trust(*tls_context)) system_trust_error = std::move(*failure);
      });
    }
    return system_trust_error;
  }

  /// What is sent: GET without a body, or POST with one.
  struct outgoing {
    http::verb method = http::verb::get;
    std::string body;
    std::string content_type;
  };

  asio::awaitable<http_result> run(std::string url, std::vector<std::pair<std::string, std::string>> headers,
                                   outgoing what) {
    const request_failure fail(url);
    std::string unexpected;
    try {
      co_return co_await fetch(url, headers, what, fail);
    } catch (const std::exception& e) {
      unexpected = text::exception_text(e);
    } catch (...) {
      unexpected = "unknown exception";
    }
    co_return fail(http_error::kind::protocol, "unexpected failure: " + unexpected);
  }

  asio::awaitable<http_result> fetch(const std::string& url,
                                     const std::vector<std::pair<std::string, std::string>>& headers,
                                     const outgoing& what, const request_failure& fail) {
    auto target = parse_target(url, fail);
    if (!target) co_return target.error();
    for (const auto& [name, value] : headers) {
      if (!valid_header_name(name) || !valid_header_value(value)) {
        co_return fail(http_error::kind::protocol, "invalid request header '" + text::printable_excerpt(name) + "'");
      }
    }
    if (target->tls) {
      if (const auto& trust_error = ensure_trust(); !trust_error.empty()) {
        co_return fail(http_error::kind::tls, trust_error);
      }
      beast::ssl_stream<beast::tcp_stream> stream(executor, *tls_context);
      co_return co_await exchange(stream, *target, headers, what, fail);
    }
    beast::tcp_stream stream(executor);
    co_return co_await exchange(stream, *target, headers, what, fail);
  }

  template <class Stream>
  asio::awaitable<http_result> exchange(Stream& stream, const request_target& t,
                                        const std::vector<std::pair<std::string, std::string>>& headers,
                                        const outgoing& what, const request_failure& fail) {
    using k = http_error::kind;
    const auto tuple = asio::as_tuple(asio::use_awaitable);

    // Connect phase: one deadline across resolve + TCP + TLS.
    const auto connect_deadline = clock_type::now() + options.connect_timeout;
    request_target dialled = t;
    if (options.dial) {
      if (auto instead = options.dial(t.host, t.port)) {
        dialled.host = std::move(instead->first);
        dialled.port = instead->second;
        error_code ip_ec;
        (void)asio::ip::make_address(dialled.host, ip_ec);
        dialled.host_is_ip = !ip_ec;
      }
    }
    auto endpoints = co_await resolve(executor, dialled, connect_deadline, options.connect_timeout, fail);
    if (!endpoints) co_return endpoints.error();

    auto& tcp_layer = beast::get_lowest_layer(stream);
    tcp_layer.expires_at(connect_deadline);
    const std::string where = (t.host.find(':') != std::string::npos ? "[" + t.host + "]" : t.host) + ":" +
                              std::to_string(t.port);
    if (auto [ec, ep] = co_await tcp_layer.async_connect(*endpoints, tuple); ec) {
      if (ec == beast::error::timeout) {
        co_return fail(k::timeout, "TCP connect to " + where + " exceeded the connect timeout of " +
                                       text::milliseconds_text(options.connect_timeout));
      }
      co_return fail(k::connect, "TCP connect to " + where + " failed: " + ec.message());
    }

    if constexpr (is_tls_stream<Stream>) {
      SSL* ssl_handle = stream.native_handle();
      X509_VERIFY_PARAM* param = ::SSL_get0_param(ssl_handle);
      ::X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      // OpenSSL's own identity check during chain validation gives a precise verify
      // error ("hostname mismatch"); host_name_verification re-checks the leaf.
      const int identity_ok = t.host_is_ip ? ::X509_VERIFY_PARAM_set1_ip_asc(param, t.host.c_str())
                                           : ::X509_VERIFY_PARAM_set1_host(param, t.host.c_str(), 0);
      // RFC 6066 §3: SNI carries DNS names only, never IP literals.
      const bool sni_ok = t.host_is_ip || ::SSL_set_tlsext_host_name(ssl_handle, t.host.c_str()) == 1;
      if (identity_ok != 1 || !sni_ok) co_return fail(k::tls, "cannot configure TLS for host '" + t.host + "'");
      error_code ec;
      stream.set_verify_mode(ssl::verify_peer, ec);
      if (!ec) stream.set_verify_callback(ssl::host_name_verification(t.host), ec);
      if (ec) co_return fail(k::tls, "cannot configure TLS verification: " + ec.message());

      if (auto [hs_ec] = co_await stream.async_handshake(ssl::stream_base::client, tuple); hs_ec) {
        if (hs_ec == beast::error::timeout) {
          co_return fail(k::timeout, "TLS handshake with " + where + " exceeded the connect timeout of " +
                                         text::milliseconds_text(options.connect_timeout));
        }
        co_return fail(k::tls, tls_handshake_failure(ssl_handle, hs_ec));
      }
    }

    // Response phase: request written → body complete.
    const auto response_deadline = clock_type::now() + options.response_timeout;
    tcp_layer.expires_at(response_deadline);

    http::request<http::string_body> request{what.method, t.target, 11};
    if (what.method == http::verb::post) {
      request.set(http::field::content_type, what.content_type);
      request.body() = what.body;
      request.prepare_payload();
    }
    request.set(http::field::host, t.host_header);
    request.set(http::field::user_agent, options.user_agent);
    request.set(http::field::connection, "close");
    for (const auto& [name, value] : headers) {
      // Callers may override the defaults above; other repeated names are kept.
      if (request.count(name) != 0 && (beast::iequals(name, "host") || beast::iequals(name, "user-agent") ||
                                       beast::iequals(name, "connection"))) {
        request.set(name, value);
      } else {
        request.insert(name, value);
      }
    }
    if (auto [ec, n] = co_await http::async_write(stream, request, tuple); ec) {
      if (ec == beast::error::timeout) {
        co_return fail(k::timeout, "sending the request exceeded the response timeout of " +
                                       text::milliseconds_text(options.response_timeout));
      }
      co_return fail(k::protocol, "sending the request failed: " + ec.message());
    }

    beast::flat_buffer buffer{max_read_buffer_bytes};
    std::optional<bounded_response_parser<http::string_body>> parser;
    const auto prepare = [this](bounded_response_parser<http::string_body>& p) {
      p.body_limit(static_cast<std::uint64_t>(options.max_body));
    };
    const auto outcome = co_await read_final_response<read_scope::message>(stream, buffer, parser, prepare);
    if (outcome.failed()) co_return response_failure(outcome, fail, parser->violation(), options);

    auto message = parser->release();
    http_response response;
    response.status = message.result_int();
    for (const auto& field : message) {
      response.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    response.body = std::move(message.body());

    // The message is complete; closing is best effort. A peer that drops TCP without
    // close_notify (stream_truncated) is harmless now.
    if constexpr (is_tls_stream<Stream>) {
      const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(response_deadline - clock_type::now());
      tcp_layer.expires_after(std::clamp(remaining, std::chrono::milliseconds{1}, tls_shutdown_budget));
      [[maybe_unused]] auto [ec] = co_await stream.async_shutdown(tuple);
    }
    error_code ignored;
    tcp_layer.socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_layer.close();
    co_return response;
  }
};

http_client::http_client(asio::any_io_executor executor, http_client_options options)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(options))) {}

http_client::~http_client() = default;

asio::awaitable<http_result> http_client::get(std::string url, std::vector<std::pair<std::string, std::string>> headers) {
  impl::outgoing what;  // GCC 12: no temporaries in a co_await operand
  co_return co_await impl_->run(std::move(url), std::move(headers), std::move(what));
}

asio::awaitable<http_result> http_client::post(std::string url, std::string body, std::string content_type,
                                               std::vector<std::pair<std::string, std::string>> headers) {
  impl::outgoing what{http::verb::post, std::move(body), std::move(content_type)};
  co_return co_await impl_->run(std::move(url), std::move(headers), std::move(what));
}

}  // namespace vp::net
