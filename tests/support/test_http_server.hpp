#pragma once
// An in-process HTTP/1.1 server for network tests: plain HTTP or HTTPS on 127.0.0.1
// (ephemeral port), scripted responses, fault injection and a request log.
//
// It runs its own io_context on a background thread, so a test can drive its client on
// the test thread. For HTTPS it mints a throwaway CA and a server certificate (P-256)
// whose SANs are configurable (default DNS:localhost, IP:127.0.0.1); ca_file() gives the
// CA as a PEM file for http_client_options::ca_file.
//
// Typical use:
//   vp::test::test_http_server server([](const vp::test::http_request_record& r) {
//     return vp::test::scripted_response{.status = 200, .body = "hello " + r.target};
//   }, {.tls = true});
//   vp::net::http_client client(ioc.get_executor(), {.ca_file = server.ca_file()});
//   ... client.get(server.url("/x")) ...
//   EXPECT_EQ(server.request_count("/x"), 1u);
//
// Connections are keep-alive (several requests each) unless the request says
// "Connection: close". The destructor stops the server promptly, also with hanging
// connections. Failures to set up (OpenSSL, bind) throw std::runtime_error: test-only code.

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

namespace vp::test {

using header_list = std::vector<std::pair<std::string, std::string>>;

/// The first field named `name` (ASCII case-insensitive), or nullopt.
std::optional<std::string_view> find_header(const header_list& headers, std::string_view name);

/// One request as the server received it.
struct http_request_record {
  std::string method;
  std::string target;
  header_list headers;  ///< in arrival order, names as received
  /// TLS SNI host name the client sent ("" for plain HTTP or no SNI).
  std::string tls_server_name;
  /// 1-based sequence number of the request on its connection (keep-alive checks).
  std::size_t request_on_connection = 0;
  std::string body;  ///< as received (after chunked decoding)

  /// The first header named `name` (case-insensitive), or nullopt.
  std::optional<std::string_view> header(std::string_view name) const;
};

/// How the server misbehaves after reading a request.
enum class http_fault {
  none,                    ///< answer normally
  hang,                    ///< never answer; the connection stays open until the server stops
  close_without_response,  ///< close the connection without a byte of response
  truncated_body,          ///< declare Content-Length = body.size(), send fewer bytes, close
};

/// The scripted answer to one request.
struct scripted_response {
  unsigned status = 200;
  /// Extra header fields. Content-Length / Transfer-Encoding / Connection are added by
  /// the server unless present here (then the given value is sent verbatim).
  header_list headers;
  std::string body;
  http_fault fault = http_fault::none;
  /// Wait this long after reading the request before answering (or faulting).
  std::chrono::milliseconds delay{0};
  /// Send the body with Transfer-Encoding: chunked, in chunks of `chunk_size` bytes.
  bool chunked = false;
  std::size_t chunk_size = 7;
  /// With `chunked`: trailer fields sent after the last chunk, verbatim (no size check, so
  /// a test can send fields no well-behaved server would).
  header_list trailers;
  /// Bytes sent after the response, unasked (in the same write, or `trailing_delay`
  /// later): a client must never read them as the answer to its next request.
  std::string trailing_bytes;
  std::chrono::milliseconds trailing_delay{0};
  /// truncated_body: body bytes actually sent (nullopt: half of the body).
  std::optional<std::size_t> truncate_at;
  /// Runs on the server's thread once the head went out and before any body byte is
  /// written (the server waits for it): a test holds the body back until it saw the head.
  std::function<void()> before_body;
  /// Non-zero: the response is written this many bytes per write (over TLS: per record),
  /// every write held back until the last (TCP_CORK), so that all of them arrive together,
  /// as a burst of SSE events does.
  std::size_t burst_piece = 0;
};

using http_handler = std::function<scripted_response(const http_request_record&)>;

struct test_http_server_options {
  bool tls = false;
  /// Certificate SANs for HTTPS.
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1"};
};

/// A throwaway test CA and a server certificate it issued (P-256, valid from one hour
/// ago for one day).
struct test_tls_identity {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string ca_key_pem;

  static test_tls_identity generate(const std::vector<std::string>& dns_names,
                                    const std::vector<std::string>& ip_addresses);
  /// Another server certificate, with a new key, from the same CA.
  test_tls_identity reissue(const std::vector<std::string>& dns_names,
                            const std::vector<std::string>& ip_addresses) const;
};

/// Writes `contents` to a fresh file in the temp directory; removes it on destruction.
class temp_file {
 public:
  explicit temp_file(std::string_view contents, std::string_view suffix = ".pem");
  ~temp_file();
  temp_file(const temp_file&) = delete;
  temp_file& operator=(const temp_file&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class test_http_server {
 public:
  /// Binds 127.0.0.1:0 and starts serving. The handler runs on the server thread.
  explicit test_http_server(http_handler handler, test_http_server_options options = {});
  ~test_http_server();
  test_http_server(const test_http_server&) = delete;
  test_http_server& operator=(const test_http_server&) = delete;

  std::uint16_t port() const;
  bool tls() const;
  /// "http://127.0.0.1:PORT" or "https://127.0.0.1:PORT".
  std::string base_url() const;
  /// base_url() + target (target starts with '/').
  std::string url(std::string_view target) const;

  /// HTTPS only: the test CA (PEM) and a PEM file with it, written on first use and
  /// removed with the server.
  const std::string& ca_pem() const;
  const std::string& ca_file() const;
  /// HTTPS only: the server's own certificate (PEM), e.g. to compute its SPKI fingerprint.
  const std::string& cert_pem() const;

  /// Replaces the handler (thread-safe; affects requests read afterwards).
  void set_handler(http_handler handler);

  /// Everything received so far, in arrival order (thread-safe copies).
  std::vector<http_request_record> requests() const;
  std::size_t request_count() const;
  /// Requests whose target equals `target` exactly (path + query).
  std::size_t request_count(std::string_view target) const;
  /// TCP connections accepted so far.
  std::size_t connection_count() const;
  /// Blocks until at least `n` requests arrived or `timeout` passed; true if they did.
  bool wait_for_requests(std::size_t n, std::chrono::milliseconds timeout) const;

  /// Stops accepting and drops every connection (hanging ones too). Idempotent; the
  /// destructor calls it.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace vp::test
