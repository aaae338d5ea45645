#include "crypto/ecdsa.hpp"

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>

#include <array>
#include <string>

namespace vp::crypto {

namespace {

evp_pkey_ptr ec_public_key_from_xy(byte_view xy, std::size_t xy_size, const char* group) {
  if (xy.size() != xy_size) return nullptr;
  std::array<unsigned char, 97> point{};
  point[0] = 0x04;  // uncompressed SEC1 point
  std::copy(xy.begin(), xy.end(), point.begin() + 1);

  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>(group), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), xy_size + 1),
      OSSL_PARAM_construct_end()};
  evp_pkey_ctx_ptr ctx{EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
  EVP_PKEY* raw = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return nullptr;
  }
  // Import decodes the point with EC_POINT_oct2point, which rejects points off the
  // curve (tested in ecdsa_test.cpp), so no separate public-key check is needed.
  return evp_pkey_ptr{raw};
}

/// The curve name of an EC key ("" for anything else).
std::string ec_group_name(EVP_PKEY* key) {
  char name[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &len) != 1) return {};
  return std::string(name, len);
}

bool verify_raw(EVP_PKEY* key, const EVP_MD* md, byte_view message, byte_view signature_rs) {
  const bytes der = ecdsa_raw_to_der(signature_rs);
  if (der.empty()) return false;
  evp_md_ctx_ptr ctx{EVP_MD_CTX_new()};
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), der.data(), der.size(), message.data(), message.size()) == 1;
}

}  // namespace

evp_pkey_ptr p256_public_key_from_xy(byte_view xy) { return ec_public_key_from_xy(xy, 64, "prime256v1"); }

evp_pkey_ptr p384_public_key_from_xy(byte_view xy) { return ec_public_key_from_xy(xy, 96, "secp384r1"); }

bytes ecdsa_raw_to_der(byte_view signature_rs) {
  if (signature_rs.size() != 64 && signature_rs.size() != 96) return {};
  const int half = static_cast<int>(signature_rs.size() / 2);
  ecdsa_sig_ptr sig{ECDSA_SIG_new()};
  bignum_ptr r{BN_bin2bn(signature_rs.data(), half, nullptr)};
  bignum_ptr s{BN_bin2bn(signature_rs.data() + half, half, nullptr)};
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return {};
  r.release();  // owned by sig now
  s.release();
  const int len = i2d_ECDSA_SIG(sig.get(), nullptr);
  if (len <= 0) return {};
  bytes der(static_cast<std::size_t>(len));
  unsigned char* out = der.data();
  if (i2d_ECDSA_SIG(sig.get(), &out) != len) return {};
  return der;
}

bool verify_p256_sha256_raw(EVP_PKEY* key, byte_view message, byte_view signature_rs) {
  if (key == nullptr || signature_rs.size() != 64) return false;
  return verify_raw(key, EVP_sha256(), message, signature_rs);
}

bool verify_p384_sha384_raw(EVP_PKEY* key, byte_view message, byte_view signature_rs) {
  // r and s are 48 bytes each only on P-384 (RFC 7518 §3.4): a key on another curve
  // with a 96-byte r‖s would be an algorithm confusion, so the curve is checked.
  if (key == nullptr || signature_rs.size() != 96 || ec_group_name(key) != "secp384r1") return false;
  return verify_raw(key, EVP_sha384(), message, signature_rs);
}

}  // namespace vp::crypto
