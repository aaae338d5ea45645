#pragma once
// The answer of a signed / end-to-end encrypted endpoint as it passes through the proxy
// (docs/gpu-signatures-e2ee.md §3.3, §4.6, §4.7): every entity byte read from the backend
// is hashed exactly as received (the signature covers the ciphertext), the chat id is
// taken from the JSON answer or the first SSE chunk, and covered fields are decrypted
// before the client sees them — a whole JSON answer at its end, a stream event by event
// as each one completes. Pure: the relay feeds it what it reads and writes what it gives.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "crypto/digest.hpp"
#include "e2ee/cipher.hpp"
#include "e2ee/fields.hpp"
#include "e2ee/sse.hpp"

namespace vp::proxy {

/// The longest non-streaming answer held for decryption or a signature check.
inline constexpr std::size_t max_inspected_body = 64u << 20;

class response_inspector {
 public:
  struct options {
    e2ee::endpoint endpoint = e2ee::endpoint::chat_completions;
    /// Decrypts covered fields; null: the bytes pass unchanged (hashed only).
    const e2ee::field_cipher* cipher = nullptr;
    /// text/event-stream (event by event) rather than one JSON document.
    bool streaming = false;
    /// A stream's `data: [DONE]` event is withheld until release_done() (the signature
    /// must verify first).
    bool hold_done = false;
  };

  /// Why the answer cannot be given to the client: `code` "e2ee_decryption_failed" (a
  /// covered field in plaintext, or one that does not open), "response_malformed" (not
  /// JSON where the proxy must decrypt), "response_too_large".
  struct failure {
    std::string code;
    std::string message;
  };

  explicit response_inspector(options o);

  /// Bytes of the entity as read. Appends to `out` what the client may have now. False
  /// once the answer has failed (failed() says why); nothing more is accepted then.
  bool feed(std::string_view in, std::string& out);
  /// The end of the entity: appends the rest (a whole JSON answer; a stream's incomplete
  /// last event). False on failure.
  bool finish(std::string& out);

  const std::optional<failure>& failed() const { return failure_; }
  /// The id of the answer (the JSON's or the first chunk's `id`), when it is one that can
  /// name a signature: 1–128 of [A-Za-z0-9._:-].
  const std::optional<std::string>& chat_id() const { return chat_id_; }
  /// SHA-256 of every entity byte fed; valid after finish().
  const sha256_digest& response_hash() const { return hash_; }
  std::uint64_t bytes_in() const { return bytes_in_; }
  /// The stream delivered `data: [DONE]` (only those streams are signed).
  bool saw_done() const { return saw_done_; }
  /// The withheld [DONE] events' bytes (empty unless hold_done and saw_done()).
  std::string release_done() { return std::move(held_done_); }
  /// Covered fields decrypted so far.
  std::size_t fields_opened() const { return fields_opened_; }

 private:
  bool fail(std::string code, std::string message);
  bool handle_event(std::string raw, std::string& out);
  void note_id(const boost::json::object& o);

  options o_;
  crypto::sha256_stream hasher_;
  sha256_digest hash_{};
  std::uint64_t bytes_in_ = 0;
  std::string whole_;
  e2ee::sse_event_reader events_;
  std::optional<std::string> chat_id_;
  bool id_seen_ = false;
  bool saw_done_ = false;
  std::string held_done_;
  std::size_t fields_opened_ = 0;
  std::optional<failure> failure_;
};

}  // namespace vp::proxy
