#include "crypto/secp256k1.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <secp256k1.h>
#include <secp256k1_ecdh.h>
#include <secp256k1_recovery.h>

#include <algorithm>
#include <string>

#include "crypto/keccak.hpp"

namespace vp::crypto::secp256k1 {
namespace {

constexpr std::size_t digest_size = 32;
constexpr std::size_t secret_size = 32;
constexpr std::size_t compact_size = 64;
constexpr std::size_t recoverable_size = 65;
/// Ethereum's v = 27 + recovery id (EIP-191 personal_sign as k256 / ethers write it).
constexpr std::uint8_t v_offset = 27;
/// A freshly generated key is retried this often before giving up: a random 32-byte
/// string is an invalid scalar with probability ~2^-128, so a second failure means the
/// generator itself is broken.
constexpr int max_generate_attempts = 8;

// One context for the process: creating one costs milliseconds (precomputed tables), and
// libsecp256k1 documents a context as safe for concurrent use by every function that
// takes it as const, which all used here do after this initialisation.
const secp256k1_context* context() {
  static const secp256k1_context* const ctx = [] {
    // SECP256K1_CONTEXT_NONE: since 0.2.0 the VERIFY/SIGN flags are deprecated aliases of it.
    secp256k1_context* c = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    // Blinding against side channels in signing and key generation. A failed
    // randomisation (no random bytes, or a seed that is not a scalar: ~2^-128) leaves the
    // context usable, only without the extra blinding.
    unsigned char seed[32];
    if (RAND_bytes(seed, sizeof seed) == 1) {
      [[maybe_unused]] const int randomized = secp256k1_context_randomize(c, seed);
    }
    OPENSSL_cleanse(seed, sizeof seed);
    return c;
  }();
  return ctx;
}

/// Parses r‖s and refuses high-s: (r, n - s) verifies as well as (r, s), and accepting
/// both would give every signed text two valid signatures (Ethereum's EIP-2 rule; k256
/// and libsecp256k1 only ever produce low-s).
bool parse_low_s(byte_view rs, secp256k1_ecdsa_signature& out) {
  if (rs.size() != compact_size) return false;
  if (secp256k1_ecdsa_signature_parse_compact(context(), &out, rs.data()) != 1) return false;
  secp256k1_ecdsa_signature normalized;
  return secp256k1_ecdsa_signature_normalize(context(), &normalized, &out) == 0;
}

std::optional<public_xy> serialize_xy(const secp256k1_pubkey& key) {
  unsigned char uncompressed[65];
  std::size_t len = sizeof uncompressed;
  if (secp256k1_ec_pubkey_serialize(context(), uncompressed, &len, &key, SECP256K1_EC_UNCOMPRESSED) != 1 ||
      len != sizeof uncompressed || uncompressed[0] != 0x04) {
    return std::nullopt;
  }
  public_xy xy{};
  std::copy(uncompressed + 1, uncompressed + sizeof uncompressed, xy.begin());
  return xy;
}

/// Parses a raw X‖Y; false unless it is 64 bytes and a point on the curve (the parser
/// checks the curve equation).
bool parse_xy(byte_view xy, secp256k1_pubkey& out) {
  if (xy.size() != std::tuple_size_v<public_xy>) return false;
  unsigned char uncompressed[65];
  uncompressed[0] = 0x04;
  std::copy(xy.begin(), xy.end(), uncompressed + 1);
  return secp256k1_ec_pubkey_parse(context(), &out, uncompressed, sizeof uncompressed) == 1;
}

/// secp256k1_ecdh's default hashes SHA-256(compressed point); NEAR's ECIES (§4.3, the
/// vector of §4.9) feeds HKDF with k256's SharedSecret::raw_secret_bytes, which is the bare
/// X coordinate, so the "hash" here is a copy of x.
int copy_x(unsigned char* output, const unsigned char* x32, const unsigned char* /*y32*/, void* /*data*/) {
  std::copy(x32, x32 + 32, output);
  return 1;
}

}  // namespace

std::optional<address> ethereum_address(byte_view xy) {
  if (xy.size() != std::tuple_size_v<public_xy>) return std::nullopt;
  const keccak256_digest h = keccak256(xy);
  address a{};
  std::copy(h.end() - a.size(), h.end(), a.begin());
  return a;
}

digest32 personal_message_digest(std::string_view message) {
  std::string prefixed = "\x19" "Ethereum Signed Message:\n" + std::to_string(message.size());
  prefixed.append(message);
  return keccak256(as_bytes(prefixed));
}

std::optional<public_xy> recover(byte_view digest, byte_view rsv) {
  if (digest.size() != digest_size || rsv.size() != recoverable_size) return std::nullopt;
  const std::uint8_t v = rsv[compact_size];
  if (v != v_offset && v != v_offset + 1) return std::nullopt;
  const byte_view rs = rsv.first(compact_size);
  secp256k1_ecdsa_signature plain;
  if (!parse_low_s(rs, plain)) return std::nullopt;
  secp256k1_ecdsa_recoverable_signature sig;
  if (secp256k1_ecdsa_recoverable_signature_parse_compact(context(), &sig, rs.data(), v - v_offset) != 1) {
    return std::nullopt;
  }
  secp256k1_pubkey key;
  if (secp256k1_ecdsa_recover(context(), &key, &sig, digest.data()) != 1) return std::nullopt;
  return serialize_xy(key);
}

bool verify(byte_view xy, byte_view digest, byte_view rs) {
  if (digest.size() != digest_size) return false;
  secp256k1_pubkey key;
  if (!parse_xy(xy, key)) return false;
  secp256k1_ecdsa_signature sig;
  if (!parse_low_s(rs, sig)) return false;
  return secp256k1_ecdsa_verify(context(), &sig, digest.data(), &key) == 1;
}

std::optional<keypair> generate() {
  std::array<std::uint8_t, 32> secret{};
  for (int attempt = 0; attempt < max_generate_attempts; ++attempt) {
    if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) break;
    if (auto key = from_secret(secret)) {
      OPENSSL_cleanse(secret.data(), secret.size());
      return key;
    }
  }
  OPENSSL_cleanse(secret.data(), secret.size());
  return std::nullopt;
}

std::optional<keypair> from_secret(byte_view secret) {
  const auto xy = public_key_of(secret);
  if (!xy) return std::nullopt;
  keypair key;
  std::copy(secret.begin(), secret.end(), key.secret.begin());
  key.public_key = *xy;
  return key;
}

std::optional<public_xy> public_key_of(byte_view secret) {
  if (secret.size() != secret_size || secp256k1_ec_seckey_verify(context(), secret.data()) != 1) return std::nullopt;
  secp256k1_pubkey pub;
  if (secp256k1_ec_pubkey_create(context(), &pub, secret.data()) != 1) return std::nullopt;
  return serialize_xy(pub);
}

bool is_public_key(byte_view xy) {
  secp256k1_pubkey unused;
  return parse_xy(xy, unused);
}

bool ecdh_x(byte_view secret, byte_view peer_xy, std::span<std::uint8_t, 32> out) {
  secp256k1_pubkey peer;
  // secp256k1_ecdh refuses a zero or out-of-range scalar itself; the group has prime order
  // and no cofactor, so a valid scalar times a valid point is never the point at infinity.
  if (secret.size() != secret_size || !parse_xy(peer_xy, peer) ||
      secp256k1_ecdh(context(), out.data(), &peer, secret.data(), copy_x, nullptr) != 1) {
    OPENSSL_cleanse(out.data(), out.size());
    return false;
  }
  return true;
}

std::optional<std::array<std::uint8_t, 65>> sign_recoverable(const keypair& key, byte_view digest) {
  if (digest.size() != digest_size) return std::nullopt;
  secp256k1_ecdsa_recoverable_signature sig;
  // A null nonce function selects RFC 6979; the result is always low-s.
  if (secp256k1_ecdsa_sign_recoverable(context(), &sig, digest.data(), key.secret.data(), nullptr, nullptr) != 1) {
    return std::nullopt;
  }
  std::array<std::uint8_t, 65> rsv{};
  int recovery_id = 0;
  if (secp256k1_ecdsa_recoverable_signature_serialize_compact(context(), rsv.data(), &recovery_id, &sig) != 1) {
    return std::nullopt;
  }
  rsv[compact_size] = static_cast<std::uint8_t>(v_offset + recovery_id);
  return rsv;
}

}  // namespace vp::crypto::secp256k1
