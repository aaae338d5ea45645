#pragma once
// A small asynchronous HTTP/1.1 client (Beast) for control-plane fetches: Intel PCS /
// PCCS collateral now, the /endpoints discovery list later. One connection per request;
// https:// with normal certificate and host-name validation against the system trust
// store (or an explicit CA file), http:// for a PCCS on loopback.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/result.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vp::net {

struct http_response {
  unsigned status = 0;
  /// Header fields in arrival order, names as received.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

struct http_error {
  enum class kind {
    invalid_url,  ///< not an absolute http(s) URL
    resolve,      ///< the host name does not resolve
    connect,      ///< TCP connect failed (refused, unreachable)
    tls,          ///< TLS handshake or certificate validation failed
    timeout,      ///< a phase exceeded its deadline
    protocol,     ///< malformed HTTP, connection closed mid-message, truncated body
    too_large,    ///< body over max_body
  };
  kind what;
  std::string message;  ///< names the URL and what happened
};

std::string_view to_string(http_error::kind k) noexcept;

using http_result = boost::system::result<http_response, http_error>;

struct http_client_options {
  std::chrono::milliseconds connect_timeout{10'000};  ///< resolve + TCP + TLS handshake
  std::chrono::milliseconds response_timeout{30'000};  ///< request written → body complete
  std::size_t max_body = 16u << 20;
  /// PEM file with the CAs to trust for https:// instead of the system store ("" = system).
  std::string ca_file;
  std::string user_agent = "verified-proxy";
  /// Where to dial instead of a URL's host and port (curl's --connect-to): SNI, the
  /// certificate check and Host stay the URL's. Null, or nullopt for a host: the URL's.
  std::function<std::optional<std::pair<std::string, std::uint16_t>>(std::string_view host, std::uint16_t port)> dial;
};

/// Throws only for unusable options (an unreadable ca_file) at construction: a startup
/// configuration error.
class http_client {
 public:
  http_client(boost::asio::any_io_executor executor, http_client_options options);
  ~http_client();
  http_client(const http_client&) = delete;
  http_client& operator=(const http_client&) = delete;

  /// GET `url`. Any HTTP status is a successful exchange (check `status`); network,
  /// TLS, framing and timeout failures are errors.
  boost::asio::awaitable<http_result> get(std::string url, std::vector<std::pair<std::string, std::string>> headers = {});

  /// POST `body` (sent byte for byte, with `content_type`) to `url`; otherwise as get().
  boost::asio::awaitable<http_result> post(std::string url, std::string body, std::string content_type,
                                           std::vector<std::pair<std::string, std::string>> headers = {});

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vp::net
