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

key_pair make_key(const char* curve = "P-256", std::size_t xy_size = 64) {
  evp_pkey_ptr key{EVP_EC_gen(curve)};
  unsigned char point[97];
  std::size_t len = 0;
  EXPECT_EQ(EVP_PKEY_get_octet_string_param(key.get(), "pub", point, sizeof point, &len), 1);
  EXPECT_EQ(len, xy_size + 1);
  return {std::move(key), bytes(point + 1, point + 1 + xy_size)};
}

bytes sign_raw(EVP_PKEY* key, byte_view msg, const EVP_MD* md = EVP_sha256(), int half = 32) {
  evp_md_ctx_ptr ctx{EVP_MD_CTX_new()};
  EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key), 1);
  std::size_t len = 0;
  EVP_DigestSign(ctx.get(), nullptr, &len, msg.data(), msg.size());
  bytes der(len);
  EXPECT_EQ(EVP_DigestSign(ctx.get(), der.data(), &len, msg.data(), msg.size()), 1);
  const unsigned char* p = der.data();
  ecdsa_sig_ptr sig{d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len))};
  bytes raw(static_cast<std::size_t>(2 * half));
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), raw.data(), half);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), raw.data() + half, half);
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

TEST(Ecdsa, VerifiesP384Sha384RawSignatures) {
  const auto kp = make_key("P-384", 96);
  const bytes msg = {1, 2, 3};
  const bytes sig = sign_raw(kp.key.get(), msg, EVP_sha384(), 48);
  const auto pub = p384_public_key_from_xy(kp.xy);
  ASSERT_TRUE(pub);
  EXPECT_TRUE(verify_p384_sha384_raw(pub.get(), msg, sig));
  bytes tampered = sig;
  tampered[50] ^= 1;
  EXPECT_FALSE(verify_p384_sha384_raw(pub.get(), msg, tampered));
  EXPECT_FALSE(verify_p384_sha384_raw(pub.get(), bytes{1, 2, 4}, sig));
  EXPECT_FALSE(verify_p384_sha384_raw(pub.get(), msg, byte_view(sig).first(64)));
  EXPECT_FALSE(verify_p384_sha384_raw(nullptr, msg, sig));
  // The P-256 paths do not take P-384 material, nor the reverse.
  EXPECT_FALSE(p256_public_key_from_xy(kp.xy));
  EXPECT_FALSE(p384_public_key_from_xy(bytes(96, 0)));
  EXPECT_FALSE(verify_p256_sha256_raw(pub.get(), msg, sig));
  const auto p256 = make_key();
  EXPECT_FALSE(verify_p384_sha384_raw(p256.key.get(), msg, bytes(96, 1)));
}

TEST(Ecdsa, RawToDerRejectsWrongLength) {
  EXPECT_TRUE(ecdsa_raw_to_der(bytes(63, 1)).empty());
  EXPECT_FALSE(ecdsa_raw_to_der(bytes(64, 1)).empty());
  EXPECT_FALSE(ecdsa_raw_to_der(bytes(96, 1)).empty());
  EXPECT_TRUE(ecdsa_raw_to_der(bytes(80, 1)).empty());
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
