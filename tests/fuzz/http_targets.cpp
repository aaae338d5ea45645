// The HTTP entry points of fuzz_targets.hpp: the parsers every byte from a client or a
// backend goes through before the proxy acts on it.

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/string_body.hpp>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "fuzz/fuzz_targets.hpp"
#include "net/bounded_parser.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/routing.hpp"

namespace vp::fuzz {
namespace {

namespace http = boost::beast::http;

[[noreturn]] void http_property_failed(int line, const char* what) {
  std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", __FILE__, line, what);
  std::abort();
}
#define VP_HTTP_ASSERT(cond)                             \
  do {                                                   \
    if (!(cond)) http_property_failed(__LINE__, #cond); \
  } while (false)

constexpr std::uint64_t fuzz_body_limit = 1u << 20;

/// Feeds `bytes` to `parser` `step` bytes at a time, like reads from a socket, keeping the
/// unconsumed rest as Beast's read loop does. Returns the first error (need_more and
/// need_buffer are not errors) and how many bytes stayed unconsumed.
template <class Parser, class OnBody>
std::pair<boost::beast::error_code, std::size_t> feed(Parser& parser, std::string_view bytes, std::size_t step,
                                                      OnBody&& on_body) {
  std::string pending;
  boost::beast::error_code ec;
  std::size_t at = 0;
  while (!parser.is_done()) {
    if (at < bytes.size()) {
      pending.append(bytes.substr(at, step));
      at += step;
    } else if (pending.empty()) {
      break;
    }
    on_body(parser);
    const std::size_t used = parser.put(boost::asio::buffer(pending), ec);
    pending.erase(0, used);
    if (ec == http::error::need_more || ec == http::error::need_buffer) {
      ec = {};
      if (used == 0 && at >= bytes.size()) break;
      continue;
    }
    if (ec) break;
  }
  return {ec, pending.size() + (bytes.size() > at ? bytes.size() - at : 0)};
}

std::size_t count_fields(const http::fields& f, http::field name) {
  std::size_t n = 0;
  for (const auto& e : f) {
    if (e.name() == name) ++n;
  }
  return n;
}

}  // namespace

void http_request_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::size_t step = 1 + data[0] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  net::bounded_request_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(fuzz_body_limit);
  const auto [ec, rest] = feed(parser, bytes, step, [](auto&) {});
  if (parser.violation()) VP_HTTP_ASSERT(ec);
  if (!parser.is_header_done()) return;
  const auto& req = parser.get();
  VP_HTTP_ASSERT(req.method_string().size() <= net::max_method_bytes || ec);
  for (const auto& f : req) {
    VP_HTTP_ASSERT(f.name_string().size() <= net::max_field_name_bytes);
    VP_HTTP_ASSERT(f.value().size() <= net::max_field_value_bytes);
  }
  if (!parser.is_done() || ec) return;
  // An accepted request has certain framing.
  if (req.version() >= 11) VP_HTTP_ASSERT(count_fields(req, http::field::host) == 1);
  if (req.find(http::field::transfer_encoding) != req.end()) {
    VP_HTTP_ASSERT(!net::detail::request_transfer_coding_violation(req));
    VP_HTTP_ASSERT(parser.chunked());
  }
  VP_HTTP_ASSERT(req.body().size() <= fuzz_body_limit);
  // Trailers are dropped: no framing field can appear twice through a trailer.
  VP_HTTP_ASSERT(count_fields(req, http::field::content_length) <= 1 || !parser.chunked());

  std::string why;
  const std::string_view method(req.method_string().data(), req.method_string().size());
  const std::string_view target(req.target().data(), req.target().size());
  if (const auto origin = proxy::origin_form_target(method, target, why)) {
    VP_HTTP_ASSERT(origin->starts_with('/') || (*origin == "*" && method == "OPTIONS"));
  } else {
    VP_HTTP_ASSERT(!why.empty());
  }
  const auto lookup = proxy::find_request_model(req.body());
  if (lookup.result == proxy::model_lookup::outcome::found) {
    VP_HTTP_ASSERT(req.body().find("model") != std::string::npos || req.body().find("\\u") != std::string::npos);
  }
  if (const auto it = req.find("X-Backend-Domain"); it != req.end()) {
    if (const auto host = proxy::normalize_host(std::string_view(it->value().data(), it->value().size()))) {
      VP_HTTP_ASSERT(host->find_first_of(":/@[] ") == std::string::npos);
    }
  }
}

void http_response_input(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  const std::size_t step = 1 + data[0] % 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  for (const bool head : {false, true}) {
    // The forwarder's shape: a small buffer body refilled before each put.
    net::bounded_response_parser<http::buffer_body> relay;
    relay.eager(true);
    relay.body_limit(boost::none);
    if (head) relay.skip(true);
    std::array<char, 97> chunk{};
    std::size_t relayed = 0;
    feed(relay, bytes, step, [&](auto& p) {
      if (!p.is_header_done()) return;
      relayed += chunk.size() - p.get().body().size;
      p.get().body().data = chunk.data();
      p.get().body().size = chunk.size();
    });
    if (head && relay.is_done()) VP_HTTP_ASSERT(relayed == 0);
    if (relay.violation()) VP_HTTP_ASSERT(relay.violation()->status == 400 || relay.violation()->status == 431);

    // The HTTP client's shape: the whole body in a string, bounded.
    net::bounded_response_parser<http::string_body> whole;
    whole.eager(true);
    whole.body_limit(fuzz_body_limit);
    if (head) whole.skip(true);
    const auto [ec, rest] = feed(whole, bytes, step, [](auto&) {});
    if (whole.is_done() && !ec) {
      VP_HTTP_ASSERT(whole.get().body().size() <= fuzz_body_limit);
      if (head) VP_HTTP_ASSERT(whole.get().body().empty());
      for (const auto& f : whole.get()) VP_HTTP_ASSERT(f.value().size() <= net::max_field_value_bytes);
    }
  }
}

std::vector<std::string> http_request_seeds() {
  const std::string chunked_head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Backend-Domain: glm-5.completions.near.ai\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  const std::string body = R"({"model":"zai-org/GLM-5-FP8","messages":[{"role":"user","content":"hi"}]})";
  std::vector<std::string> out = {
      "\x07POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body,
      "\x10" + chunked_head + "4\r\n{\"a\"\r\n5;ext=1\r\n:1}  \r\n0\r\nX-Sum: 1\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
      "\x01GET http://evil.example.com/v1/models?x=1 HTTP/1.1\r\nHost: evil.example.com\r\n\r\n",
      "\x02OPTIONS * HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
      "\x3f" + chunked_head + "0\r\nX-Big: " + std::string(70'000, 'v') + "\r\n\r\n",
      "\x3f" + chunked_head + "0\r\n" + std::string(70'000, 'n') + ": v\r\n\r\n",
      "\x05" + chunked_head + "0\r\nContent-Length: 5\r\n\r\n",
  };
  for (const char* coding : {"chunked, identity", "gzip, chunked", "chunked;q=1", "chunked, chunked", "identity"}) {
    out.push_back("\x09POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + std::string(coding) +
                  "\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n");
  }
  return out;
}

std::vector<std::string> http_response_seeds() {
  const std::string sse = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n";
  std::ostringstream size;
  size << std::hex << sse.size();
  return {
      "\x07HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
      "\x11HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + size.str() +
          "\r\n" + sse + "\r\n0\r\nX-Signature: s\r\n\r\n",
      "\x03HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
      "\x05HTTP/1.0 200 OK\r\n\r\nclose-delimited body",
      "\x3fHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: " + std::string(70'000, 'v') + "\r\n\r\n",
      "\x3fHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + std::string(70'000, 'n') + ": v\r\n\r\n",
      "\x09HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra",
  };
}

}  // namespace vp::fuzz
