#include "crypto/ed25519.hpp"

#include <gtest/gtest.h>

#include "core/hex.hpp"

namespace vp::crypto::ed25519 {
namespace {

bytes hex(std::string_view s) { return from_hex(s).value(); }

// RFC 8032 §7.1, TEST 1.
constexpr std::string_view test1_seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::string_view test1_public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr std::string_view test1_signature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

TEST(Ed25519, Rfc8032Test1KeyAndSignature) {
  const auto key = from_seed(hex(test1_seed));
  ASSERT_TRUE(key);
  EXPECT_EQ(to_hex(key->public_key), test1_public);
  const auto signature = sign(*key, {});
  EXPECT_EQ(to_hex(signature), test1_signature);
  EXPECT_TRUE(verify(key->public_key, {}, signature));
}

TEST(Ed25519, FlippedBytesFail) {
  const auto key = from_seed(hex(test1_seed)).value();
  auto signature = sign(key, as_bytes("message"));
  ASSERT_TRUE(verify(key.public_key, as_bytes("message"), signature));
  EXPECT_FALSE(verify(key.public_key, as_bytes("messagf"), signature));
  signature[10] ^= 0x01;
  EXPECT_FALSE(verify(key.public_key, as_bytes("message"), signature));
  signature[10] ^= 0x01;
  auto other_key = key.public_key;
  other_key[0] ^= 0x01;
  EXPECT_FALSE(verify(other_key, as_bytes("message"), signature));
}

TEST(Ed25519, WrongSizesAreRefused) {
  const auto key = from_seed(hex(test1_seed)).value();
  const auto signature = sign(key, {});
  EXPECT_FALSE(verify(byte_view(key.public_key).first(31), {}, signature));
  EXPECT_FALSE(verify(key.public_key, {}, byte_view(signature).first(63)));
  EXPECT_FALSE(from_seed(bytes(31, 0)));
  EXPECT_FALSE(from_seed(bytes(33, 0)));
}

TEST(Ed25519, SmallOrderPublicKeyIsRefused) {
  // The identity point (y = 1) has order 1: with it, R = the identity and S = 0 would
  // "verify" any message under a lax verifier.
  bytes identity(32, 0);
  identity[0] = 1;
  bytes signature(64, 0);
  signature[0] = 1;
  EXPECT_FALSE(verify(identity, as_bytes("anything"), signature));
}

TEST(Ed25519, GeneratedKeysAreFreshAndWork) {
  const auto a = generate();
  const auto b = generate();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->seed, b->seed);
  EXPECT_EQ(from_seed(a->seed)->public_key, a->public_key);
  EXPECT_TRUE(verify(a->public_key, as_bytes("x"), sign(*a, as_bytes("x"))));
  EXPECT_FALSE(verify(b->public_key, as_bytes("x"), sign(*a, as_bytes("x"))));
}

}  // namespace
}  // namespace vp::crypto::ed25519
