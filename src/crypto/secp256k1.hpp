#pragma once
// secp256k1 ECDSA as Ethereum uses it (libsecp256k1, with its recovery module): EIP-191
// personal_sign digests, 65-byte r‖s‖v signatures, addresses = Keccak-256(X‖Y)[12:32].
// Public keys are raw X‖Y (64 bytes, no 0x04 prefix), as NEAR reports carry them.
// Also the point operations of NEAR's ECIES (docs/gpu-signatures-e2ee.md §4.3): public
// keys of secrets, point validation and the raw-X ECDH.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "core/bytes.hpp"

namespace vp::crypto::secp256k1 {

using public_xy = std::array<std::uint8_t, 64>;
using address = std::array<std::uint8_t, 20>;
using digest32 = std::array<std::uint8_t, 32>;

/// Keccak-256(X‖Y)[12:32]. nullopt unless `xy` is 64 bytes.
std::optional<address> ethereum_address(byte_view xy);

/// EIP-191 personal_sign: Keccak-256("\x19Ethereum Signed Message:\n" + decimal(len) + message).
digest32 personal_message_digest(std::string_view message);

/// The X‖Y of the key that produced the 65-byte r‖s‖v signature over `digest` (32 bytes),
/// v ∈ {27, 28}. nullopt for anything malformed: wrong sizes, another v, s above n/2
/// (high-s: malleable), r or s out of range, no point recoverable. Never throws.
std::optional<public_xy> recover(byte_view digest, byte_view rsv);

/// Verifies the 64-byte r‖s (low-s only) over the 32-byte `digest` under `xy` (64 bytes;
/// false unless it is a point on the curve). Never throws.
bool verify(byte_view xy, byte_view digest, byte_view rs);

struct keypair {
  std::array<std::uint8_t, 32> secret{};
  public_xy public_key{};
};

/// A fresh key pair from the CSPRNG; nullopt if the generator fails.
std::optional<keypair> generate();
/// The key pair of a 32-byte secret; nullopt unless it is a valid scalar.
std::optional<keypair> from_secret(byte_view secret);

/// The X‖Y of a 32-byte secret; nullopt unless it is a valid scalar (0 < s < n). Unlike
/// from_secret it keeps no copy of the secret. Never throws.
std::optional<public_xy> public_key_of(byte_view secret);

/// Whether `xy` (64 bytes) is a point on the curve. Never throws.
bool is_public_key(byte_view xy);

/// The X coordinate of secret · peer (ECDH without the usual hashing: §4.3 takes k256's
/// raw_secret_bytes) into `out`. false, with `out` zeroed, unless `secret` is a valid
/// 32-byte scalar and `peer_xy` a 64-byte point on the curve. Never throws.
bool ecdh_x(byte_view secret, byte_view peer_xy, std::span<std::uint8_t, 32> out);

/// Deterministic (RFC 6979), low-s signature r‖s‖(27 + recovery id) over the 32-byte
/// `digest`. nullopt only if `digest` is not 32 bytes.
std::optional<std::array<std::uint8_t, 65>> sign_recoverable(const keypair& key, byte_view digest);

}  // namespace vp::crypto::secp256k1
