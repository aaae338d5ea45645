#pragma once
// ECDSA with raw encodings: public keys as X‖Y (no 0x04 prefix) and signatures as r‖s,
// both big-endian. P-256 (64 bytes each) is what Intel uses; P-384 (96 bytes each) is
// what NVIDIA uses for SPDM evidence and NRAS tokens (JWS ES384, RFC 7518 §3.4).

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

/// Builds a P-384 public key from raw X‖Y. Returns null unless `xy` is 96 bytes
/// and the point lies on the curve.
evp_pkey_ptr p384_public_key_from_xy(byte_view xy);

/// Verifies an ECDSA-SHA384 signature given as raw r‖s (96 bytes) over `message`.
/// False for any malformed input, including a key that is not P-384; never throws.
bool verify_p384_sha384_raw(EVP_PKEY* key, byte_view message, byte_view signature_rs);

/// Converts raw r‖s (64 bytes for P-256, 96 for P-384) to a DER ECDSA-Sig-Value;
/// empty on malformed input.
bytes ecdsa_raw_to_der(byte_view signature_rs);

}  // namespace vp::crypto
