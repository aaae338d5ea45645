#pragma once
// A blocking HTTP/1.1 client for end-to-end tests and benchmarks: one keep-alive TCP
// connection to 127.0.0.1:PORT, requests sent verbatim, responses read piece by piece so
// a test can see when each part of a streamed body arrived.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vp::test {

struct client_response {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  /// A chunked body's trailer fields.
  std::vector<std::pair<std::string, std::string>> trailers;
  std::string body;
  /// Body pieces as they were read, with their arrival times.
  std::vector<std::pair<std::chrono::steady_clock::time_point, std::string>> pieces;
  /// The body ended as its framing said; false if the connection broke off.
  bool complete = false;
  bool keep_alive = false;
  std::string error;  ///< transport error, "" if none

  std::optional<std::string_view> header(std::string_view name) const;
  std::optional<std::string_view> trailer(std::string_view name) const;
};

struct client_request {
  std::string method = "GET";
  std::string target = "/";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class http_test_client {
 public:
  explicit http_test_client(std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~http_test_client();
  http_test_client(const http_test_client&) = delete;
  http_test_client& operator=(const http_test_client&) = delete;

  /// Sends one request on the connection (reconnecting if it was closed) and reads the
  /// whole response. With `stop_after_pieces`, closes the connection after that many body
  /// pieces arrived (a client that goes away mid-stream).
  client_response send(const client_request& request, std::optional<std::size_t> stop_after_pieces = std::nullopt);

  /// Sends raw bytes and reads one response (malformed requests).
  client_response send_raw(std::string_view bytes);
  /// Sends raw bytes without reading (a request sent in parts); "" or the error.
  std::string write_raw(std::string_view bytes);
  /// Reads one response (after write_raw).
  client_response read_response();
  /// Waits up to `within` for the server to close the connection: true if it did (end of
  /// stream or reset), false if it stayed open or sent bytes instead.
  bool closed_by_peer(std::chrono::milliseconds within);

  bool connected() const;
  void close();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// One request on a new connection.
client_response http_exchange(std::uint16_t port, const client_request& request);

/// POST /v1/chat/completions for `model` (stream or not) with a bearer token.
client_request chat_request(std::string_view model, bool stream, std::string_view prompt = "hello");

}  // namespace vp::test
