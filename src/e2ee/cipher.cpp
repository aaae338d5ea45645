#include "e2ee/cipher.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <sodium.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "core/hex.hpp"
#include "crypto/ossl.hpp"
#include "crypto/secp256k1.hpp"

namespace vp::e2ee {

namespace {

constexpr std::size_t x25519_size = 32;
constexpr std::size_t xchacha_nonce_size = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;  // 24
constexpr std::size_t xchacha_tag_size = crypto_aead_xchacha20poly1305_ietf_ABYTES;       // 16
constexpr std::size_t v2_overhead = x25519_size + xchacha_nonce_size + xchacha_tag_size;  // 72

constexpr std::size_t secp256k1_scalar_size = 32;
constexpr std::size_t secp256k1_xy_size = 64;
constexpr std::size_t secp256k1_point_size = 65;  // 0x04 ‖ X ‖ Y
constexpr std::size_t gcm_nonce_size = 12;
constexpr std::size_t gcm_tag_size = 16;
constexpr std::size_t ecies_overhead = secp256k1_point_size + gcm_nonce_size + gcm_tag_size;  // 93

constexpr std::size_t ethereum_address_size = 20;
constexpr std::size_t symmetric_key_size = 32;

// Domain separation strings of inference-proxy's encryption.rs (§4.2, §4.3).
constexpr std::string_view v2_hkdf_info = "ed25519_encryption";
constexpr std::string_view ecies_hkdf_info = "ecdsa_encryption";

using evp_cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, crypto::ossl_deleter<EVP_CIPHER_CTX_free>>;
using evp_kdf_ctx_ptr = std::unique_ptr<EVP_KDF_CTX, crypto::ossl_deleter<EVP_KDF_CTX_free>>;

/// A fixed-size secret that is wiped when it goes out of scope, on every path.
template <std::size_t N>
struct wiped_secret {
  std::array<std::uint8_t, N> b{};
  wiped_secret() = default;
  wiped_secret(const wiped_secret&) = delete;
  wiped_secret& operator=(const wiped_secret&) = delete;
  ~wiped_secret() { sodium_memzero(b.data(), b.size()); }
  std::uint8_t* data() { return b.data(); }
  const std::uint8_t* data() const { return b.data(); }
  static constexpr std::size_t size() { return N; }
};

/// libsodium must be initialised before its CSPRNG and its CPU-dispatched primitives are
/// used; sodium_init is idempotent and thread-safe, the static only skips the repeat.
bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

/// HKDF-SHA256 extract-and-expand without a salt: RFC 5869 §2.2 then uses HashLen zero
/// bytes, which is what inference-proxy's `Hkdf::<Sha256>::new(None, ..)` does.
bool hkdf_sha256(byte_view ikm, std::string_view info, std::uint8_t* out, std::size_t out_size) {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, OSSL_KDF_NAME_HKDF, nullptr);
  if (kdf == nullptr || ikm.empty()) return false;
  evp_kdf_ctx_ptr ctx{EVP_KDF_CTX_new(kdf)};
  if (!ctx) return false;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end()};
  return EVP_KDF_derive(ctx.get(), out, out_size, params) == 1;
}

// ---- secp256k1 (libsecp256k1 through crypto/secp256k1: constant-time and an order of
// ---- magnitude faster than OpenSSL 3.0's generic EC code, one ECDH per streamed event)

/// K = HKDF-SHA256(x(own · peer), "ecdsa_encryption"): the raw X coordinate, as k256's
/// `raw_secret_bytes` (§4.3). false for an invalid scalar or a peer off the curve.
bool ecies_key(byte_view own_secret, byte_view peer_xy, wiped_secret<symmetric_key_size>& key) {
  wiped_secret<32> shared;
  return crypto::secp256k1::ecdh_x(own_secret, peer_xy, shared.b) &&
         hkdf_sha256({shared.data(), shared.size()}, ecies_hkdf_info, key.data(), key.size());
}

/// seal_ecies with the ephemeral key's public point already computed (the caller drew
/// the key pair, or derived it from the given secret).
std::optional<bytes> seal_ecies_to(byte_view peer_xy, byte_view ephemeral_secret,
                                   const crypto::secp256k1::public_xy& ephemeral_xy, byte_view nonce,
                                   std::string_view plaintext) {
  if (nonce.size() != gcm_nonce_size) return std::nullopt;
  wiped_secret<symmetric_key_size> key;
  if (!ecies_key(ephemeral_secret, peer_xy, key)) return std::nullopt;

  bytes out(ecies_overhead + plaintext.size());
  out[0] = 0x04;
  std::copy(ephemeral_xy.begin(), ephemeral_xy.end(), out.begin() + 1);
  std::copy(nonce.begin(), nonce.end(), out.begin() + secp256k1_point_size);
  std::uint8_t* ct = out.data() + secp256k1_point_size + gcm_nonce_size;

  evp_cipher_ctx_ptr ctx{EVP_CIPHER_CTX_new()};
  int len = 0;
  int final_len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), ct, &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), ct + len, &final_len) != 1 ||
      static_cast<std::size_t>(len + final_len) != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, gcm_tag_size, ct + plaintext.size()) != 1) {
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> open_ecies_with(byte_view own_secret, byte_view sealed) {
  // E is uncompressed (§4.3); ecdh_x refuses an X‖Y that is not on the curve.
  if (sealed.size() < ecies_overhead || sealed[0] != 0x04) return std::nullopt;
  wiped_secret<symmetric_key_size> key;
  if (!ecies_key(own_secret, sealed.subspan(1, secp256k1_xy_size), key)) return std::nullopt;

  const byte_view nonce = sealed.subspan(secp256k1_point_size, gcm_nonce_size);
  const byte_view body = sealed.subspan(secp256k1_point_size + gcm_nonce_size);
  const byte_view ciphertext = body.first(body.size() - gcm_tag_size);
  const byte_view tag = body.last(gcm_tag_size);
  std::array<std::uint8_t, gcm_tag_size> tag_copy{};
  std::copy(tag.begin(), tag.end(), tag_copy.begin());

  std::string plaintext(ciphertext.size(), '\0');
  auto* pt = reinterpret_cast<unsigned char*>(plaintext.data());
  evp_cipher_ctx_ptr ctx{EVP_CIPHER_CTX_new()};
  int len = 0;
  int final_len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), pt, &len, ciphertext.data(), static_cast<int>(ciphertext.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, gcm_tag_size, tag_copy.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), pt + len, &final_len) != 1 ||
      static_cast<std::size_t>(len + final_len) != plaintext.size()) {
    return std::nullopt;
  }
  return plaintext;
}

// ---- X25519 (libsodium)

/// K for v2 from our X25519 secret and the peer's X25519 public key; false for a
/// low-order peer key (all-zero shared secret, crypto_scalarmult returns −1).
bool v2_key(const std::uint8_t* own_x25519_secret, const std::uint8_t* peer_x25519,
            wiped_secret<symmetric_key_size>& key) {
  wiped_secret<crypto_scalarmult_BYTES> shared;
  if (crypto_scalarmult(shared.data(), own_x25519_secret, peer_x25519) != 0) return false;
  return hkdf_sha256({shared.data(), shared.size()}, v2_hkdf_info, key.data(), key.size());
}

/// Ed25519 public key → X25519 public key; false for a key that is not a valid point
/// (or of small order), which crypto_sign_ed25519_pk_to_curve25519 refuses.
bool ed25519_to_x25519_public(byte_view ed25519, std::array<std::uint8_t, x25519_size>& out) {
  return ed25519.size() == crypto_sign_PUBLICKEYBYTES &&
         crypto_sign_ed25519_pk_to_curve25519(out.data(), ed25519.data()) == 0;
}

/// seal_v2 to a recipient already converted to X25519.
std::optional<bytes> seal_v2_to(const std::array<std::uint8_t, x25519_size>& recipient_x,
                                byte_view ephemeral_x25519_secret, byte_view nonce, std::string_view plaintext) {
  if (ephemeral_x25519_secret.size() != crypto_scalarmult_SCALARBYTES || nonce.size() != xchacha_nonce_size) {
    return std::nullopt;
  }
  bytes out(v2_overhead + plaintext.size());
  if (crypto_scalarmult_base(out.data(), ephemeral_x25519_secret.data()) != 0) return std::nullopt;
  wiped_secret<symmetric_key_size> key;
  if (!v2_key(ephemeral_x25519_secret.data(), recipient_x.data(), key)) return std::nullopt;
  std::copy(nonce.begin(), nonce.end(), out.begin() + x25519_size);

  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + x25519_size + xchacha_nonce_size, &written,
                                                 reinterpret_cast<const unsigned char*>(plaintext.data()),
                                                 plaintext.size(), nullptr, 0, nullptr, nonce.data(),
                                                 key.data()) != 0 ||
      written != plaintext.size() + xchacha_tag_size) {
    return std::nullopt;
  }
  return out;
}

bool random_bytes(std::uint8_t* out, std::size_t size) {
  return RAND_bytes(out, static_cast<int>(size)) == 1;
}

/// A fresh secp256k1 key pair: the secret (32 CSPRNG bytes, drawn again in the 2^-128
/// case that they are not a valid scalar) into `secret`, its X‖Y returned.
std::optional<crypto::secp256k1::public_xy> random_secp256k1_key(wiped_secret<secp256k1_scalar_size>& secret) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (!random_bytes(secret.data(), secret.size())) return std::nullopt;
    if (auto xy = crypto::secp256k1::public_key_of({secret.data(), secret.size()})) return xy;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(scheme s) noexcept {
  switch (s) {
    case scheme::v2:
      return "v2";
    case scheme::ecies:
      return "ecies";
  }
  return "unknown";
}

std::string_view signing_algo_header(scheme s) noexcept {
  switch (s) {
    case scheme::v2:
      return "ed25519";
    case scheme::ecies:
      return "ecdsa";
  }
  return "unknown";
}

boost::system::result<recipient, std::string> bind_recipient(attest::signing_algorithm algo,
                                                             byte_view signing_address,
                                                             std::optional<byte_view> signing_public_key) {
  // §4.7 rule 1: only report_data binds signing_address; signing_public_key is whatever
  // the report says, so it is used only once it is shown to be that address's key.
  if (algo == attest::signing_algorithm::ed25519) {
    if (signing_address.size() != crypto_sign_PUBLICKEYBYTES) {
      return std::string("ed25519 signing_address is not 32 bytes");
    }
    if (signing_public_key && !equal_bytes(*signing_public_key, signing_address)) {
      return std::string("ed25519 signing_public_key differs from the attested signing_address");
    }
    std::array<std::uint8_t, x25519_size> unused{};
    if (!sodium_ready() || !ed25519_to_x25519_public(signing_address, unused)) {
      return std::string("ed25519 signing_address is not a valid Ed25519 public key");
    }
    return recipient(scheme::v2, bytes(signing_address.begin(), signing_address.end()));
  }

  if (signing_address.size() != ethereum_address_size) {
    return std::string("ecdsa signing_address is not 20 bytes");
  }
  if (!signing_public_key) {
    return std::string("ecdsa signing_public_key is missing: nothing to encrypt to");
  }
  byte_view xy = *signing_public_key;
  if (xy.size() == secp256k1_point_size && xy[0] == 0x04) xy = xy.subspan(1);
  if (xy.size() != secp256k1_xy_size) {
    return std::string("ecdsa signing_public_key is not 64 bytes (or 65 with 0x04)");
  }
  const auto address = crypto::secp256k1::ethereum_address(xy);
  if (!address || !equal_bytes(*address, signing_address)) {
    return std::string("ecdsa signing_public_key does not hash to the attested signing_address");
  }
  if (!crypto::secp256k1::is_public_key(xy)) {
    return std::string("ecdsa signing_public_key is not a secp256k1 point");
  }
  return recipient(scheme::ecies, bytes(xy.begin(), xy.end()));
}

std::optional<bytes> seal_v2(byte_view recipient_ed25519, byte_view ephemeral_x25519_secret, byte_view nonce,
                             std::string_view plaintext) {
  std::array<std::uint8_t, x25519_size> recipient_x{};
  if (!sodium_ready() || !ed25519_to_x25519_public(recipient_ed25519, recipient_x)) return std::nullopt;
  return seal_v2_to(recipient_x, ephemeral_x25519_secret, nonce, plaintext);
}

std::optional<std::string> open_v2(byte_view own_x25519_secret, byte_view sealed) {
  if (!sodium_ready() || own_x25519_secret.size() != crypto_scalarmult_SCALARBYTES || sealed.size() < v2_overhead) {
    return std::nullopt;
  }
  wiped_secret<symmetric_key_size> key;
  if (!v2_key(own_x25519_secret.data(), sealed.data(), key)) return std::nullopt;
  const byte_view nonce = sealed.subspan(x25519_size, xchacha_nonce_size);
  const byte_view ciphertext = sealed.subspan(x25519_size + xchacha_nonce_size);

  std::string plaintext(ciphertext.size() - xchacha_tag_size, '\0');
  unsigned long long written = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(plaintext.data()), &written,
                                                 nullptr, ciphertext.data(), ciphertext.size(), nullptr, 0,
                                                 nonce.data(), key.data()) != 0 ||
      written != plaintext.size()) {
    return std::nullopt;
  }
  return plaintext;
}

std::optional<std::array<std::uint8_t, 32>> ed25519_seed_to_x25519(byte_view seed) {
  if (!sodium_ready() || seed.size() != crypto_sign_SEEDBYTES) return std::nullopt;
  std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
  wiped_secret<crypto_sign_SECRETKEYBYTES> sk;
  std::array<std::uint8_t, 32> out{};
  if (crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data()) != 0 ||
      crypto_sign_ed25519_sk_to_curve25519(out.data(), sk.data()) != 0) {
    return std::nullopt;
  }
  return out;
}

std::optional<bytes> seal_ecies(byte_view recipient_xy, byte_view ephemeral_secret, byte_view nonce,
                                std::string_view plaintext) {
  const auto ephemeral_xy = crypto::secp256k1::public_key_of(ephemeral_secret);
  if (!ephemeral_xy) return std::nullopt;
  return seal_ecies_to(recipient_xy, ephemeral_secret, *ephemeral_xy, nonce, plaintext);
}

std::optional<std::string> open_ecies(byte_view own_secret, byte_view sealed) {
  return open_ecies_with(own_secret, sealed);
}

// ---- field_cipher

struct field_cipher::keys {
  scheme kind = scheme::v2;
  /// v2: our X25519 secret (from the Ed25519 key pair); ecies: our secp256k1 scalar.
  std::array<std::uint8_t, 32> own_secret{};
  /// v2: our Ed25519 public key (32); ecies: our X‖Y (64).
  bytes own_public;
  /// The peer's key as seal_v2 / seal_ecies take it: Ed25519 (32) or X‖Y (64).
  bytes peer_public;
  /// v2: the peer's key converted to X25519 once, not per field.
  std::array<std::uint8_t, x25519_size> peer_x25519{};

  keys() = default;
  keys(const keys&) = delete;
  keys& operator=(const keys&) = delete;
  ~keys() { sodium_memzero(own_secret.data(), own_secret.size()); }
};

field_cipher::field_cipher(std::unique_ptr<keys> k) : k_(std::move(k)) {}
field_cipher::field_cipher(field_cipher&&) noexcept = default;
field_cipher& field_cipher::operator=(field_cipher&&) noexcept = default;
field_cipher::~field_cipher() = default;

scheme field_cipher::kind() const { return k_->kind; }

std::string field_cipher::public_key_hex() const { return to_hex(k_->own_public); }

std::optional<field_cipher> field_cipher::for_client(const recipient& model) {
  if (!sodium_ready()) return std::nullopt;
  auto k = std::make_unique<keys>();
  k->kind = model.kind();
  k->peer_public = model.public_key();
  if (model.kind() == scheme::v2) {
    // §4.2: a fresh Ed25519 key pair per request; the server encrypts to its X25519 form.
    std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
    wiped_secret<crypto_sign_SECRETKEYBYTES> sk;
    if (crypto_sign_keypair(pk.data(), sk.data()) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(k->own_secret.data(), sk.data()) != 0) {
      return std::nullopt;
    }
    k->own_public.assign(pk.begin(), pk.end());
    if (!ed25519_to_x25519_public(k->peer_public, k->peer_x25519)) return std::nullopt;
  } else {
    // bind_recipient checked the model's key is a point; ecdh_x re-checks it per field.
    wiped_secret<secp256k1_scalar_size> secret;
    const auto xy = random_secp256k1_key(secret);
    if (!xy) return std::nullopt;
    std::copy(secret.b.begin(), secret.b.end(), k->own_secret.begin());
    k->own_public.assign(xy->begin(), xy->end());
  }
  return field_cipher(std::move(k));
}

boost::system::result<field_cipher, std::string> field_cipher::for_server(scheme kind, byte_view own_secret,
                                                                         std::string_view client_public_key_hex) {
  if (!sodium_ready()) return std::string("libsodium could not be initialised");
  auto k = std::make_unique<keys>();
  k->kind = kind;
  auto client_key = from_hex(client_public_key_hex);
  if (!client_key) return std::string("X-Client-Pub-Key is not hex");

  if (kind == scheme::v2) {
    if (own_secret.size() != crypto_sign_SEEDBYTES) return std::string("the model's Ed25519 seed is not 32 bytes");
    std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> pk{};
    wiped_secret<crypto_sign_SECRETKEYBYTES> sk;
    if (crypto_sign_seed_keypair(pk.data(), sk.data(), own_secret.data()) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(k->own_secret.data(), sk.data()) != 0) {
      return std::string("the model's Ed25519 seed gives no key pair");
    }
    k->own_public.assign(pk.begin(), pk.end());
    if (client_key->size() != crypto_sign_PUBLICKEYBYTES) {
      return std::string("X-Client-Pub-Key is not 64 hex (an Ed25519 public key)");
    }
    if (!ed25519_to_x25519_public(*client_key, k->peer_x25519)) {
      return std::string("X-Client-Pub-Key is not a valid Ed25519 public key");
    }
    k->peer_public = std::move(*client_key);
    return field_cipher(std::move(k));
  }

  const auto own_xy = crypto::secp256k1::public_key_of(own_secret);
  if (!own_xy) return std::string("the model's secp256k1 secret is not a valid scalar");
  std::copy(own_secret.begin(), own_secret.end(), k->own_secret.begin());
  k->own_public.assign(own_xy->begin(), own_xy->end());
  byte_view xy = *client_key;
  if (xy.size() == secp256k1_point_size && xy[0] == 0x04) xy = xy.subspan(1);
  if (xy.size() != secp256k1_xy_size) {
    return std::string("X-Client-Pub-Key is not 128 or 130 hex (an uncompressed secp256k1 key)");
  }
  if (!crypto::secp256k1::is_public_key(xy)) return std::string("X-Client-Pub-Key is not a secp256k1 point");
  k->peer_public.assign(xy.begin(), xy.end());
  return field_cipher(std::move(k));
}

std::optional<std::string> field_cipher::encrypt(std::string_view plaintext) const {
  try {
    std::optional<bytes> sealed;
    if (k_->kind == scheme::v2) {
      // §4.2 step 2: a fresh ephemeral X25519 secret and nonce for every field.
      wiped_secret<crypto_scalarmult_SCALARBYTES> ephemeral;
      std::array<std::uint8_t, xchacha_nonce_size> nonce{};
      randombytes_buf(ephemeral.data(), ephemeral.size());
      randombytes_buf(nonce.data(), nonce.size());
      sealed = seal_v2_to(k_->peer_x25519, {ephemeral.data(), ephemeral.size()}, nonce, plaintext);
    } else {
      wiped_secret<secp256k1_scalar_size> ephemeral;
      std::array<std::uint8_t, gcm_nonce_size> nonce{};
      const auto ephemeral_xy = random_secp256k1_key(ephemeral);
      if (!ephemeral_xy || !random_bytes(nonce.data(), nonce.size())) return std::nullopt;
      sealed = seal_ecies_to(k_->peer_public, {ephemeral.data(), ephemeral.size()}, *ephemeral_xy, nonce,
                             plaintext);
    }
    if (!sealed) return std::nullopt;
    return to_hex(*sealed);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<std::string> field_cipher::decrypt(std::string_view field_hex) const {
  try {
    const auto sealed = from_hex(field_hex);
    if (!sealed) return std::nullopt;
    return k_->kind == scheme::v2 ? open_v2(k_->own_secret, *sealed) : open_ecies_with(k_->own_secret, *sealed);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace vp::e2ee
