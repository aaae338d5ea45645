#include "proxy/error_body.hpp"

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <utility>

#include "core/text.hpp"

namespace vp::proxy {
namespace {

error_response make(unsigned status, std::string_view message, std::string_view type,
                    std::optional<std::string_view> code, bool retryable) {
  return error_response{status, make_error_body(message, type, code), code ? std::string(*code) : std::string(),
                        retryable, {}, std::string(message)};
}

}  // namespace

std::string make_error_body(std::string_view message, std::string_view type, std::optional<std::string_view> code) {
  boost::json::object error;
  error["message"] = text::valid_utf8(message);
  error["type"] = text::valid_utf8(type);
  if (code) {
    error["code"] = text::valid_utf8(*code);
  } else {
    error["code"] = nullptr;
  }
  boost::json::object root;
  root["error"] = std::move(error);
  return boost::json::serialize(root);
}

error_response bad_request(std::string_view message, std::optional<std::string_view> code) {
  return make(400, message, "invalid_request_error", code, false);
}

error_response request_refused(unsigned status, std::string_view message, std::string_view code) {
  return make(status, message, "invalid_request_error", code, false);
}

error_response method_not_allowed(std::string_view method) {
  auto e = make(405,
                "method " + std::string(method) +
                    " is not supported: the proxy relays HTTP requests to verified backends and is not a tunnel",
                "invalid_request_error", "method_not_allowed", false);
  e.fields.emplace_back("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS");
  return e;
}

error_response overloaded(std::string_view message, std::string_view code) {
  auto e = make(503, message, "server_error", code, true);
  e.fields.emplace_back("Retry-After", "1");
  return e;
}

error_response domain_not_allowed(std::string_view domain) {
  std::string message = "domain \"";
  message += domain;
  message += "\" is not allowed (see --allow-domain); the request was not forwarded";
  return make(403, message, "request_forbidden", "domain_not_allowed", false);
}

error_response forbidden(std::string_view message, std::string_view code) {
  return make(403, message, "request_forbidden", code, false);
}

error_response body_too_large(std::size_t limit_bytes) {
  const std::string message =
      "request body is larger than the proxy's limit of " + text::size_text(limit_bytes) + " (see --max-body)";
  return make(413, message, "invalid_request_error", "request_too_large", false);
}

error_response verification_failed(std::string_view check, std::string_view message) {
  return make(502, message, "attestation_error", check.empty() ? "verification_failed" : check, false);
}

error_response backend_unreachable(std::string_view message) {
  return make(502, message, "server_error", "backend_unreachable", true);
}

error_response too_many_connections(std::size_t limit) {
  const std::string message = "the proxy is serving its limit of " + std::to_string(limit) +
                              " client connections, all busy (see --max-connections); retry shortly";
  return overloaded(message, "too_many_connections");
}

namespace {

// Our sources being down (collateral, NVIDIA's attestation service) or a local fault is
// not a verdict about the backend: a retry may succeed.
bool is_ours(const failure& f) {
  return f.phase == failure_phase::collateral || f.phase == failure_phase::internal || !f.about_backend;
}

std::string what_failed(const failure& f) {
  const std::string at = f.json_pointer.empty() ? std::string() : " at " + f.json_pointer;
  switch (f.phase) {
    case failure_phase::quote: return "its Intel TDX quote" + at + " failed the " + f.code + " check";
    case failure_phase::binding: return "its attestation" + at + " is not bound to this connection (" + f.code + ")";
    case failure_phase::policy: {
      // The policy's name is only in the message ("workload policy 'nearai': …"); the
      // user needs it to know which file (or the built-in one) refused.
      std::string policy = "the workload policy";
      constexpr std::string_view marker = "workload policy '";
      if (const auto at_marker = f.message.find(marker); at_marker != std::string::npos) {
        const auto end = f.message.find('\'', at_marker + marker.size());
        if (end != std::string::npos) policy = f.message.substr(at_marker, end + 1 - at_marker);
      }
      return "its attestation" + at + " failed the " + f.code + " check of " + policy;
    }
    case failure_phase::gpu: return "its GPU evidence" + at + " failed the " + f.code + " check";
    case failure_phase::collateral: return "Intel's collateral for its platform" + at + " could not be obtained";
    case failure_phase::report:
    case failure_phase::exchange: return "its attestation report" + at + " was not usable (" + f.code + ")";
    case failure_phase::connect:
    case failure_phase::tls: return "it could not be reached (" + f.code + ")";
    case failure_phase::internal: return "the proxy could not attest it (" + f.code + ")";
  }
  return f.code;
}

}  // namespace

std::string refusal_message(const failure& f, std::string_view backend) {
  std::string out = "Nothing was sent to ";
  out += backend;
  out += ": ";
  const std::string detail = failure_detail(f);
  if (f.code.ends_with("_timeout")) {
    out += detail + "; retrying may succeed";
  } else if (f.code == "backend_unreachable") {
    out += "it could not be reached (" + detail + "); check the network and retry";
  } else if (f.code == "attestation_unauthorized") {
    out += "it refused the attestation request for the client's API key (" + detail +
           "); check the key the client sends";
  } else if (is_ours(f)) {
    out += what_failed(f) + " (" + detail + "); that is on this side, not a verdict about the backend: retry shortly";
  } else {
    out += what_failed(f) + " (" + detail + "); it stays refused while it presents this evidence, so retrying will "
           "not help";
  }
  return out;
}

error_response refusal_response(const failure& f, std::string_view backend) {
  const std::string message = refusal_message(f, backend);
  if (f.code.ends_with("_timeout")) return make(504, message, "timeout_error", f.code, true);
  if (f.code == "backend_unreachable") return backend_unreachable(message);
  // The gateway's answer about the client's own credential: the client must fix it.
  if (f.code == "attestation_unauthorized") return make(401, message, "authentication_error", f.code, false);
  return make(502, message, "attestation_error", f.code.empty() ? "verification_failed" : f.code, is_ours(f));
}

error_response gateway_timeout(std::string_view phase, std::string_view message, bool retryable) {
  std::string code(phase);
  code += code.empty() ? "timeout" : "_timeout";
  return make(504, message, "timeout_error", code, retryable);
}

std::string error_code_of(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  if (ec || !parsed.is_object()) return {};
  const auto* error = parsed.as_object().if_contains("error");
  if (error == nullptr || !error->is_object()) return {};
  for (const char* key : {"code", "type"}) {
    const auto* value = error->as_object().if_contains(key);
    if (value != nullptr && value->is_string() && !value->as_string().empty()) return std::string(value->as_string());
  }
  return {};
}

}  // namespace vp::proxy
