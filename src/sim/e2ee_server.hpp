#pragma once
// The server side of NEAR's field-level E2EE in a simulated inference-proxy
// (docs/gpu-signatures-e2ee.md §4.1, §4.5, §4.6): what a request's headers ask for, the
// request opened before the model sees it, the answer sealed to the client's key — a
// whole JSON body, or each SSE event on its own — with the e2ee_* faults. Pure.

#include <boost/system/result.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "e2ee/cipher.hpp"
#include "e2ee/fields.hpp"
#include "sim/report.hpp"

namespace vp::sim {

/// The endpoints whose answers inference-proxy signs and this simulator seals (§3.1, §4.5).
inline bool signed_endpoint(e2ee::endpoint e) {
  return e == e2ee::endpoint::chat_completions || e == e2ee::endpoint::completions || e == e2ee::endpoint::embeddings;
}

/// The request headers that switch E2EE on (§4.1), as received (nullopt: absent).
struct e2ee_headers {
  std::optional<std::string> signing_algo{};        ///< X-Signing-Algo
  std::optional<std::string> client_public_key{};   ///< X-Client-Pub-Key
  std::optional<std::string> encryption_version{};  ///< X-Encryption-Version
  std::optional<std::string> encrypt_all_fields{};  ///< X-Encrypt-All-Fields
};

/// What a request asks for.
struct e2ee_request {
  e2ee::scheme kind = e2ee::scheme::v2;
  std::string client_public_key_hex;
  bool all_fields = false;  ///< X-Encrypt-All-Fields: true (§4.5)
};

/// nullopt: plaintext (neither X-Signing-Algo nor X-Client-Pub-Key). The error is the
/// message of inference-proxy's 400: one header without the other, an unknown algorithm,
/// or an encryption version the simulator does not speak (ed25519 needs 2, since v1 is
/// not implemented, §4.4; ecdsa takes 1 or 2).
boost::system::result<std::optional<e2ee_request>, std::string> parse_e2ee_headers(const e2ee_headers& headers);

/// Why a body could not be transformed (a message for the 400, or 500 for our own answers).
struct e2ee_error {
  std::string message;
};

/// How the faulty field of an answer is sealed (backend_faults' e2ee_* faults).
enum class field_sealing {
  honest,
  plaintext,  ///< e2ee_plaintext_response: left in plaintext, every other field sealed
  foreign,    ///< e2ee_undecryptable_response: sealed to another key (it does not open)
};

/// One request's encryption, server side. Move-only.
class e2ee_session {
 public:
  /// `own`: the instance's keys (the request is opened with the secret of `request.kind`'s
  /// algorithm); `foreign`: another key pair, sealed to by field_sealing::foreign. The
  /// error (a 400 message) says what is wrong with the client's key.
  static boost::system::result<e2ee_session, std::string> open(e2ee::endpoint endpoint, const e2ee_request& request,
                                                               const signing_identity& own,
                                                               const signing_identity& foreign);

  /// The plaintext body the model answers from (re-serialised). Errors: "The request body
  /// must be a JSON object"; "Decryption failed" (a strict field that does not open, §4.5).
  boost::system::result<std::string, e2ee_error> decrypt_request(std::string_view body) const;

  /// A whole JSON answer with its covered fields sealed, re-serialised; `how` applies to
  /// the first choice's (data item's) covered field. Error: the body is not a JSON object,
  /// or a primitive failed.
  boost::system::result<std::string, e2ee_error> seal_response(std::string_view json_body, field_sealing how) const;

  /// One SSE event: a `data:` event holding a JSON object is sealed on its own (fresh
  /// ephemeral keys, §4.6) and re-serialised as "data: " + JSON + "\n\n"; [DONE] and
  /// anything else pass as they are.
  boost::system::result<std::string, e2ee_error> seal_event(std::string_view event, field_sealing how) const;

 private:
  e2ee_session(e2ee::endpoint endpoint, bool all_fields, e2ee::field_cipher cipher, e2ee::field_cipher foreign)
      : endpoint_(endpoint), all_fields_(all_fields), cipher_(std::move(cipher)), foreign_(std::move(foreign)) {}

  boost::system::result<std::string, e2ee_error> seal_object(std::string_view json_text, bool chunk,
                                                              field_sealing how) const;

  e2ee::endpoint endpoint_;
  bool all_fields_;
  e2ee::field_cipher cipher_;
  e2ee::field_cipher foreign_;  ///< seals to the foreign key pair
};

}  // namespace vp::sim
