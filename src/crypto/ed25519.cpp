#include "crypto/ed25519.hpp"

#include <sodium.h>

#include <algorithm>

namespace vp::crypto::ed25519 {
namespace {

// sodium_init() is itself idempotent and thread-safe; the static only avoids calling it on
// every operation. It fails only when the system's random source is unusable.
bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

}  // namespace

bool verify(byte_view public_key, byte_view message, byte_view signature) {
  if (public_key.size() != crypto_sign_PUBLICKEYBYTES || signature.size() != crypto_sign_BYTES) return false;
  if (!sodium_ready()) return false;
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(), public_key.data()) == 0;
}

std::optional<keypair> generate() {
  if (!sodium_ready()) return std::nullopt;
  std::array<std::uint8_t, crypto_sign_SEEDBYTES> seed{};
  randombytes_buf(seed.data(), seed.size());
  auto key = from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

std::optional<keypair> from_seed(byte_view seed) {
  static_assert(crypto_sign_SEEDBYTES == 32 && crypto_sign_PUBLICKEYBYTES == 32);
  if (seed.size() != crypto_sign_SEEDBYTES || !sodium_ready()) return std::nullopt;
  keypair key;
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> expanded{};
  if (crypto_sign_seed_keypair(key.public_key.data(), expanded.data(), seed.data()) != 0) return std::nullopt;
  sodium_memzero(expanded.data(), expanded.size());
  std::copy(seed.begin(), seed.end(), key.seed.begin());
  return key;
}

std::array<std::uint8_t, 64> sign(const keypair& key, byte_view message) {
  static_assert(crypto_sign_BYTES == 64);
  std::array<std::uint8_t, 64> signature{};
  // libsodium signs with the expanded secret (seed ‖ public key); rebuilding it from the
  // seed keeps a keypair's public key from being trusted as given (a mismatched one would
  // yield signatures that leak the secret scalar's relation to it).
  std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> expanded{};
  if (!sodium_ready() || crypto_sign_seed_keypair(public_key.data(), expanded.data(), key.seed.data()) != 0) {
    return signature;
  }
  crypto_sign_detached(signature.data(), nullptr, message.data(), message.size(), expanded.data());
  sodium_memzero(expanded.data(), expanded.size());
  return signature;
}

}  // namespace vp::crypto::ed25519
