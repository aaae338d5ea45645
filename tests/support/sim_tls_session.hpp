#pragma once
// A test client of the simulator's TLS servers (model CVMs and the gateway): one
// connection to 127.0.0.1 made with the proxy's own upstream::connect_upstream, used
// synchronously — every exchange runs on the session's own io_context, bounded in time —
// and the small JSON and E2EE helpers the tests of both servers read answers with.

#include <gtest/gtest.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "attest/near_report.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "e2ee/cipher.hpp"
#include "e2ee/sse.hpp"
#include "support/run_bounded.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::test {

/// `text` parsed as a JSON object (a failed expectation and {} otherwise).
inline boost::json::object parse_object(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << text.substr(0, 300);
  return v.is_object() ? std::move(v.as_object()) : boost::json::object{};
}

inline std::string hex_sha256(std::string_view bytes) { return to_hex(crypto::sha256(as_bytes(bytes))); }

/// The model key an attestation binds, as a client encrypts to it (§4.7 rule 1). Throws
/// std::runtime_error when the key does not bind.
inline e2ee::recipient recipient_of(const attest::near_attestation& a) {
  std::optional<byte_view> key;
  if (a.signing_public_key) key = byte_view(*a.signing_public_key);
  auto bound = e2ee::bind_recipient(a.signing_algo, a.signing_address, key);
  if (!bound) throw std::runtime_error("the report's key does not bind: " + bound.error());
  return *bound;
}

/// An OpenAI chat completion request for `model`: one user message, `prompt`.
inline boost::json::object chat_request(std::string_view model, std::string_view prompt, bool stream) {
  boost::json::object body;
  body["model"] = model;
  body["messages"] = boost::json::array{boost::json::object{{"role", "user"}, {"content", prompt}}};
  body["stream"] = stream;
  return body;
}

/// The data events of a complete SSE entity, in order ([DONE] excluded).
inline std::vector<std::string> data_events(std::string_view entity) {
  e2ee::sse_event_reader reader;
  EXPECT_TRUE(reader.feed(entity));
  std::vector<std::string> out;
  while (auto raw = reader.next()) {
    const e2ee::sse_event event = e2ee::parse_sse_event(*raw);
    if (event.data && *event.data != "[DONE]") out.push_back(*event.data);
  }
  EXPECT_TRUE(reader.pending().empty()) << reader.pending();
  return out;
}

using header_list = std::vector<std::pair<std::string, std::string>>;

/// One TLS connection to a simulated server on 127.0.0.1:`port` for `host`.
class sim_tls_session {
 public:
  using response = boost::beast::http::response<boost::beast::http::string_body>;
  using request = boost::beast::http::request<boost::beast::http::string_body>;

  /// `io_limit` bounds the connect and every exchange; `default_headers` are sent with
  /// every request that does not carry them already (unless an exchange opts out).
  sim_tls_session(const upstream::tls_client_context& tls, const std::string& host, std::uint16_t port,
                  std::chrono::steady_clock::duration io_limit, header_list default_headers = {})
      : io_limit_(io_limit), default_headers_(std::move(default_headers)) {
    using namespace std::chrono_literals;
    auto work = [&]() -> boost::asio::awaitable<bool> {
      upstream::connect_options options;
      options.connect_timeout = 5s;
      options.tls_timeout = 5s;
      options.connect_to = upstream::dial_address{"127.0.0.1", port};
      auto connected = co_await upstream::connect_upstream(ioc_->get_executor(), tls, host, 443, options);
      if (!connected) co_return false;
      connection_.emplace(std::move(*connected));
      co_return true;
    };
    const auto done = run_bounded(*ioc_, io_limit_, work());
    EXPECT_TRUE(done && *done) << "cannot connect to the simulated " << host;
  }

  bool connected() const { return connection_.has_value(); }
  /// The SHA-256 of the SPKI the server presented on this connection (zeros / "" if none).
  sha256_digest live_spki() const { return connection_ ? connection_->spki_sha256() : sha256_digest{}; }
  std::string live_spki_hex() const { return connection_ ? to_hex(connection_->spki_sha256()) : std::string(); }

  /// Sends `r` (with the default headers unless `with_defaults` is false) and reads the
  /// whole answer (chunked bodies de-chunked: the entity).
  std::optional<response> send(request r, bool with_defaults = true) {
    namespace asio = boost::asio;
    namespace http = boost::beast::http;
    if (!connection_) return std::nullopt;
    r.set(http::field::host, connection_->host_header());
    if (with_defaults) {
      for (const auto& [name, value] : default_headers_) {
        if (r.find(name) == r.end()) r.set(name, value);
      }
    }
    r.prepare_payload();
    ioc_->restart();
    auto work = [&]() -> asio::awaitable<std::optional<response>> {
      const auto tuple = asio::as_tuple(asio::use_awaitable);
      if (auto [ec, n] = co_await http::async_write(connection_->stream(), r, tuple); ec) co_return std::nullopt;
      http::response_parser<http::string_body> parser;
      parser.body_limit(32u << 20);
      if (auto [ec, n] = co_await http::async_read(connection_->stream(), connection_->buffer(), parser, tuple); ec) {
        co_return std::nullopt;
      }
      co_return parser.release();
    };
    auto done = run_bounded(*ioc_, io_limit_, work());
    return done ? std::move(*done) : std::nullopt;
  }

  response get(std::string target, bool with_defaults = true) {
    request r{boost::beast::http::verb::get, target, 11};
    auto answer = send(std::move(r), with_defaults);
    EXPECT_TRUE(answer.has_value()) << "GET " << target << ": no answer";
    return answer ? std::move(*answer) : response{};
  }

  response post(std::string target, std::string body, const header_list& headers = {}, bool with_defaults = true) {
    request r{boost::beast::http::verb::post, target, 11};
    r.set(boost::beast::http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) r.set(name, value);
    r.body() = std::move(body);
    auto answer = send(std::move(r), with_defaults);
    EXPECT_TRUE(answer.has_value()) << "POST " << target << ": no answer";
    return answer ? std::move(*answer) : response{};
  }

  upstream::upstream_connection& connection() { return *connection_; }
  boost::asio::io_context& io() { return *ioc_; }

 private:
  std::unique_ptr<boost::asio::io_context> ioc_ = std::make_unique<boost::asio::io_context>();  // destroyed last
  std::chrono::steady_clock::duration io_limit_;
  header_list default_headers_;
  std::optional<upstream::upstream_connection> connection_;
};

}  // namespace vp::test
