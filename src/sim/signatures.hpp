#pragma once
// Response signatures as a simulated inference-proxy makes them (docs/gpu-signatures-e2ee.md
// §3): the signed text over the exact bytes received and sent, one signature per key,
// the per-instance store GET /v1/signature/{chat_id} reads and the JSON it answers. Pure.

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>

#include "attest/near_report.hpp"
#include "sim/report.hpp"

namespace vp::sim {

/// "{model}:{sha256hex(request_body)}:{sha256hex(response_entity)}" (§3.2, model form):
/// the raw request body as received (before decryption), the entity as sent (after
/// encryption; a stream: every event's bytes).
std::string signed_text(std::string_view model, std::string_view request_body, std::string_view response_entity);

/// The model form over a request hash someone else asserts (§3.3: the gateway's
/// X-Request-Hash, lower-case hex) instead of the body this CVM received.
std::string signed_text_with_request_hash(std::string_view model, std::string_view request_sha256_hex,
                                          std::string_view response_entity);

/// The gateway form (§3.2): "{sha256hex(request_body)}:{sha256hex(response_entity)}", the
/// client's body as the gateway received it and the entity the gateway sent.
std::string gateway_signed_text(std::string_view request_body, std::string_view response_entity);

/// One completion signed with both keys (§3.1: the lookup's signing_algo only picks which
/// is returned).
struct chat_signature {
  std::string text;
  std::string ecdsa_signature;    ///< "0x" + 130 hex: r‖s‖v over EIP-191 personal_sign (§3.4)
  std::string ecdsa_address;      ///< as the report writes it
  std::string ed25519_signature;  ///< 128 hex over the text's bytes (§3.5)
  std::string ed25519_address;
};

/// Signs `text` with both of `signer`'s keys. Throws std::runtime_error if a primitive
/// fails (it cannot with valid keys).
chat_signature sign_chat(const signing_identity& signer, std::string text);

/// The body of a successful GET /v1/signature/{chat_id}?signing_algo=…:
/// {"text","signature","signing_address","signing_algo"}, and with a `kind` the gateway's
/// "signature_kind" ("provider_tee" / "gateway", §3.1).
std::string signature_document_json(const chat_signature& signature, attest::signing_algorithm algo,
                                    std::string_view kind = {});

/// The newest signatures of one instance (inference-proxy keeps them in a bounded cache
/// with a TTL; here the bound alone expires them). Each becomes visible at its own time.
/// Not thread-safe.
class signature_store {
 public:
  using clock = std::chrono::steady_clock;
  static constexpr std::size_t default_capacity = 1024;

  explicit signature_store(std::size_t capacity = default_capacity) : capacity_(capacity) {}

  /// Stores (or replaces) the signature of `chat_id`, evicting the oldest beyond capacity.
  void put(std::string chat_id, chat_signature signature, clock::time_point visible_from);
  /// nullopt: unknown, evicted, or not yet visible at `now`.
  std::optional<chat_signature> find(std::string_view chat_id, clock::time_point now) const;
  std::size_t size() const { return entries_.size(); }

 private:
  struct entry {
    std::string chat_id;
    chat_signature signature;
    clock::time_point visible_from;
  };
  std::size_t capacity_;
  std::deque<entry> entries_;  ///< oldest first
};

}  // namespace vp::sim
