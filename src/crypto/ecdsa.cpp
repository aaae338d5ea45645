#include "crypto/ecdsa.hpp"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>

#include <array>

namespace vp::crypto {

evp_pkey_ptr p256_public_key_from_xy(byte_view xy) {
  if (xy.size() != 64) return nullptr;
  std::array<unsigned char, 65> point{};
  point[0] = 0x04;  // uncompressed SEC1 point
  std::copy(xy.begin(), xy.end(), point.begin() + 1);

  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("prime256v1"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
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
  return signature_rs.size() == 64 && verify_ecdsa_raw(key, EVP_sha256(), message, signature_rs);
}

bool verify_ecdsa_raw(EVP_PKEY* key, const EVP_MD* digest, byte_view message, byte_view signature_rs) {
  if (key == nullptr || digest == nullptr || EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return false;
  // r and s are each as long as the curve order: a P-384 key takes 96 bytes, not 64.
  if (signature_rs.size() != 2 * static_cast<std::size_t>((EVP_PKEY_get_bits(key) + 7) / 8)) return false;
  const bytes der = ecdsa_raw_to_der(signature_rs);
  if (der.empty()) return false;
  evp_md_ctx_ptr ctx{EVP_MD_CTX_new()};
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, digest, nullptr, key) != 1) return false;
  const bool ok = EVP_DigestVerify(ctx.get(), der.data(), der.size(), message.data(), message.size()) == 1;
  ERR_clear_error();
  return ok;
}

}  // namespace vp::crypto
