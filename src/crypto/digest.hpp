#pragma once
// SHA-2 digests (OpenSSL EVP).

#include <initializer_list>
#include <string_view>

#include "core/bytes.hpp"
#include "crypto/ossl.hpp"

namespace vp::crypto {

/// SHA-256 over the concatenation of `parts`.
sha256_digest sha256(std::initializer_list<byte_view> parts);
inline sha256_digest sha256(byte_view data) { return sha256({data}); }

/// SHA-384 over the concatenation of `parts` (TDX RTMR extension, event digests).
sha384_digest sha384(std::initializer_list<byte_view> parts);
inline sha384_digest sha384(byte_view data) { return sha384({data}); }

/// SHA-256 over bytes that arrive in pieces (a relayed body, hashed as it passes).
class sha256_stream {
 public:
  sha256_stream();
  sha256_stream(sha256_stream&&) noexcept;
  sha256_stream& operator=(sha256_stream&&) noexcept;
  ~sha256_stream();
  void update(byte_view data);
  void update(std::string_view data) { update(as_bytes(data)); }
  /// The digest of everything given so far; the stream starts over afterwards.
  sha256_digest finish();

 private:
  evp_md_ctx_ptr ctx_;
};

}  // namespace vp::crypto
