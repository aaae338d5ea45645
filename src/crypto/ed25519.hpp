#pragma once
// Ed25519 (RFC 8032) signatures, libsodium: seeds and public keys of 32 bytes, signatures
// of 64. libsodium's verification refuses non-canonical encodings and small-order keys.

#include <array>
#include <cstdint>
#include <optional>

#include "core/bytes.hpp"

namespace vp::crypto::ed25519 {

/// False for any malformed input (sizes, a public key that is not a valid point). Never throws.
bool verify(byte_view public_key, byte_view message, byte_view signature);

struct keypair {
  std::array<std::uint8_t, 32> seed{};
  std::array<std::uint8_t, 32> public_key{};
};

/// A fresh key pair from the CSPRNG; nullopt if libsodium cannot initialise.
std::optional<keypair> generate();
/// The key pair of a 32-byte seed (RFC 8032 §5.1.5); nullopt unless `seed` is 32 bytes.
std::optional<keypair> from_seed(byte_view seed);

std::array<std::uint8_t, 64> sign(const keypair& key, byte_view message);

}  // namespace vp::crypto::ed25519
