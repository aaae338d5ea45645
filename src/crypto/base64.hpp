#pragma once
// Base64 (RFC 4648 §4) and base64url (§5) decoding on OpenSSL's codec, strict: the
// encodings NVIDIA's evidence and JWS tokens use, where a lenient decoder would let two
// different texts stand for the same signed bytes.

#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace vp::crypto {

/// Standard alphabet, padded to a multiple of 4 with at most two '='. No whitespace.
/// nullopt for anything else (including non-zero padding bits).
std::optional<bytes> base64_decode(std::string_view text);

/// URL-safe alphabet without padding (RFC 7515 §2 "Base64url Encoding"). nullopt for
/// padding, the standard alphabet's '+' '/', or a length of 1 mod 4.
std::optional<bytes> base64url_decode(std::string_view text);

/// Standard alphabet, padded.
std::string base64_encode(byte_view data);

}  // namespace vp::crypto
