#pragma once
// ECDSA with the raw encodings Intel and NVIDIA use: public keys as X‖Y (no 0x04
// prefix) and signatures as r‖s, both big-endian (P-256: 64 bytes; P-384 SPDM and ES384
// signatures: 96 bytes, RFC 7518 §3.4).

#include <openssl/evp.h>

#include "core/bytes.hpp"
#include "crypto/ossl.hpp"

namespace vp::crypto {

/// Builds a P-256 public key from raw X‖Y. Returns null unless `xy` is 64 bytes
/// and the point lies on the curve.
evp_pkey_ptr p256_public_key_from_xy(byte_view xy);

/// Verifies an ECDSA-SHA256 signature given as raw r‖s over `message`.
/// False for any malformed input; never throws.
bool verify_p256_sha256_raw(EVP_PKEY* key, byte_view message, byte_view signature_rs);

/// Verifies an ECDSA signature given as raw r‖s (r and s each half of it) over `message`
/// hashed with `digest` (EVP_sha384() for P-384). False for any malformed input, a key
/// that is not EC, or a signature whose halves do not match the key's curve size.
bool verify_ecdsa_raw(EVP_PKEY* key, const EVP_MD* digest, byte_view message, byte_view signature_rs);

/// Converts raw r‖s (64 or 96 bytes) to a DER ECDSA-Sig-Value; empty on malformed input.
bytes ecdsa_raw_to_der(byte_view signature_rs);

}  // namespace vp::crypto
