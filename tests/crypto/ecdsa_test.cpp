#include "crypto/ecdsa.hpp"

#include <gtest/gtest.h>

#include <openssl/ec.h>

#include "crypto/digest.hpp"

namespace vp::crypto {
namespace {

struct key_pair {
  evp_pkey_ptr key;
  bytes xy;
};

key_pair make_key() {
  evp_pkey_ptr key{EVP_EC_gen("P-256")};
  unsigned char point[65];
  std::size_t len = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(key.get(), "pub", point, sizeof point, &len), 1);
  EXPECT_EQ(len, 65u);
  return {std::move(key), bytes(point + 1, point + 65)};
}

bytes sign_raw(EVP_PKEY* key, byte_view msg) {
  evp_md_ctx_ptr ctx{EVP_MD_CTX_new()};
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key), 1);
  std::size_t len = 0;
  EVP_DigestSign(ctx.get(), nullptr, &len, msg.data(), msg.size());
  bytes der(len);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), der.data(), &len, msg.data(), msg.size()), 1);
  const unsigned char* p = der.data();
  ecdsa_sig_ptr sig{d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len))};
  bytes raw(64);
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + 32, 32);
  return raw;
}

TEST(Ecdsa, VerifiesRawSignaturesFromRawKeys) {
  const auto kp = make_key();
  const bytes msg = {1, 2, 3};
  const bytes sig = sign_raw(kp.key.get(), msg);
  const auto pub = p256_public_key_from_xy(kp.xy);
  ASSERT_TRUE(pub);
  EXPECT_TRUE(verify_p256_sha256_raw(pub.get(), msg, sig));
  bytes tampered = sig;
  tampered[10] ^= 1;
  EXPECT_FALSE(verify_p256_sha256_raw(pub.get(), msg, tampered));
  EXPECT_FALSE(verify_p256_sha256_raw(pub.get(), bytes{1, 2, 4}, sig));
  EXPECT_FALSE(verify_p256_sha256_raw(pub.get(), msg, byte_view(sig).first(63)));
  EXPECT_FALSE(verify_p256_sha256_raw(nullptr, msg, sig));
}

TEST(Ecdsa, RejectsPointsOffTheCurveAndWrongSizes) {
  bytes off_curve(64);
  for (std::size_t i = 0; i < off_curve.size(); ++i) off_curve[i] = static_cast<std::uint8_t>(i + 1);
  EXPECT_FALSE(p256_public_key_from_xy(off_curve));
  EXPECT_FALSE(p256_public_key_from_xy(bytes(63, 1)));
  EXPECT_FALSE(p256_public_key_from_xy(bytes(64, 0)));  // not a point either
  auto kp = make_key();
  kp.xy[63] ^= 1;  // a valid X with a wrong Y
  EXPECT_FALSE(p256_public_key_from_xy(kp.xy));
}

TEST(Ecdsa, RawToDerRejectsWrongLength) {
  EXPECT_TRUE(ecdsa_raw_to_der(bytes(63, 1)).empty());
  EXPECT_FALSE(ecdsa_raw_to_der(bytes(64, 1)).empty());
}

TEST(Digest, KnownAnswers) {
  // FIPS 180-2 "abc".
  const auto d = sha256(as_bytes("abc"));
  EXPECT_EQ(d[0], 0xba);
  EXPECT_EQ(d[31], 0xad);
  EXPECT_EQ(sha256({as_bytes("a"), as_bytes("bc")}), d);
  const auto d384 = sha384(as_bytes("abc"));
  EXPECT_EQ(d384[0], 0xcb);
  EXPECT_EQ(d384[47], 0xa7);
}

}  // namespace
}  // namespace vp::crypto
