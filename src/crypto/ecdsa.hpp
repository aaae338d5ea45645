#pragma once
// ECDSA P-256 with the raw encodings Intel uses: public keys as X‖Y (64 bytes, no
// 0x04 prefix) and signatures as r‖s (64 bytes), both big-endian.

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

/// Converts raw r‖s (64 bytes) to a DER ECDSA-Sig-Value; empty on malformed input.
bytes ecdsa_raw_to_der(byte_view signature_rs);

}  // namespace vp::crypto
