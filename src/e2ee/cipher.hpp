#pragma once
// NEAR field-level end-to-end encryption (docs/gpu-signatures-e2ee.md §4.2, §4.3): each
// covered JSON string field travels as lower-case hex of
//   v2 (ed25519):  E(32) ‖ nonce(24) ‖ XChaCha20-Poly1305(K, nonce, plaintext)
//                  K = HKDF-SHA256(no salt, X25519(e, to_x25519(recipient)), "ed25519_encryption")
//   ecies (ecdsa): E(65, uncompressed) ‖ nonce(12) ‖ AES-256-GCM(K, nonce, plaintext) ‖ tag(16)
//                  K = HKDF-SHA256(no salt, x(ECDH(e, recipient)), "ecdsa_encryption")
// with a fresh ephemeral key and nonce per field. v1 (NaCl box) is not implemented.
// Pure and synchronous: libsodium (Ed25519→X25519, X25519, XChaCha20-Poly1305),
// libsecp256k1 (secp256k1 points and ECDH) and OpenSSL (HKDF, AES-GCM).

#include <boost/system/result.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "attest/near_report.hpp"
#include "core/bytes.hpp"

namespace vp::e2ee {

enum class scheme {
  v2,     ///< ed25519 signing key: X25519 + HKDF-SHA256 + XChaCha20-Poly1305
  ecies,  ///< ecdsa signing key: secp256k1 ECDH + HKDF-SHA256 + AES-256-GCM
};
/// "v2" / "ecies": the X-E2EE value the proxy reports to its client.
std::string_view to_string(scheme s) noexcept;
/// The X-Signing-Algo header value: "ed25519" / "ecdsa".
std::string_view signing_algo_header(scheme s) noexcept;

/// A model's public key that a verified quote binds (§4.7 rule 1). Only bind_recipient
/// makes one, so nothing can be encrypted to a key the quote does not commit to.
class recipient {
 public:
  scheme kind() const { return kind_; }
  /// ed25519: the 32-byte Ed25519 key; ecies: the 64-byte X‖Y.
  const bytes& public_key() const { return public_key_; }

 private:
  friend boost::system::result<recipient, std::string> bind_recipient(attest::signing_algorithm, byte_view,
                                                                      std::optional<byte_view>);
  recipient(scheme k, bytes key) : kind_(k), public_key_(std::move(key)) {}
  scheme kind_;
  bytes public_key_;
};

/// The recipient for a report's signing identity: `signing_address` is what report_data
/// binds; `signing_public_key` is the report's (unbound) key. ed25519: the key is the
/// address (a present signing_public_key must equal it); ecdsa: signing_public_key must be
/// present (64 bytes, or 65 with a 0x04 prefix) and Keccak-256(X‖Y)[12:32] must equal
/// the address. The message says which binding failed.
boost::system::result<recipient, std::string> bind_recipient(attest::signing_algorithm algo, byte_view signing_address,
                                                             std::optional<byte_view> signing_public_key);

// ---- the byte-exact constructions (deterministic: the caller gives the ephemeral key
// ---- and nonce; for the test vectors and the randomised ciphers below)

/// v2 to an Ed25519 public key (32 bytes). nullopt: the key is not a valid point, the
/// shared secret is all-zero, or sizes are wrong (ephemeral 32, nonce 24).
std::optional<bytes> seal_v2(byte_view recipient_ed25519, byte_view ephemeral_x25519_secret, byte_view nonce,
                             std::string_view plaintext);
/// Opens a v2 field value (raw bytes, not hex) with an X25519 secret (32 bytes; for an
/// Ed25519 seed use ed25519_seed_to_x25519). nullopt for anything that does not
/// authenticate, or is shorter than 72 bytes.
std::optional<std::string> open_v2(byte_view own_x25519_secret, byte_view sealed);
/// crypto_sign_ed25519_sk_to_curve25519 of the key pair of a 32-byte seed.
std::optional<std::array<std::uint8_t, 32>> ed25519_seed_to_x25519(byte_view seed);

/// ecies to a secp256k1 X‖Y (64 bytes). nullopt for an invalid point or wrong sizes
/// (ephemeral secret 32, nonce 12).
std::optional<bytes> seal_ecies(byte_view recipient_xy, byte_view ephemeral_secret, byte_view nonce,
                                std::string_view plaintext);
/// Opens an ecies field value (raw bytes) with a secp256k1 secret (32 bytes). nullopt for
/// anything that does not authenticate, or is shorter than 93 bytes.
std::optional<std::string> open_ecies(byte_view own_secret, byte_view sealed);

// ---- per-request ciphers

/// One side of one request's encryption: its own key pair (wiped on destruction) and the
/// peer's public key. encrypt() seals to the peer with a fresh ephemeral key and nonce;
/// decrypt() opens what the peer sealed to us. Move-only.
class field_cipher {
 public:
  /// The proxy's side: a fresh key pair of `model`'s scheme (Ed25519 for v2, secp256k1
  /// for ecies), peer = the model. nullopt if the CSPRNG fails.
  static std::optional<field_cipher> for_client(const recipient& model);
  /// A backend's side (the simulator): own = the model's secret (Ed25519 seed or
  /// secp256k1 secret, 32 bytes), peer = the client's X-Client-Pub-Key (v2: 64 hex
  /// Ed25519; ecies: 128 or 130 hex secp256k1). The message says what is wrong.
  static boost::system::result<field_cipher, std::string> for_server(scheme kind, byte_view own_secret,
                                                                     std::string_view client_public_key_hex);

  field_cipher(field_cipher&&) noexcept;
  field_cipher& operator=(field_cipher&&) noexcept;
  ~field_cipher();

  scheme kind() const;
  /// Our public key as X-Client-Pub-Key carries it (v2: 64 hex of the Ed25519 key;
  /// ecies: 128 hex X‖Y).
  std::string public_key_hex() const;
  /// Lower-case hex of the sealed value; nullopt only if the CSPRNG or a primitive fails.
  std::optional<std::string> encrypt(std::string_view plaintext) const;
  /// The plaintext of a hex field value; nullopt unless it is hex of a value sealed to
  /// our key that authenticates.
  std::optional<std::string> decrypt(std::string_view field_hex) const;

 private:
  struct keys;
  explicit field_cipher(std::unique_ptr<keys> k);
  std::unique_ptr<keys> k_;
};

}  // namespace vp::e2ee
