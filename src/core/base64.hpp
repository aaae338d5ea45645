#pragma once
// Strict Base64 (RFC 4648 §4) and Base64url (RFC 4648 §5) on top of OpenSSL's
// EVP_EncodeBlock / EVP_DecodeBlock. JWS (RFC 7515 §2) uses base64url without padding;
// JWK x5c (RFC 7517 §4.7) and NVIDIA's GPU evidence use standard base64 with padding.
//
// Strict means exactly one accepted spelling per byte string: no white space, no
// characters outside the alphabet, padding only where the variant requires it, and zero
// unused bits in the last character (re-encoding the result gives the input back). So
// a signed or hashed ASCII form cannot be re-spelled without changing its bytes.

#include <optional>
#include <string>
#include <string_view>

#include "core/bytes.hpp"

namespace vp {

/// Standard base64 with `=` padding to a multiple of 4 characters.
std::string base64_encode(byte_view data);
/// Base64url without padding (the JWS form).
std::string base64url_encode(byte_view data);

/// Decodes canonical padded standard base64; nullopt for anything else.
std::optional<bytes> base64_decode(std::string_view text);
/// Decodes canonical unpadded base64url; nullopt for anything else (including `=`).
std::optional<bytes> base64url_decode(std::string_view text);

}  // namespace vp
