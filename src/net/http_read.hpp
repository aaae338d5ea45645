#pragma once
// Reading an HTTP/1 response as a client, the same way for every client of the proxy (the
// upstream relay, the attestation exchange, http_client): interim (1xx) responses ahead of
// the final one, and what a failed read means.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "net/bounded_parser.hpp"

namespace vp::net {

/// Interim responses tolerated ahead of the final one. RFC 9110 §15.2 lets a server send
/// any number (100 Continue, 102, 103 Early Hints); a peer that sends nothing else would
/// otherwise hold the exchange until its deadline.
inline constexpr int max_interim_responses = 8;

/// RFC 9110 §15.2: a 1xx response is interim, the final response to the same request
/// follows it. 101 is not: after it the connection speaks another protocol (§15.2.2), so no
/// HTTP response follows and reading ends there.
constexpr bool is_interim_status(unsigned status) noexcept {
  return status >= 100 && status < 200 && status != 101;
}

/// How reading up to the final response ended.
struct response_read {
  boost::system::error_code ec;  ///< the read failed (the parser may say why: violation())
  bool too_many_interim = false;  ///< more than max_interim_responses interim responses
  bool failed() const noexcept { return ec || too_many_interim; }
};

enum class read_scope {
  message,  ///< the whole final response, body included
  header,   ///< the final response's header; the caller reads the body with the parser
};

/// Beast's http::async_read_some as a coroutine: what `buffer` holds is parsed first, then
/// reads of up to 64 KiB (Beast's read_size) until the parser takes something; the end of
/// the stream is given to a parser that got some of a message (put_eof), else it is
/// end_of_stream. The same parsing, without Beast's composed operation around each read (an
/// intermediate handler, a work guard and executor copies per read, on the relay's path).
template <class Stream, class DynamicBuffer, bool isRequest>
boost::asio::awaitable<boost::system::error_code> read_and_parse(Stream& stream, DynamicBuffer& buffer,
                                                                 boost::beast::http::basic_parser<isRequest>& parser) {
  namespace http = boost::beast::http;
  boost::system::error_code ec;
  if (buffer.size() != 0) {
    buffer.consume(parser.put(buffer.data(), ec));
    if (ec != http::error::need_more) co_return ec;
  }
  for (;;) {
    const std::size_t room = boost::beast::read_size(buffer, 65536);
    if (room == 0) co_return http::error::buffer_overflow;
    auto [read_ec, n] = co_await stream.async_read_some(buffer.prepare(room),
                                                        boost::asio::as_tuple(boost::asio::use_awaitable));
    buffer.commit(n);
    if (read_ec == boost::asio::error::eof) {
      if (!parser.got_some()) co_return http::error::end_of_stream;
      ec = {};
      parser.put_eof(ec);
      co_return ec;
    }
    if (read_ec) co_return read_ec;
    buffer.consume(parser.put(buffer.data(), ec));
    if (ec != http::error::need_more) co_return ec;
  }
}

/// Reads responses from `stream` until one is not interim (is_interim_status), each into a
/// fresh `parser` set up by `prepare(*parser)` (limits, deadline) before its read. On
/// success `parser` holds the final response, or a 101 for the caller to refuse; the
/// interim ones are dropped.
template <read_scope Scope, class Stream, class DynamicBuffer, class Body, class Prepare>
boost::asio::awaitable<response_read> read_final_response(Stream& stream, DynamicBuffer& buffer,
                                                          std::optional<bounded_response_parser<Body>>& parser,
                                                          Prepare prepare) {
  namespace http = boost::beast::http;
  const auto tuple = boost::asio::as_tuple(boost::asio::use_awaitable);
  response_read out;
  for (int interim = 0;; ++interim) {
    parser.emplace();
    prepare(*parser);
    if constexpr (Scope == read_scope::header) {
      while (!out.ec && !parser->is_header_done()) out.ec = co_await read_and_parse(stream, buffer, *parser);
    } else {
      auto [ec, n] = co_await http::async_read(stream, buffer, *parser, tuple);
      out.ec = ec;
    }
    if (out.ec || !is_interim_status(parser->get().result_int())) co_return out;
    if (interim == max_interim_responses) {
      out.too_many_interim = true;
      co_return out;
    }
  }
}

/// What a failed read_final_response means: the kind, for the caller's own error type, and
/// a sentence naming the cause.
struct read_failure {
  enum class kind { timeout, too_large, protocol };
  kind what;
  std::string cause;
};

/// The words a read_failure's cause uses.
struct read_wording {
  std::string_view subject;        ///< the message being read: "response", "attestation answer"
  std::string_view deadline_name;  ///< "response timeout"
  std::chrono::milliseconds deadline{};
  std::size_t max_body = 0;  ///< the parser's body limit
};

/// Only for a failed `read` (read.failed()); `violation` is the parser's.
read_failure describe_read_failure(const response_read& read, const std::optional<message_violation>& violation,
                                   const read_wording& wording);

}  // namespace vp::net
