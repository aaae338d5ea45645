#pragma once
// After a signed endpoint's answer: GET /v1/signature/{chat_id} on the very connection
// that carried it (a direct hostname fronts several CVMs, and only this one signed this
// answer: docs/gpu-signatures-e2ee.md §3.3), retried while the backend has not stored it
// yet (it does so after the last chunk), and verified against the attested key and the
// hashes of the exact bytes written and read.

#include <boost/asio/awaitable.hpp>

#include <boost/system/result.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "signature/response_signature.hpp"
#include "upstream/attested_connection.hpp"

namespace vp::server {

enum class signature_status {
  valid,        ///< signed by the attested key over exactly these bytes
  invalid,      ///< a signature came, and it is not that
  unavailable,  ///< none could be had (no id, 404 until the wait ran out, the backend failed)
};
/// "valid" / "invalid" / "unavailable", as X-Signature-Status says.
std::string_view to_string(signature_status s) noexcept;

struct signature_outcome {
  signature_status status = signature_status::unavailable;
  /// The failed check ("" when valid): signature::verification's, or "signature_unavailable".
  std::string failed_check;
  /// One line for the log and the local /v1/signature answer (never any content).
  std::string detail;
  /// The backend's JSON answer, when one came.
  std::optional<std::string> document;
  /// Behind a gateway, whose signature it was: "provider_tee" (the model CVM's) or
  /// "gateway" (the gateway CVM's own); "" for a direct backend's.
  std::string kind{};
};

/// The outcome when no signature could be had, and why (failed check "signature_unavailable").
signature_outcome signature_unavailable(std::string why);

/// The refusal code for an outcome that is not valid: "signature_invalid" or
/// "signature_unavailable".
std::string_view refusal_code(const signature_outcome& outcome) noexcept;

/// How signatures are judged behind NEAR's gateway (docs/gpu-signatures-e2ee.md §5.1 step
/// 6, §5.2): the document's signature_kind says whose key signed. "provider_tee" (or no
/// kind) is judged against the lookup's `expected` (the attested model key, its text
/// naming the model); "gateway" against `own`.
struct gateway_signatures {
  /// A "gateway" signature: the attested gateway key over "sha256(req):sha256(resp)".
  /// nullopt: refused — the request was end-to-end encrypted and relayed byte-exactly, so
  /// only the model's own signature vouches for what the model answered; one the gateway
  /// made itself proves only what the gateway sent.
  std::optional<signature::expectations> own;
};

struct signature_lookup {
  std::string chat_id;
  /// Behind a gateway: the model the answer came from (the lookup's `model=` parameter),
  /// and how its signature kinds are judged.
  std::optional<std::string> model;
  std::optional<gateway_signatures> gateway;
  attest::signing_algorithm signing_algo = attest::signing_algorithm::ed25519;
  /// The client's Authorization, sent with the lookup as NEAR requires.
  std::optional<std::string> authorization;
  signature::expectations expected;
  /// How long a 404 is retried: the backend stores the signature after the last chunk.
  std::chrono::milliseconds wait{3000};
  /// Each lookup exchange.
  std::chrono::milliseconds timeout{10'000};
};

/// A new connection to the key that served the answer, for when the backend closed the one
/// that carried it (the message says why there is none). Never another key: only the CVM
/// that served the answer signed it.
using reconnect_fn =
    std::function<boost::asio::awaitable<boost::system::result<upstream::upstream_connection, std::string>>()>;

/// Looks the signature up on `conn` and verifies it. When a connection cannot carry the
/// lookup (the backend closed it, after the answer or after a 404), `reconnect` gives
/// another (at most twice); without it the signature is unavailable. Never throws.
boost::asio::awaitable<signature_outcome> check_signature(upstream::upstream_connection& conn,
                                                          signature_lookup lookup, reconnect_fn reconnect = {});

/// The outcome of checking `document` (the JSON of a signature lookup) against `expected`,
/// or behind a gateway (`gateway` not null) against the expectations of its kind.
signature_outcome judge_signature(std::string document, const signature::expectations& expected,
                                  const gateway_signatures* gateway = nullptr);

}  // namespace vp::server
