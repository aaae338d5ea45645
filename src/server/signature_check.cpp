#include "server/signature_check.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <boost/url/encode.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

#include <exception>

#include "core/text.hpp"
#include "net/bounded_parser.hpp"
#include "net/http_read.hpp"

namespace vp::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using steady = std::chrono::steady_clock;

namespace {

/// A signature answer is a few hundred bytes.
constexpr std::size_t max_signature_answer = 64 * 1024;

struct lookup_answer {
  unsigned status = 0;
  std::string body;
  std::string error;  ///< the exchange failed
};

asio::awaitable<lookup_answer> one_lookup(upstream::upstream_connection& conn, const signature_lookup& lookup) {
  const auto tuple = asio::as_tuple(asio::use_awaitable);
  lookup_answer out;
  if (!conn.reusable()) {
    out.error = "the connection that carried the answer cannot carry the lookup";
    co_return out;
  }
  std::string target = "/v1/signature/" + lookup.chat_id + "?";
  if (lookup.model) target += "model=" + boost::urls::encode(*lookup.model, boost::urls::unreserved_chars) + "&";
  target += "signing_algo=" + std::string(attest::to_string(lookup.signing_algo));
  http::request<http::empty_body> request{http::verb::get, target, 11};
  request.set(http::field::host, conn.host_header());
  request.set(http::field::user_agent, "verified-proxy");
  request.set(http::field::accept, "application/json");
  request.set(http::field::accept_encoding, "identity");
  request.set(http::field::connection, "keep-alive");
  if (lookup.authorization) request.set(http::field::authorization, *lookup.authorization);
  auto& tcp_layer = beast::get_lowest_layer(conn.stream());
  tcp_layer.expires_after(lookup.timeout);
  if (auto [ec, n] = co_await http::async_write(conn.stream(), request, tuple); ec) {
    conn.mark_not_reusable();
    out.error = "sending the lookup failed: " + ec.message();
    co_return out;
  }
  std::optional<net::bounded_response_parser<http::string_body>> parser;
  const auto prepare = [](net::bounded_response_parser<http::string_body>& p) {
    p.body_limit(static_cast<std::uint64_t>(max_signature_answer));
  };
  const auto reading =
      co_await net::read_final_response<net::read_scope::message>(conn.stream(), conn.buffer(), parser, prepare);
  tcp_layer.expires_never();
  if (reading.failed()) {
    conn.mark_not_reusable();
    const net::read_wording wording{"signature answer", "signature lookup timeout", lookup.timeout,
                                    max_signature_answer};
    out.error = net::describe_read_failure(reading, parser->violation(), wording).cause;
    co_return out;
  }
  auto response = parser->release();
  if (!response.keep_alive()) conn.mark_not_reusable();
  out.status = response.result_int();
  out.body = std::move(response.body());
  co_return out;
}

asio::awaitable<signature_outcome> check_signature_impl(upstream::upstream_connection& conn,
                                                        const signature_lookup& lookup, const reconnect_fn& reconnect) {
  const auto started = steady::now();
  asio::steady_timer pause(co_await asio::this_coro::executor);
  std::chrono::milliseconds backoff{50};
  upstream::upstream_connection* current = &conn;
  std::optional<upstream::upstream_connection> replacement;
  int reconnects = 0;
  for (int attempt = 1;; ++attempt) {
    if (!current->reusable() && reconnect && reconnects < 2) {
      ++reconnects;
      auto fresh = co_await reconnect();
      if (!fresh) co_return signature_unavailable("signature lookup: " + fresh.error());
      replacement.emplace(std::move(*fresh));
      current = &*replacement;
    }
    auto answer = co_await one_lookup(*current, lookup);
    if (!answer.error.empty()) co_return signature_unavailable("signature lookup: " + answer.error);
    if (answer.status == 200) {
      co_return judge_signature(std::move(answer.body), lookup.expected, lookup.gateway ? &*lookup.gateway : nullptr);
    }
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started);
    if (answer.status != 404 || waited + backoff > lookup.wait) {
      co_return signature_unavailable("signature lookup answered HTTP " + std::to_string(answer.status) + " after " +
                            std::to_string(attempt) + " attempt" + (attempt == 1 ? "" : "s") + " (" +
                            text::milliseconds_text(waited) + ")");
    }
    pause.expires_after(backoff);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
    backoff *= 2;
  }
}

}  // namespace

signature_outcome signature_unavailable(std::string why) {
  return signature_outcome{signature_status::unavailable, "signature_unavailable", std::move(why), std::nullopt};
}

std::string_view refusal_code(const signature_outcome& outcome) noexcept {
  return outcome.status == signature_status::invalid ? "signature_invalid" : "signature_unavailable";
}

std::string_view to_string(signature_status s) noexcept {
  switch (s) {
    case signature_status::valid: return "valid";
    case signature_status::invalid: return "invalid";
    case signature_status::unavailable: return "unavailable";
  }
  return "unavailable";
}

signature_outcome judge_signature(std::string document, const signature::expectations& expected,
                                  const gateway_signatures* gateway) {
  auto parsed = signature::parse_signature_document(document);
  if (!parsed) {
    signature_outcome out{parsed.error().code == "signature_unavailable" ? signature_status::unavailable
                                                                         : signature_status::invalid,
                          parsed.error().code, parsed.error().message, std::move(document)};
    return out;
  }
  const signature::expectations* want = &expected;
  std::string kind;
  if (gateway != nullptr) {
    kind = parsed->signature_kind.value_or("provider_tee");
    const auto refused = [&](std::string why) {
      return signature_outcome{signature_status::invalid, "signer_mismatch", std::move(why), std::move(document),
                               kind};
    };
    if (kind == "gateway") {
      if (!gateway->own) {
        return refused(
            "the gateway signed this answer itself (signature_kind \"gateway\"), but the request was end-to-end "
            "encrypted and must come back byte-exact under the model's own signature (\"provider_tee\")");
      }
      want = &*gateway->own;
    } else if (kind != "provider_tee") {
      kind = text::printable_excerpt(kind, 40);
      return refused("signature_kind \"" + kind + "\" is neither \"provider_tee\" nor \"gateway\": no attested key to "
                     "hold it to");
    }
  }
  const auto verdict = signature::verify(*parsed, *want);
  return signature_outcome{verdict.ok() ? signature_status::valid : signature_status::invalid, verdict.failed_check,
                           verdict.message, std::move(document), std::move(kind)};
}

asio::awaitable<signature_outcome> check_signature(upstream::upstream_connection& conn, signature_lookup lookup,
                                                   reconnect_fn reconnect) {
  std::string unexpected;
  try {
    co_return co_await check_signature_impl(conn, lookup, reconnect);
  } catch (const std::exception& e) {
    unexpected = text::exception_text(e);
  } catch (...) {
    unexpected = "unknown exception";
  }
  conn.mark_not_reusable();
  co_return signature_unavailable("signature lookup: unexpected failure: " + unexpected);
}

}  // namespace vp::server
