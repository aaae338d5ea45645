#pragma once
// An HTTP/1 parser that never throws on hostile input and bounds every part of a message.
//
// Beast's `http::parser` inserts each field with `basic_fields::insert`, which throws
// `std::length_error` for a name or value over 64 KiB. The header section is bounded by
// `header_limit`, but the trailer section of a chunked body is not (Beast applies no limit
// to it), so a single chunked message with a large trailer field used to throw out of an
// I/O completion handler and terminate the process. This parser:
//  - refuses any field whose name or value exceeds the limits below, in the header and in
//    the trailer section, with `http::error::header_limit` (no exception);
//  - bounds the whole trailer section by the same byte limit as the header section;
//  - never merges trailer fields into the header (RFC 9110 §6.5.1: a recipient must not
//    merge trailers into the header section unless it knows the field's definition allows
//    it; the proxy re-frames bodies and forwards no trailers), and refuses trailer fields
//    that would alter framing, routing or authentication (RFC 9110 §6.5.1 lists them);
//  - for requests, enforces RFC 9112 message-framing rules that Beast leaves to the
//    application: a Transfer-Encoding whose final coding is not a single parameterless
//    `chunked` makes the body length undeterminable (§6.3: 400); other codings are not
//    supported (§6.1: 501); exactly one Host in HTTP/1.1 (§3.2: 400); a bounded method.
// A refused message leaves `violation()` set with the status to answer and a reason.
//
// The read buffer that feeds the parser must also be bounded (a `flat_buffer` with a
// maximum size): Beast keeps an incomplete trailer section in that buffer until the final
// CRLF arrives.

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vp::net {

/// Why a message was refused by the parser's own rules (not a Beast syntax error).
struct message_violation {
  unsigned status = 400;  ///< 400, 431 or 501: what a server answers
  std::string reason;     ///< one sentence, safe to show (no field values)
};

/// The largest field name and value accepted anywhere in a message. Beast's own hard
/// limit is 65,533 bytes; real names are short and values rarely exceed a few KiB.
inline constexpr std::size_t max_field_name_bytes = 1024;
inline constexpr std::size_t max_field_value_bytes = 32 * 1024;
/// The header section limit used for every message the proxy reads (requests from
/// clients, responses from backends, the discovery list, collateral). Trailer sections
/// are held to the same limit.
inline constexpr std::uint32_t max_header_bytes = 64 * 1024;
/// The most unparsed bytes a connection's read buffer may hold: a header section, or an
/// incomplete trailer section, plus one read. Larger means a hostile peer.
inline constexpr std::size_t max_read_buffer_bytes = 2 * max_header_bytes + 64 * 1024;
/// Methods are tokens; none registered is longer than 17 characters.
inline constexpr std::size_t max_method_bytes = 32;

namespace detail {

/// Fields a sender must not put in a trailer section, or whose presence there would let a
/// trailer override framing, routing or credentials (RFC 9110 §6.5.1).
inline bool forbidden_in_trailer(boost::beast::http::field f, std::string_view name) {
  using boost::beast::http::field;
  switch (f) {
    case field::content_length:
    case field::transfer_encoding:
    case field::host:
    case field::connection:
    case field::keep_alive:
    case field::te:
    case field::trailer:
    case field::upgrade:
    case field::content_type:
    case field::content_encoding:
    case field::content_range:
    case field::authorization:
    case field::proxy_authorization:
    case field::set_cookie:
    case field::cookie:
    case field::expect:
    case field::range:
      return true;
    default:
      return boost::beast::iequals(name, "x-backend-domain");
  }
}

/// RFC 9112 §6.1-6.3 for a request's Transfer-Encoding fields (all of them, in order):
/// nullopt when acceptable (exactly one final `chunked`, no parameters, nothing else).
template <class Fields>
std::optional<message_violation> request_transfer_coding_violation(const Fields& fields) {
  using boost::beast::http::field;
  std::vector<std::string> codings;
  bool parameters = false;
  for (auto it = fields.find(field::transfer_encoding); it != fields.end() && it->name() == field::transfer_encoding;
       ++it) {
    const auto value = it->value();
    std::size_t start = 0;
    while (start <= value.size()) {
      auto end = value.find(',', start);
      if (end == boost::beast::string_view::npos) end = value.size();
      auto element = std::string_view(value.data() + start, end - start);
      while (!element.empty() && (element.front() == ' ' || element.front() == '\t')) element.remove_prefix(1);
      while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) element.remove_suffix(1);
      if (const auto semi = element.find(';'); semi != std::string_view::npos) {
        parameters = true;
        element = element.substr(0, semi);
        while (!element.empty() && (element.back() == ' ' || element.back() == '\t')) element.remove_suffix(1);
      }
      if (!element.empty()) codings.emplace_back(element);
      start = end + 1;
    }
  }
  if (codings.empty()) {
    if (fields.find(field::transfer_encoding) == fields.end()) return std::nullopt;
    return message_violation{400, "Transfer-Encoding is empty"};
  }
  std::size_t chunked = 0;
  for (const auto& c : codings) {
    if (boost::beast::iequals(c, "chunked")) ++chunked;
  }
  if (!boost::beast::iequals(codings.back(), "chunked") || chunked != 1) {
    return message_violation{400, "Transfer-Encoding must end with exactly one \"chunked\" (RFC 9112 §6.3)"};
  }
  if (parameters) return message_violation{400, "the chunked transfer coding takes no parameters"};
  if (codings.size() != 1) {
    return message_violation{501, "transfer codings other than chunked are not supported (RFC 9112 §6.1)"};
  }
  return std::nullopt;
}

}  // namespace detail

template <bool isRequest, class Body>
class bounded_parser : public boost::beast::http::parser<isRequest, Body> {
  using base = boost::beast::http::parser<isRequest, Body>;

 public:
  bounded_parser() { this->header_limit(max_header_bytes); }

  /// Set when the message was refused by one of the rules above (the read then fails
  /// with a Beast error code; this says which status to answer and why).
  const std::optional<message_violation>& violation() const noexcept { return violation_; }

 private:
  void refuse(unsigned status, std::string reason, boost::beast::error_code& ec, boost::beast::http::error code) {
    if (!violation_) violation_ = message_violation{status, std::move(reason)};
    ec = code;
  }

  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override {
    using boost::beast::http::error;
    ec = {};
    const std::size_t size = name_string.size() + value.size() + 4;
    if (this->is_header_done()) {
      // Trailer section: bounded, screened, and then dropped.
      trailer_bytes_ += size;
      if (name_string.size() > max_field_name_bytes || value.size() > max_field_value_bytes ||
          trailer_bytes_ > max_header_bytes) {
        return refuse(431, "trailer section too large", ec, error::header_limit);
      }
      if (detail::forbidden_in_trailer(name, std::string_view(name_string.data(), name_string.size()))) {
        return refuse(400, "a trailer field may not carry framing, routing or credential fields", ec,
                      error::bad_field);
      }
      return;
    }
    if (name_string.size() > max_field_name_bytes || value.size() > max_field_value_bytes) {
      return refuse(431, "a header field is too large", ec, error::header_limit);
    }
    // Counted here for on_header_impl: a lookup by name afterwards walks the field tree.
    if (name == boost::beast::http::field::host) ++hosts_;
    if (name == boost::beast::http::field::transfer_encoding) transfer_encoding_ = true;
    this->get().insert(name, name_string, value);
  }

  void on_header_impl(boost::beast::error_code& ec) override {
    ec = {};
    if constexpr (isRequest) {
      using boost::beast::http::error;
      const auto& h = this->get();
      if (h.method_string().size() > max_method_bytes) {
        return refuse(400, "request method too long", ec, error::bad_method);
      }
      if (hosts_ > 1) return refuse(400, "more than one Host header field (RFC 9112 §3.2)", ec, error::bad_field);
      if (hosts_ == 0 && h.version() >= 11) {
        return refuse(400, "HTTP/1.1 request without a Host header field (RFC 9112 §3.2)", ec, error::bad_field);
      }
      if (transfer_encoding_) {
        if (h.version() < 11) {
          return refuse(400, "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)", ec,
                        error::bad_transfer_encoding);
        }
        if (auto v = detail::request_transfer_coding_violation(h)) {
          return refuse(v->status, std::move(v->reason), ec, error::bad_transfer_encoding);
        }
      }
    }
  }

  std::optional<message_violation> violation_;
  std::size_t trailer_bytes_ = 0;
  std::size_t hosts_ = 0;  ///< Host fields of the header section
  bool transfer_encoding_ = false;
};

template <class Body>
using bounded_request_parser = bounded_parser<true, Body>;
template <class Body>
using bounded_response_parser = bounded_parser<false, Body>;

}  // namespace vp::net
