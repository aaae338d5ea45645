#include "crypto/secp256k1.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include <boost/json.hpp>

#include <memory>

#include "core/hex.hpp"
#include "crypto/keccak.hpp"
#include "support/testdata.hpp"

namespace vp::crypto::secp256k1 {
namespace {

bytes hex(std::string_view s) { return from_hex(s).value(); }

std::string address_hex(const address& a) { return "0x" + to_hex(a); }

// Hardhat / Anvil account 0, the key inference-proxy's tests sign with.
constexpr std::string_view hardhat0_secret = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
constexpr std::string_view hardhat0_address = "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266";

// secp256k1's group order n (SEC 2 §2.4.1).
constexpr const char* order_hex = "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141";

/// The same signature with s replaced by n - s and the recovery id flipped: mathematically
/// valid for the same key (ECDSA's malleability), and what a strict verifier must refuse.
std::array<std::uint8_t, 65> high_s_twin(const std::array<std::uint8_t, 65>& rsv) {
  using bn_ptr = std::unique_ptr<BIGNUM, decltype(&BN_free)>;
  BIGNUM* n_raw = nullptr;
  EXPECT_GT(BN_hex2bn(&n_raw, order_hex), 0);
  bn_ptr n(n_raw, &BN_free);
  bn_ptr s(BN_bin2bn(rsv.data() + 32, 32, nullptr), &BN_free);
  bn_ptr high(BN_new(), &BN_free);
  EXPECT_EQ(BN_sub(high.get(), n.get(), s.get()), 1);
  std::array<std::uint8_t, 65> out = rsv;
  EXPECT_EQ(BN_bn2binpad(high.get(), out.data() + 32, 32), 32);
  out[64] = static_cast<std::uint8_t>(rsv[64] == 27 ? 28 : 27);
  return out;
}

TEST(Secp256k1, HardhatAccountZeroAddress) {
  const auto key = from_secret(hex(hardhat0_secret));
  ASSERT_TRUE(key);
  EXPECT_EQ(address_hex(ethereum_address(key->public_key).value()), hardhat0_address);
}

TEST(Secp256k1, EciesVectorModelKeyAndAddress) {
  VP_REQUIRE_SHARED_TESTDATA();
  // The ECIES vector's model key (not Hardhat's: it differs in the last 16 bytes); its
  // public key and address are what docs/gpu-signatures-e2ee.md §4.9 states.
  const auto vectors = boost::json::parse(test::read_shared("e2ee/vectors.json"));
  const auto& ecies = vectors.at("vectors").at("ecies_secp256k1").as_object();
  const auto key = from_secret(hex(ecies.at("model_secret").as_string()));
  ASSERT_TRUE(key);
  EXPECT_EQ(to_hex(key->public_key), ecies.at("model_signing_public_key_field").as_string());
  EXPECT_EQ(address_hex(ethereum_address(key->public_key).value()), ecies.at("model_address").as_string());
  EXPECT_EQ(std::string(ecies.at("model_address").as_string()).substr(0, 10), "0x3ed6ccba");
}

TEST(Secp256k1, EthereumAddressIsLast20BytesOfKeccak) {
  const auto key = from_secret(hex(hardhat0_secret)).value();
  const auto h = keccak256(key.public_key);
  EXPECT_EQ(to_hex(ethereum_address(key.public_key).value()), to_hex(byte_view(h).subspan(12)));
  EXPECT_FALSE(ethereum_address(byte_view(key.public_key).first(63)));
  const bytes with_prefix = [&] {
    bytes b{0x04};
    b.insert(b.end(), key.public_key.begin(), key.public_key.end());
    return b;
  }();
  EXPECT_FALSE(ethereum_address(with_prefix));
}

TEST(Secp256k1, PersonalMessageDigestIsEip191) {
  // The prefix and the decimal byte length are hashed with the message.
  EXPECT_EQ(personal_message_digest("abc"), keccak256(as_bytes("\x19" "Ethereum Signed Message:\n3abc")));
  EXPECT_EQ(personal_message_digest(""), keccak256(as_bytes("\x19" "Ethereum Signed Message:\n0")));
  const std::string twelve = "hello world!";
  EXPECT_EQ(personal_message_digest(twelve), keccak256(as_bytes("\x19" "Ethereum Signed Message:\n12hello world!")));
}

TEST(Secp256k1, SignRecoverRoundTrip) {
  const auto key = from_secret(hex(hardhat0_secret)).value();
  const auto digest = personal_message_digest("Qwen/Qwen3.5-122B-A10B:aa:bb");
  const auto rsv = sign_recoverable(key, digest).value();
  EXPECT_TRUE(rsv[64] == 27 || rsv[64] == 28);
  EXPECT_EQ(recover(digest, rsv), key.public_key);
  EXPECT_TRUE(verify(key.public_key, digest, byte_view(rsv).first(64)));
  // RFC 6979: the same key and digest give the same signature.
  EXPECT_EQ(sign_recoverable(key, digest), rsv);
}

TEST(Secp256k1, HighSTwinIsRefusedByRecoverAndVerify) {
  const auto key = from_secret(hex(hardhat0_secret)).value();
  const auto digest = personal_message_digest("malleable");
  const auto rsv = sign_recoverable(key, digest).value();
  const auto twin = high_s_twin(rsv);
  // The twin is a real signature: libsecp256k1's own recovery, which does not enforce
  // low-s, gets the same key from it.
  const secp256k1_context* ctx = secp256k1_context_static;
  secp256k1_ecdsa_recoverable_signature sig;
  ASSERT_EQ(secp256k1_ecdsa_recoverable_signature_parse_compact(ctx, &sig, twin.data(), twin[64] - 27), 1);
  secp256k1_pubkey raw;
  ASSERT_EQ(secp256k1_ecdsa_recover(ctx, &raw, &sig, digest.data()), 1);
  unsigned char point[65];
  std::size_t len = sizeof point;
  ASSERT_EQ(secp256k1_ec_pubkey_serialize(ctx, point, &len, &raw, SECP256K1_EC_UNCOMPRESSED), 1);
  EXPECT_EQ(to_hex(byte_view(point + 1, 64)), to_hex(key.public_key));

  EXPECT_FALSE(recover(digest, twin));
  EXPECT_FALSE(verify(key.public_key, digest, byte_view(twin).first(64)));
}

TEST(Secp256k1, OnlyV27And28AreAccepted) {
  const auto key = from_secret(hex(hardhat0_secret)).value();
  const auto digest = personal_message_digest("v");
  auto rsv = sign_recoverable(key, digest).value();
  const std::uint8_t recovery_id = rsv[64] - 27;
  for (const int v : {0, 1, 26, 29, 30, 35, 36}) {
    rsv[64] = static_cast<std::uint8_t>(v);
    EXPECT_FALSE(recover(digest, rsv)) << "v = " << v;
  }
  // The other valid v recovers some other key, never the signer's.
  rsv[64] = static_cast<std::uint8_t>(27 + (recovery_id ^ 1));
  EXPECT_NE(recover(digest, rsv), std::optional<public_xy>(key.public_key));
}

TEST(Secp256k1, FlippedBytesFail) {
  const auto key = from_secret(hex(hardhat0_secret)).value();
  const auto digest = personal_message_digest("flip");
  const auto rsv = sign_recoverable(key, digest).value();
  for (const std::size_t i : {0u, 31u, 32u, 63u}) {
    auto bad = rsv;
    bad[i] ^= 0x01;
    EXPECT_NE(recover(digest, bad), std::optional<public_xy>(key.public_key)) << "byte " << i;
    EXPECT_FALSE(verify(key.public_key, digest, byte_view(bad).first(64))) << "byte " << i;
  }
  auto other_digest = digest;
  other_digest[5] ^= 0x80;
  EXPECT_FALSE(verify(key.public_key, other_digest, byte_view(rsv).first(64)));
  EXPECT_NE(recover(other_digest, rsv), key.public_key);
}

TEST(Secp256k1, MalformedInputsAreRefused) {
  const auto key = from_secret(hex(hardhat0_secret)).value();
  const auto digest = personal_message_digest("sizes");
  const auto rsv = sign_recoverable(key, digest).value();
  EXPECT_FALSE(recover(byte_view(digest).first(31), rsv));
  EXPECT_FALSE(recover(digest, byte_view(rsv).first(64)));
  EXPECT_FALSE(verify(byte_view(key.public_key).first(63), digest, byte_view(rsv).first(64)));
  EXPECT_FALSE(verify(key.public_key, digest, rsv));  // 65 bytes: r‖s only
  EXPECT_FALSE(sign_recoverable(key, byte_view(digest).first(31)));
  // r = 0 and s = 0 are out of range.
  std::array<std::uint8_t, 65> zeros{};
  zeros[64] = 27;
  EXPECT_FALSE(recover(digest, zeros));
  // A point not on the curve.
  auto off_curve = key.public_key;
  off_curve[63] ^= 0x01;
  EXPECT_FALSE(verify(off_curve, digest, byte_view(rsv).first(64)));
}

TEST(Secp256k1, InvalidSecretsAreRefused) {
  EXPECT_FALSE(from_secret(bytes(32, 0)));
  EXPECT_FALSE(from_secret(hex(order_hex)));  // n itself is not a scalar below n
  EXPECT_FALSE(from_secret(bytes(31, 1)));
}

TEST(Secp256k1, GeneratedKeysWork) {
  const auto a = generate();
  const auto b = generate();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->secret, b->secret);
  EXPECT_EQ(from_secret(a->secret)->public_key, a->public_key);
  const auto digest = personal_message_digest("fresh");
  EXPECT_EQ(recover(digest, sign_recoverable(*a, digest).value()), a->public_key);
}

TEST(Secp256k1, PublicKeyOfMatchesFromSecretAndRefusesInvalidScalars) {
  const auto key = from_secret(hex(hardhat0_secret)).value();
  EXPECT_EQ(public_key_of(hex(hardhat0_secret)), key.public_key);
  EXPECT_FALSE(public_key_of(bytes(32, 0)));
  EXPECT_FALSE(public_key_of(hex(order_hex)));
  EXPECT_FALSE(public_key_of(bytes(31, 1)));
  EXPECT_FALSE(public_key_of(bytes(33, 1)));
}

TEST(Secp256k1, IsPublicKeyAcceptsOnlyRawPointsOnTheCurve) {
  const auto key = from_secret(hex(hardhat0_secret)).value();
  EXPECT_TRUE(is_public_key(key.public_key));
  auto off_curve = key.public_key;
  off_curve[63] ^= 0x01;
  EXPECT_FALSE(is_public_key(off_curve));
  EXPECT_FALSE(is_public_key(public_xy{}));
  EXPECT_FALSE(is_public_key(byte_view(key.public_key).first(63)));
  bytes with_prefix{0x04};
  with_prefix.insert(with_prefix.end(), key.public_key.begin(), key.public_key.end());
  EXPECT_FALSE(is_public_key(with_prefix));  // X‖Y only, as NEAR reports carry it
}

TEST(Secp256k1, EcdhXMatchesTheEciesVector) {
  VP_REQUIRE_SHARED_TESTDATA();
  // §4.9: x(model · E) = x(e · model) is the vector's "ECDH x", the unhashed X coordinate.
  const auto vectors = boost::json::parse(test::read_shared("e2ee/vectors.json"));
  const auto& ecies = vectors.at("vectors").at("ecies_secp256k1").as_object();
  const bytes model_secret = hex(ecies.at("model_secret").as_string());
  const bytes ephemeral_secret = hex(ecies.at("ephemeral_secret").as_string());
  const bytes ephemeral_point = hex(ecies.at("ephemeral_pub_uncompressed").as_string());
  ASSERT_EQ(ephemeral_point.size(), 65u);
  const byte_view ephemeral_xy = byte_view(ephemeral_point).subspan(1);
  EXPECT_EQ(to_hex(public_key_of(ephemeral_secret).value()), to_hex(ephemeral_xy));

  std::array<std::uint8_t, 32> model_side{};
  std::array<std::uint8_t, 32> ephemeral_side{};
  ASSERT_TRUE(ecdh_x(model_secret, ephemeral_xy, model_side));
  ASSERT_TRUE(ecdh_x(ephemeral_secret, public_key_of(model_secret).value(), ephemeral_side));
  EXPECT_EQ(to_hex(model_side), ecies.at("ecdh_x").as_string());
  EXPECT_EQ(to_hex(ephemeral_side), ecies.at("ecdh_x").as_string());
}

TEST(Secp256k1, EcdhXAgreesBothWaysAndIsTheXOfTheSharedPoint) {
  const auto a = generate().value();
  const auto b = generate().value();
  std::array<std::uint8_t, 32> ab{};
  std::array<std::uint8_t, 32> ba{};
  ASSERT_TRUE(ecdh_x(a.secret, b.public_key, ab));
  ASSERT_TRUE(ecdh_x(b.secret, a.public_key, ba));
  EXPECT_EQ(ab, ba);
  // The X of a·B computed independently (libsecp256k1's tweak-multiply), not a hash of it.
  secp256k1_pubkey point;
  unsigned char uncompressed[65] = {0x04};
  std::copy(b.public_key.begin(), b.public_key.end(), uncompressed + 1);
  ASSERT_EQ(secp256k1_ec_pubkey_parse(secp256k1_context_static, &point, uncompressed, sizeof uncompressed), 1);
  ASSERT_EQ(secp256k1_ec_pubkey_tweak_mul(secp256k1_context_static, &point, a.secret.data()), 1);
  std::size_t len = sizeof uncompressed;
  ASSERT_EQ(secp256k1_ec_pubkey_serialize(secp256k1_context_static, uncompressed, &len, &point,
                                          SECP256K1_EC_UNCOMPRESSED),
            1);
  EXPECT_EQ(to_hex(ab), to_hex(byte_view(uncompressed + 1, 32)));
  // Another peer, another secret.
  const auto c = generate().value();
  std::array<std::uint8_t, 32> ac{};
  ASSERT_TRUE(ecdh_x(a.secret, c.public_key, ac));
  EXPECT_NE(ab, ac);
}

TEST(Secp256k1, EcdhXRefusesInvalidPointsAndScalarsAndZeroesTheOutput) {
  const auto a = from_secret(hex(hardhat0_secret)).value();
  const auto b = generate().value();
  auto off_curve = b.public_key;
  off_curve[63] ^= 0x01;
  std::array<std::uint8_t, 32> out{};
  const auto refused = [&](byte_view secret, byte_view peer) {
    out.fill(0xaa);
    const bool ok = ecdh_x(secret, peer, out);
    return !ok && out == std::array<std::uint8_t, 32>{};
  };
  EXPECT_TRUE(refused(a.secret, off_curve));
  EXPECT_TRUE(refused(a.secret, public_xy{}));
  EXPECT_TRUE(refused(a.secret, byte_view(b.public_key).first(63)));
  EXPECT_TRUE(refused(bytes(32, 0), b.public_key));
  EXPECT_TRUE(refused(hex(order_hex), b.public_key));
  EXPECT_TRUE(refused(byte_view(a.secret).first(31), b.public_key));
}

}  // namespace
}  // namespace vp::crypto::secp256k1
