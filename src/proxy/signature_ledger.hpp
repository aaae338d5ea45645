#pragma once
// The signatures of answers the proxy relayed, with its own verdict on each, so that
// GET /v1/signature/{id} can be answered locally: a client behind the proxy cannot check
// the backend's signature itself when the proxy sealed its request (the signed hash is of
// the ciphertext the proxy wrote), and tools that look signatures up keep working. Bounded:
// the oldest entries go first. Pure.

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace vp::proxy {

struct signature_record {
  std::string backend;  ///< the domain that served the answer
  /// The backend's JSON answer to the lookup ("" when none came).
  std::string document;
  std::string status;  ///< "valid" | "invalid" | "unavailable"
  std::string failed_check;
  std::string detail;
  std::string e2ee;  ///< the X-E2EE value of the exchange
  std::string request_sha256;
  std::string response_sha256;
};

class signature_ledger {
 public:
  explicit signature_ledger(std::size_t capacity = 4096) : capacity_(capacity) {}

  /// Records (or replaces) the entry of `chat_id`.
  void record(std::string chat_id, signature_record r);
  const signature_record* find(std::string_view chat_id) const;
  /// The local answer: the backend's JSON object (when it was one) with a "verified_proxy"
  /// member holding the proxy's verdict.
  std::optional<std::string> answer(std::string_view chat_id) const;
  std::size_t size() const { return entries_.size(); }

 private:
  std::size_t capacity_;
  std::unordered_map<std::string, signature_record> entries_;
  std::deque<std::string> order_;
};

/// The chat id of a GET /v1/signature/{id} path ("" for any other path).
std::string_view signature_lookup_id(std::string_view path) noexcept;

}  // namespace vp::proxy
