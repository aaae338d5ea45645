#pragma once
// The proxy's own error responses, in OpenAI's shape so client SDKs surface them as API
// errors with a readable message: {"error":{"message":…,"type":…,"code":…}}.
//
// SDKs (openai-python, openai-node) pick the exception class from the HTTP status alone
// (400 BadRequestError, 403 PermissionDeniedError, 413 APIStatusError, 5xx
// InternalServerError) and expose `type` / `code` as attributes, so the status carries the
// meaning and `type` / `code` let a program tell the proxy's refusals apart:
//
//   status  type                    code                      when
//   400     invalid_request_error   caller's, or null         bad request (no domain/model, unknown model, bad JSON)
//   403     request_forbidden       domain_not_allowed        the domain is outside --allow-domain
//   413     invalid_request_error   request_too_large         the body is over --max-body
//   502     attestation_error       the failed check          verification failed ("tcb_revoked",
//                                                             "fingerprint_mismatch", … stable spellings)
//   502     server_error            backend_unreachable       DNS / TCP / TLS failure, or the backend broke off
//   503     server_error            too_many_connections      every client connection the proxy may hold is busy
//   504     timeout_error           <phase>_timeout           a phase timed out ("connect_timeout",
//                                                             "tls_timeout", "attestation_timeout", …)
//
// The same SDKs retry 5xx by default unless the response carries `x-should-retry: false`;
// error_response::retryable says which answers are worth retrying (a failed attestation is
// remembered by the negative cache, so retrying it only repeats the refusal).
//
// Messages may carry bytes from the network (backend names, verifier messages quoting
// observed values): the body is always valid JSON and valid UTF-8.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/failure.hpp"

namespace vp::proxy {

/// An error answer: HTTP status and JSON body (Content-Type: application/json).
struct error_response {
  unsigned status = 500;
  std::string body;
  /// The `code` inside body ("" when null), for logs and counters.
  std::string code{};
  /// Whether a client retrying soon could succeed; when false the proxy sends
  /// `x-should-retry: false`, which the OpenAI SDKs honour.
  bool retryable = false;
  /// Fields the answer must carry besides Content-Type (e.g. Allow with 405, Retry-After
  /// with 503).
  std::vector<std::pair<std::string, std::string>> fields{};
  /// The `message` inside body, for the status page's record of a backend's failure.
  std::string message{};
};

/// `{"error":{"message":message,"type":type,"code":code}}` (code null when absent).
/// Invalid UTF-8 in any field is replaced by U+FFFD (one per byte that does not start a
/// valid sequence); quotes, backslashes and control characters are escaped by the JSON
/// serializer.
std::string make_error_body(std::string_view message, std::string_view type,
                            std::optional<std::string_view> code = std::nullopt);

/// 400 invalid_request_error; `code` e.g. "model_not_found", "missing_model", "invalid_json".
error_response bad_request(std::string_view message, std::optional<std::string_view> code = std::nullopt);

/// A request refused as the client sent it, before anything was forwarded (type
/// invalid_request_error, not retryable as sent): 400 malformed_request, 408
/// request_timeout, 431 header_too_large, 501 unsupported_transfer_coding, …
error_response request_refused(unsigned status, std::string_view message, std::string_view code);

/// 405 method_not_allowed, with the Allow field RFC 9110 §15.5.6 requires: the proxy
/// relays requests to backends; it is not a tunnel (CONNECT).
error_response method_not_allowed(std::string_view method);

/// 503 server_error: the proxy is at a limit of its own (buffered request bodies, client
/// connections); retryable, with Retry-After: 1.
error_response overloaded(std::string_view message, std::string_view code);

/// 403 request_forbidden / domain_not_allowed: the client's API key is not sent there.
error_response domain_not_allowed(std::string_view domain);

/// 403 request_forbidden with `code` (e.g. "host_not_local"); not retryable as sent.
error_response forbidden(std::string_view message, std::string_view code);

/// 413 invalid_request_error / request_too_large.
error_response body_too_large(std::size_t limit_bytes);

/// 502 attestation_error; `check` is the failed check's stable spelling (a
/// tdx::to_string(errc) value or a proxy check), `message` names it and the observed
/// values (TCB status, advisories when relevant). Not retryable.
error_response verification_failed(std::string_view check, std::string_view message);

/// The answer for a backend that was not admitted, in one table over the failure
/// vocabulary (core/failure.hpp): `<phase>_timeout` → 504 timeout_error, retryable;
/// `backend_unreachable` → 502 server_error, retryable; our own collateral source or a
/// local failure → 502 attestation_error, retryable; every verdict about the backend →
/// 502 attestation_error, not retryable (`x-should-retry: false`). The code is the
/// failure's code; the message is one sentence saying that nothing of the request was
/// sent to `backend`, what failed (the check, where in the report, the observed detail)
/// and whether retrying can help.
error_response refusal_response(const failure& f, std::string_view backend);

/// That sentence.
std::string refusal_message(const failure& f, std::string_view backend);

/// 502 server_error / backend_unreachable. Retryable.
error_response backend_unreachable(std::string_view message);

/// 503 server_error / too_many_connections: `limit` client connections are open and
/// busy (--max-connections). Retryable: the proxy sends `Retry-After: 1` with it.
error_response too_many_connections(std::size_t limit);

/// 504 timeout_error / "<phase>_timeout" (phase: "connect", "tls", "attestation",
/// "response_headers", "idle", …). Retryable unless the request was already sent: a client
/// resending it would pay for a second generation (x-should-retry: false).
error_response gateway_timeout(std::string_view phase, std::string_view message, bool retryable = true);

/// The `error.code` of an OpenAI-style error body (else its `error.type`), "" when the
/// body is not one. Never throws on untrusted input.
std::string error_code_of(std::string_view body);

}  // namespace vp::proxy
