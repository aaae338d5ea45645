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
                        retryable};
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
      "request body is larger than the proxy's limit of " + std::to_string(limit_bytes) + " bytes (see --max-body)";
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

error_response refusal_response(const failure& f) {
  if (f.code.ends_with("_timeout")) return make(504, f.message, "timeout_error", f.code, true);
  if (f.code == "backend_unreachable") return backend_unreachable(f.message);
  // The gateway's answer about the client's own credential: the client must fix it.
  if (f.code == "attestation_unauthorized") return make(401, f.message, "authentication_error", f.code, false);
  // Our sources being down (collateral, NVIDIA's attestation service) is not a verdict
  // about the backend: a retry may succeed.
  const bool ours =
      f.phase == failure_phase::collateral || f.phase == failure_phase::internal || !f.about_backend;
  return make(502, f.message, "attestation_error", f.code.empty() ? "verification_failed" : f.code, ours);
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
