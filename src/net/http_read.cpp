#include "net/http_read.hpp"

#include <boost/asio/ssl/error.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>

#include "core/text.hpp"

namespace vp::net {

namespace beast = boost::beast;
namespace http = beast::http;

read_failure describe_read_failure(const response_read& read, const std::optional<message_violation>& violation,
                                   const read_wording& wording) {
  using k = read_failure::kind;
  const std::string subject(wording.subject);
  const auto protocol = [](std::string cause) { return read_failure{k::protocol, std::move(cause)}; };
  if (read.too_many_interim) {
    return protocol("more than " + std::to_string(max_interim_responses) + " interim responses");
  }
  const auto& ec = read.ec;
  // The parser's own rules (oversized or forbidden header / trailer fields) name the part
  // that was refused; the Beast error code alone would say "header limit exceeded".
  if (violation) return protocol("malformed " + subject + ": " + violation->reason);
  if (ec == beast::error::timeout) {
    return {k::timeout, "no complete " + subject + " within the " + std::string(wording.deadline_name) + " of " +
                            text::milliseconds_text(wording.deadline)};
  }
  if (ec == http::error::body_limit) {
    return {k::too_large, subject + " body exceeds the limit of " + std::to_string(wording.max_body) + " bytes"};
  }
  if (ec == http::error::header_limit) {
    return protocol(subject + " header exceeds " + std::to_string(max_header_bytes) + " bytes");
  }
  if (ec == http::error::end_of_stream) return protocol("connection closed without a response");
  if (ec == http::error::partial_message) return protocol("connection closed mid-message (truncated " + subject + ")");
  if (ec == boost::asio::ssl::error::stream_truncated) {
    // Without close_notify an EOF-delimited or short body cannot be told from an
    // attacker cutting the connection.
    return protocol("connection closed mid-message without TLS close_notify (truncated " + subject + ")");
  }
  if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
    return protocol("malformed " + subject + ": " + ec.message());
  }
  return protocol("reading the " + subject + " failed: " + ec.message());
}

}  // namespace vp::net
