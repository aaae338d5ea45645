#include "e2ee/cipher.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
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
using ec_point_ptr = std::unique_ptr<EC_POINT, crypto::ossl_deleter<EC_POINT_free>>;
using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, crypto::ossl_deleter<OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, crypto::ossl_deleter<OSSL_PARAM_free>>;
using secret_bn_ptr = std::unique_ptr<BIGNUM, crypto::ossl_deleter<BN_clear_free>>;

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

// ---- secp256k1 through OpenSSL 3 (EVP_PKEY from raw octets)

const EC_GROUP* secp256k1_group() {
  static const EC_GROUP* const group = EC_GROUP_new_by_curve_name(NID_secp256k1);
  return group;
}

/// The scalar of a 32-byte big-endian secret, or null unless 0 < s < n.
secret_bn_ptr valid_scalar(byte_view secret) {
  const EC_GROUP* group = secp256k1_group();
  if (group == nullptr || secret.size() != secp256k1_scalar_size) return nullptr;
  secret_bn_ptr k{BN_secure_new()};
  if (!k || BN_bin2bn(secret.data(), static_cast<int>(secret.size()), k.get()) == nullptr) return nullptr;
  if (BN_is_zero(k.get()) || BN_cmp(k.get(), EC_GROUP_get0_order(group)) >= 0) return nullptr;
  return k;
}

/// The uncompressed public point (65 bytes) of a valid scalar.
std::optional<std::array<std::uint8_t, secp256k1_point_size>> public_point_of(const BIGNUM* k) {
  const EC_GROUP* group = secp256k1_group();
  ec_point_ptr point{EC_POINT_new(group)};
  if (!point || EC_POINT_mul(group, point.get(), k, nullptr, nullptr, nullptr) != 1) return std::nullopt;
  std::array<std::uint8_t, secp256k1_point_size> out{};
  if (EC_POINT_point2oct(group, point.get(), POINT_CONVERSION_UNCOMPRESSED, out.data(), out.size(), nullptr) !=
      out.size()) {
    return std::nullopt;
  }
  return out;
}

/// A secp256k1 public key from an uncompressed point; null unless it lies on the curve
/// (the import decodes it with EC_POINT_oct2point, which checks that).
crypto::evp_pkey_ptr secp256k1_public_key(byte_view point) {
  if (point.size() != secp256k1_point_size || point[0] != 0x04) return nullptr;
  char group[] = "secp256k1";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, const_cast<std::uint8_t*>(point.data()),
                                        point.size()),
      OSSL_PARAM_construct_end()};
  crypto::evp_pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return nullptr;
  }
  return crypto::evp_pkey_ptr{raw};
}

crypto::evp_pkey_ptr secp256k1_public_key_xy(byte_view xy) {
  if (xy.size() != secp256k1_xy_size) return nullptr;
  std::array<std::uint8_t, secp256k1_point_size> point{};
  point[0] = 0x04;
  std::copy(xy.begin(), xy.end(), point.begin() + 1);
  return secp256k1_public_key(point);
}

/// A secp256k1 private key from a valid scalar, with its public point when the caller
/// has it (ECDH needs only the scalar, and computing the point is a scalar multiplication).
crypto::evp_pkey_ptr secp256k1_private_key(const BIGNUM* k, std::optional<byte_view> point) {
  param_bld_ptr bld{OSSL_PARAM_BLD_new()};
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "secp256k1", 0) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, k) != 1 ||
      (point && OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point->data(),
                                                 point->size()) != 1)) {
    return nullptr;
  }
  params_ptr params{OSSL_PARAM_BLD_to_param(bld.get())};
  crypto::evp_pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_KEYPAIR, params.get()) != 1) {
    return nullptr;
  }
  return crypto::evp_pkey_ptr{raw};
}

crypto::evp_pkey_ptr secp256k1_private_key(byte_view secret) {
  const secret_bn_ptr k = valid_scalar(secret);
  return k ? secp256k1_private_key(k.get(), std::nullopt) : nullptr;
}

/// x(own · peer): the raw 32-byte X coordinate, as k256's `raw_secret_bytes` (§4.3).
bool ecdh_x(EVP_PKEY* own, EVP_PKEY* peer, wiped_secret<32>& out) {
  crypto::evp_pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_pkey(nullptr, own, nullptr)};
  std::size_t size = out.size();
  return ctx && EVP_PKEY_derive_init(ctx.get()) == 1 && EVP_PKEY_derive_set_peer(ctx.get(), peer) == 1 &&
         EVP_PKEY_derive(ctx.get(), out.data(), &size) == 1 && size == out.size();
}

bool ecies_key(EVP_PKEY* own, EVP_PKEY* peer, wiped_secret<symmetric_key_size>& key) {
  wiped_secret<32> shared;
  return ecdh_x(own, peer, shared) &&
         hkdf_sha256({shared.data(), shared.size()}, ecies_hkdf_info, key.data(), key.size());
}

std::optional<bytes> seal_ecies_to(EVP_PKEY* peer, byte_view ephemeral_secret, byte_view nonce,
                                   std::string_view plaintext) {
  if (nonce.size() != gcm_nonce_size) return std::nullopt;
  const secret_bn_ptr k = valid_scalar(ephemeral_secret);
  if (!k) return std::nullopt;
  const auto ephemeral_point = public_point_of(k.get());
  if (!ephemeral_point) return std::nullopt;
  const crypto::evp_pkey_ptr ephemeral = secp256k1_private_key(k.get(), byte_view(*ephemeral_point));
  wiped_secret<symmetric_key_size> key;
  if (!ephemeral || !ecies_key(ephemeral.get(), peer, key)) return std::nullopt;

  bytes out(ecies_overhead + plaintext.size());
  std::copy(ephemeral_point->begin(), ephemeral_point->end(), out.begin());
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

std::optional<std::string> open_ecies_with(EVP_PKEY* own, byte_view sealed) {
  if (own == nullptr || sealed.size() < ecies_overhead) return std::nullopt;
  const crypto::evp_pkey_ptr ephemeral = secp256k1_public_key(sealed.first(secp256k1_point_size));
  if (!ephemeral) return std::nullopt;
  wiped_secret<symmetric_key_size> key;
  if (!ecies_key(own, ephemeral.get(), key)) return std::nullopt;

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

/// A fresh secp256k1 secret: 32 CSPRNG bytes, drawn again in the (2^-128) case that they
/// are not a valid scalar.
bool random_secp256k1_secret(wiped_secret<secp256k1_scalar_size>& out) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    if (!random_bytes(out.data(), out.size())) return false;
    if (valid_scalar({out.data(), out.size()})) return true;
  }
  return false;
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
  if (!secp256k1_public_key_xy(xy)) {
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
  const crypto::evp_pkey_ptr peer = secp256k1_public_key_xy(recipient_xy);
  if (!peer) return std::nullopt;
  return seal_ecies_to(peer.get(), ephemeral_secret, nonce, plaintext);
}

std::optional<std::string> open_ecies(byte_view own_secret, byte_view sealed) {
  if (sealed.size() < ecies_overhead) return std::nullopt;
  const crypto::evp_pkey_ptr own = secp256k1_private_key(own_secret);
  if (!own) return std::nullopt;
  return open_ecies_with(own.get(), sealed);
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
  /// ecies: both keys imported once, not per field.
  crypto::evp_pkey_ptr own_key;
  crypto::evp_pkey_ptr peer_key;
  /// v2: the peer's key converted to X25519 once, not per field.
  std::array<std::uint8_t, x25519_size> peer_x25519{};

  bool import_ecies_keys() {
    own_key = secp256k1_private_key(own_secret);
    peer_key = secp256k1_public_key_xy(peer_public);
    return own_key && peer_key;
  }

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
    wiped_secret<secp256k1_scalar_size> secret;
    if (!random_secp256k1_secret(secret)) return std::nullopt;
    const secret_bn_ptr scalar = valid_scalar({secret.data(), secret.size()});
    const auto point = scalar ? public_point_of(scalar.get()) : std::nullopt;
    if (!point) return std::nullopt;
    std::copy(secret.b.begin(), secret.b.end(), k->own_secret.begin());
    k->own_public.assign(point->begin() + 1, point->end());
    if (!k->import_ecies_keys()) return std::nullopt;
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

  const secret_bn_ptr scalar = valid_scalar(own_secret);
  const auto point = scalar ? public_point_of(scalar.get()) : std::nullopt;
  if (!point) return std::string("the model's secp256k1 secret is not a valid scalar");
  std::copy(own_secret.begin(), own_secret.end(), k->own_secret.begin());
  k->own_public.assign(point->begin() + 1, point->end());
  byte_view xy = *client_key;
  if (xy.size() == secp256k1_point_size && xy[0] == 0x04) xy = xy.subspan(1);
  if (xy.size() != secp256k1_xy_size) {
    return std::string("X-Client-Pub-Key is not 128 or 130 hex (an uncompressed secp256k1 key)");
  }
  if (!secp256k1_public_key_xy(xy)) return std::string("X-Client-Pub-Key is not a secp256k1 point");
  k->peer_public.assign(xy.begin(), xy.end());
  if (!k->import_ecies_keys()) return std::string("the secp256k1 keys could not be imported");
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
      if (!random_secp256k1_secret(ephemeral) || !random_bytes(nonce.data(), nonce.size())) return std::nullopt;
      sealed = seal_ecies_to(k_->peer_key.get(), {ephemeral.data(), ephemeral.size()}, nonce, plaintext);
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
    return k_->kind == scheme::v2 ? open_v2(k_->own_secret, *sealed) : open_ecies_with(k_->own_key.get(), *sealed);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace vp::e2ee
