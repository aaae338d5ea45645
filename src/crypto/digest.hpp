#pragma once
// SHA-2 digests (OpenSSL EVP).

#include <initializer_list>

#include "core/bytes.hpp"

namespace vp::crypto {

/// SHA-256 over the concatenation of `parts`.
sha256_digest sha256(std::initializer_list<byte_view> parts);
inline sha256_digest sha256(byte_view data) { return sha256({data}); }

/// SHA-384 over the concatenation of `parts` (TDX RTMR extension, event digests).
sha384_digest sha384(std::initializer_list<byte_view> parts);
inline sha384_digest sha384(byte_view data) { return sha384({data}); }

}  // namespace vp::crypto
