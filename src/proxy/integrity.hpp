#pragma once
// What the proxy does to one request so that its content is protected end to end and its
// answer provably comes from the attested model (docs/gpu-signatures-e2ee.md §3, §4.7):
// which fields it seals to the attested key, which header fields tell the backend, and
// whether the answer's signature is fetched and checked. Pure: the shell applies the plan.

#include <boost/system/result.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "attest/near_report.hpp"
#include "core/bytes.hpp"
#include "e2ee/cipher.hpp"
#include "e2ee/fields.hpp"
#include "proxy/error_body.hpp"

namespace vp::proxy {

/// --e2ee: off (attested TLS only), on (seal every endpoint NEAR decrypts; others go over
/// the attested TLS only), required (refuse the others).
enum class e2ee_mode { off, on, required };
/// --verify-signatures: off, check (report the verdict), enforce (withhold what is not
/// verified).
enum class signature_mode { off, check, enforce };

std::optional<e2ee_mode> parse_e2ee_mode(std::string_view text) noexcept;
std::optional<signature_mode> parse_signature_mode(std::string_view text) noexcept;
std::string_view to_string(e2ee_mode m) noexcept;
std::string_view to_string(signature_mode m) noexcept;

/// The request fields that carry NEAR's E2EE parameters (§4.1). A client's own values are
/// never mixed with the proxy's: when the proxy seals, it sets all of them itself.
bool is_e2ee_request_field(std::string_view name) noexcept;

/// The attested identity of the backend a request goes to (appraise::backend_keys of the
/// connection's entity): report_data binds `signing_address`; `signing_public_key` is the
/// report's unbound key.
struct backend_identity {
  attest::signing_algorithm signing_algo = attest::signing_algorithm::ed25519;
  bytes signing_address;
  std::optional<bytes> signing_public_key;
  bool bound = false;
  std::optional<std::string> model_name;
};

/// The facts of the client's request that the plan depends on.
struct request_facts {
  std::string_view method;
  std::string_view path;  ///< without the query
  std::string_view content_type;
  std::string_view body;
  /// The client sent E2EE fields of its own (X-Client-Pub-Key / X-Signing-Algo): it
  /// encrypts and decrypts itself, and its body goes as it is.
  bool client_encrypts = false;
};

/// How the request's content is protected on the way, as the X-E2EE response field says.
enum class e2ee_applied {
  none,    ///< the attested TLS connection only
  sealed,  ///< the proxy sealed the covered fields to the attested key (v2 / ecies)
  client,  ///< the client did its own E2EE; the proxy relays it untouched
};

struct integrity_plan {
  /// The endpoint, when NEAR signs its answers and covers it with E2EE.
  std::optional<e2ee::endpoint> endpoint;
  e2ee_applied e2ee = e2ee_applied::none;
  /// The proxy's side of the encryption (sealed only). Shared: the relay holds it until
  /// the answer is decrypted.
  std::shared_ptr<const e2ee::field_cipher> cipher;
  /// The body to write instead of the client's (sealed only).
  std::optional<std::string> body;
  /// Fields to set on the upstream request (E2EE parameters, Accept-Encoding: identity).
  std::vector<std::pair<std::string, std::string>> fields;
  /// The answer's signature is fetched and checked against the exact bytes.
  bool verify_signature = false;
  /// The X-E2EE value: "v2", "ecies", "client" or "none".
  std::string label = "none";
};

/// The plan for one request to a backend whose attested identity is `backend` (nullptr:
/// none known, e.g. a test attester). Refusals (no silent downgrade, §4.7 rule 2):
///  - 400 e2ee_unsupported_endpoint: e2ee required and the endpoint has no E2EE (or its
///    body is not JSON, which the proxy seals);
///  - 400 invalid_json: a covered endpoint's body the proxy must seal is not a JSON object;
///  - 400 e2ee_unsupported_field: a covered field of a type the backend cannot take;
///  - 502 e2ee_key_unbound: the report's key does not correspond to the address the quote
///    binds (or none is attested), so nothing may be encrypted to it;
///  - 502 internal_error: the random generator failed.
boost::system::result<integrity_plan, error_response> plan_request(const request_facts& request, e2ee_mode e2ee,
                                                                   signature_mode signatures,
                                                                   const backend_identity* backend);

/// Behind NEAR's gateway (docs/gpu-signatures-e2ee.md §5.1 step 5, §4.1): adds to `plan`
/// the fields that pin the request to the attested model — X-Model-Pub-Key with its
/// bound key (the gateway routes only to a replica holding it and never forwards the
/// field), and x-no-aliasing: true (the model served is the model attested). A client that
/// encrypts itself and names a model key of its own (`client_model_key`) must name that
/// key: 400 e2ee_model_key_unattested otherwise, since the gateway would route its
/// ciphertext to a CVM nobody verified. A model key the quote does not bind is not pinned.
/// True when X-Model-Pub-Key was added.
boost::system::result<bool, error_response> pin_gateway_model(integrity_plan& plan, const backend_identity* model,
                                                              std::optional<std::string_view> client_model_key);

}  // namespace vp::proxy
