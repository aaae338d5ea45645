#include "e2ee/cipher.hpp"

#include <cryptopp/keccak.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/json.hpp>
#include <set>
#include <stdexcept>
#include <string>

#include "core/hex.hpp"
#include "support/testdata.hpp"

namespace vp::e2ee {
namespace {
namespace json = boost::json;

bytes hex(std::string_view text) {
  auto b = from_hex(text);
  EXPECT_TRUE(b.has_value()) << text;
  return b.value_or(bytes{});
}

// docs/gpu-signatures-e2ee.md §4.9 vectors V2-1 and ECIES-1 (public test keys: RFC 8032
// test 1, RFC 7748 Alice, the inference-proxy test secret), so a fresh clone checks them.
constexpr std::string_view plaintext_v = "Respond with only two words.";

constexpr std::string_view v2_model_seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::string_view v2_model_pub = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr std::string_view v2_model_x25519_secret = "307c83864f2833cb427a2ef1c00a013cfdff2768d980c0a3a520f006904de94f";
constexpr std::string_view v2_model_x25519_pub = "d85e07ec22b0ad881537c2f44d662d1a143cf830c57aca4305d85c7a90f6b62e";
constexpr std::string_view v2_ephemeral = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr std::string_view v2_nonce = "000102030405060708090a0b0c0d0e0f1011121314151617";
constexpr std::string_view v2_field =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a000102030405060708090a0b0c0d0e0f101112131415"
    "16178a3ebeaa130485b55fc7307aad055c353e080f5410bf3acc913700d479b275e9d5f491935d33d3ae9a36411e";

constexpr std::string_view ecies_model_secret = "ac0974bec39a17e36ba4a6b4d238ff944bacb35e5dc4af0f3347e5873179670f";
constexpr std::string_view ecies_model_xy =
    "dbdac57b8af58ecca52cf3a2ba18c9930e9ab24735d700005695ef5d55cd9fde9aba1e3ef0930f669356198f2059bd9eed082ef49bae5d5d"
    "5b713f6ba7d58215";
constexpr std::string_view ecies_model_address = "3ed6ccba6214d782c3f654458e5ece22392c01fd";
constexpr std::string_view ecies_ephemeral = "1111111111111111111111111111111111111111111111111111111111111111";
constexpr std::string_view ecies_nonce = "000102030405060708090a0b";
constexpr std::string_view ecies_field =
    "044f355bdcb7cc0af728ef3cceb9615d90684bb5b2ca5f859ab0f0b704075871aa385b6b1b8ead809ca67454d9683fcf2ba03456d6fe2c"
    "4abe2b07f0fbdbb2f1c1000102030405060708090a0b03b6b6f97a54a049cd138e09864481008e8a2c8b440cbf0309d841c13b84e5b970"
    "9d0b13fdc8189b187cab8f";

std::string keccak_address_hex(byte_view xy) {
  std::array<std::uint8_t, 32> digest{};
  CryptoPP::Keccak_256 hash;
  hash.Update(xy.data(), xy.size());
  hash.Final(digest.data());
  return to_hex(byte_view(digest).subspan(12));
}

recipient bound(attest::signing_algorithm algo, std::string_view address, std::optional<std::string_view> key) {
  const bytes a = hex(address);
  std::optional<bytes> k;
  if (key) k = hex(*key);
  auto r = bind_recipient(algo, a, k ? std::optional<byte_view>(*k) : std::nullopt);
  // A recipient cannot be made any other way; gtest reports the exception as a failure.
  if (!r) throw std::runtime_error("binding failed: " + r.error());
  return std::move(*r);
}

// ---- known answers

TEST(E2eeCipherVectors, V2SealReproducesTheFieldAndTheModelOpensIt) {
  const auto sealed = seal_v2(hex(v2_model_pub), hex(v2_ephemeral), hex(v2_nonce), plaintext_v);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(to_hex(*sealed), v2_field);
  EXPECT_EQ(sealed->size(), 100u);

  const auto x = ed25519_seed_to_x25519(hex(v2_model_seed));
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(to_hex(*x), v2_model_x25519_secret);
  EXPECT_EQ(open_v2(*x, hex(v2_field)), std::string(plaintext_v));
}

TEST(E2eeCipherVectors, Rfc8032Test1KeyConvertsToTheLibsodiumX25519Pair) {
  // §4.9 KAT (asserted in inference-proxy's test_nacl_libsodium_cross_compat): the secret
  // through our conversion, the public key both ways (Edwards→Montgomery of the Ed25519
  // key, and the base-point multiple of the converted secret) must agree.
  const auto x = ed25519_seed_to_x25519(hex(v2_model_seed));
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(to_hex(*x), v2_model_x25519_secret);
  std::array<std::uint8_t, 32> from_secret{};
  ASSERT_EQ(crypto_scalarmult_base(from_secret.data(), x->data()), 0);
  EXPECT_EQ(to_hex(from_secret), v2_model_x25519_pub);
  std::array<std::uint8_t, 32> from_public{};
  ASSERT_EQ(crypto_sign_ed25519_pk_to_curve25519(from_public.data(), hex(v2_model_pub).data()), 0);
  EXPECT_EQ(to_hex(from_public), v2_model_x25519_pub);
}

TEST(E2eeCipherVectors, EciesSealReproducesTheFieldAndTheModelOpensIt) {
  const auto sealed = seal_ecies(hex(ecies_model_xy), hex(ecies_ephemeral), hex(ecies_nonce), plaintext_v);
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(to_hex(*sealed), ecies_field);
  EXPECT_EQ(sealed->size(), 121u);
  EXPECT_EQ(open_ecies(hex(ecies_model_secret), hex(ecies_field)), std::string(plaintext_v));
}

TEST(E2eeCipherVectors, EciesModelKeyBindsToItsAddress) {
  const recipient r = bound(attest::signing_algorithm::ecdsa, ecies_model_address, ecies_model_xy);
  EXPECT_EQ(r.kind(), scheme::ecies);
  EXPECT_EQ(to_hex(r.public_key()), ecies_model_xy);
  // The server side's own public key is the one derived from the model secret.
  const auto client = field_cipher::for_client(r);
  ASSERT_TRUE(client.has_value());
  auto server = field_cipher::for_server(scheme::ecies, hex(ecies_model_secret), client->public_key_hex());
  ASSERT_TRUE(server.has_value()) << server.error();
  EXPECT_EQ(server->public_key_hex(), ecies_model_xy);
}

TEST(E2eeCipherVectors, SharedVectorsReproduceBitForBit) {
  VP_REQUIRE_SHARED_TESTDATA();
  boost::system::error_code ec;
  const json::value doc = json::parse(test::read_shared("e2ee/vectors.json"), ec);
  ASSERT_FALSE(ec) << ec.message();
  const json::object& vectors = doc.at("vectors").as_object();
  const auto field = [](const json::object& o, std::string_view key) { return std::string(o.at(key).as_string()); };

  const json::object& v2 = vectors.at("v2_ed25519").as_object();
  ASSERT_EQ(field(v2, "hkdf_info"), "ed25519_encryption");
  ASSERT_TRUE(v2.at("hkdf_salt").is_null());
  ASSERT_TRUE(v2.at("aad").is_null());
  const auto v2_sealed = seal_v2(hex(field(v2, "model_ed25519_pub")), hex(field(v2, "ephemeral_x25519_secret")),
                                 hex(field(v2, "nonce")), field(v2, "plaintext"));
  ASSERT_TRUE(v2_sealed.has_value());
  EXPECT_EQ(to_hex(*v2_sealed), field(v2, "field_value_hex"));
  EXPECT_EQ(static_cast<std::int64_t>(v2_sealed->size()), v2.at("field_len").as_int64());
  // The ephemeral public key is the field's first 32 bytes.
  EXPECT_EQ(to_hex(byte_view(*v2_sealed).first(32)), field(v2, "ephemeral_x25519_pub"));
  const auto x = ed25519_seed_to_x25519(hex(field(v2, "model_ed25519_seed")));
  ASSERT_TRUE(x.has_value());
  EXPECT_EQ(to_hex(*x), field(v2, "model_x25519_secret"));
  std::array<std::uint8_t, 32> x_pub{};
  ASSERT_EQ(crypto_scalarmult_base(x_pub.data(), x->data()), 0);
  EXPECT_EQ(to_hex(x_pub), field(v2, "model_x25519_pub"));
  EXPECT_EQ(open_v2(*x, hex(field(v2, "field_value_hex"))), field(v2, "plaintext"));
  const recipient v2_model = bound(attest::signing_algorithm::ed25519, field(v2, "model_ed25519_pub"),
                                   field(v2, "model_ed25519_pub"));
  EXPECT_EQ(v2_model.kind(), scheme::v2);

  const json::object& ec1 = vectors.at("ecies_secp256k1").as_object();
  ASSERT_EQ(field(ec1, "hkdf_info"), "ecdsa_encryption");
  const auto ec_sealed = seal_ecies(hex(field(ec1, "model_signing_public_key_field")),
                                    hex(field(ec1, "ephemeral_secret")), hex(field(ec1, "nonce")),
                                    field(ec1, "plaintext"));
  ASSERT_TRUE(ec_sealed.has_value());
  EXPECT_EQ(to_hex(*ec_sealed), field(ec1, "field_value_hex"));
  EXPECT_EQ(static_cast<std::int64_t>(ec_sealed->size()), ec1.at("field_len").as_int64());
  EXPECT_EQ(to_hex(byte_view(*ec_sealed).first(65)), field(ec1, "ephemeral_pub_uncompressed"));
  EXPECT_EQ(open_ecies(hex(field(ec1, "model_secret")), hex(field(ec1, "field_value_hex"))),
            field(ec1, "plaintext"));
  // Both the 64-byte report form and the 65-byte uncompressed point bind to the address.
  std::string address = field(ec1, "model_address");
  ASSERT_TRUE(address.starts_with("0x"));
  address.erase(0, 2);
  const recipient from64 = bound(attest::signing_algorithm::ecdsa, address, field(ec1, "model_signing_public_key_field"));
  const recipient from65 = bound(attest::signing_algorithm::ecdsa, address, field(ec1, "model_pub_uncompressed"));
  EXPECT_EQ(from64.public_key(), from65.public_key());
  EXPECT_EQ(to_hex(from65.public_key()), field(ec1, "model_signing_public_key_field"));
}

// ---- the deterministic constructions' input checks

TEST(E2eeCipherSeal, V2RefusesWrongSizesAndInvalidKeys) {
  const bytes model = hex(v2_model_pub);
  const bytes e = hex(v2_ephemeral);
  const bytes n = hex(v2_nonce);
  EXPECT_FALSE(seal_v2(byte_view(model).first(31), e, n, "x"));
  EXPECT_FALSE(seal_v2(model, byte_view(e).first(31), n, "x"));
  EXPECT_FALSE(seal_v2(model, e, byte_view(n).first(12), "x"));
  // The Ed25519 identity (small order) is refused by crypto_sign_ed25519_pk_to_curve25519.
  bytes identity(32, 0);
  identity[0] = 1;
  EXPECT_FALSE(seal_v2(identity, e, n, "x"));
  EXPECT_TRUE(seal_v2(model, e, n, ""));  // an empty plaintext is still a valid construction
}

TEST(E2eeCipherSeal, V2OpenRefusesShortValuesAndLowOrderEphemeralKeys) {
  const auto x = ed25519_seed_to_x25519(hex(v2_model_seed));
  ASSERT_TRUE(x.has_value());
  const bytes field = hex(v2_field);
  EXPECT_FALSE(open_v2(*x, byte_view(field).first(71)));
  EXPECT_FALSE(open_v2(byte_view(*x).first(31), field));
  // E = 0 (a low-order point): the shared secret is all-zero and crypto_scalarmult fails.
  bytes zero_e = field;
  std::fill(zero_e.begin(), zero_e.begin() + 32, 0);
  EXPECT_FALSE(open_v2(*x, zero_e));
  EXPECT_FALSE(ed25519_seed_to_x25519(byte_view(hex(v2_model_seed)).first(31)));
}

TEST(E2eeCipherSeal, EciesRefusesWrongSizesInvalidScalarsAndPoints) {
  const bytes model = hex(ecies_model_xy);
  const bytes e = hex(ecies_ephemeral);
  const bytes n = hex(ecies_nonce);
  EXPECT_FALSE(seal_ecies(byte_view(model).first(63), e, n, "x"));
  EXPECT_FALSE(seal_ecies(model, byte_view(e).first(31), n, "x"));
  EXPECT_FALSE(seal_ecies(model, e, byte_view(n).first(11), "x"));
  EXPECT_FALSE(seal_ecies(model, bytes(32, 0), n, "x"));     // zero scalar
  EXPECT_FALSE(seal_ecies(model, bytes(32, 0xff), n, "x"));  // above the group order
  bytes off_curve = model;
  off_curve[63] ^= 1;
  EXPECT_FALSE(seal_ecies(off_curve, e, n, "x"));

  const bytes field = hex(ecies_field);
  const bytes secret = hex(ecies_model_secret);
  EXPECT_FALSE(open_ecies(secret, byte_view(field).first(92)));
  bytes compressed_prefix = field;
  compressed_prefix[0] = 0x02;
  EXPECT_FALSE(open_ecies(secret, compressed_prefix));
  EXPECT_FALSE(open_ecies(bytes(32, 0), field));
}

TEST(E2eeCipherSeal, SchemeNames) {
  EXPECT_EQ(to_string(scheme::v2), "v2");
  EXPECT_EQ(to_string(scheme::ecies), "ecies");
  EXPECT_EQ(signing_algo_header(scheme::v2), "ed25519");
  EXPECT_EQ(signing_algo_header(scheme::ecies), "ecdsa");
}

// ---- §4.7 rule 1

::testing::AssertionResult binding_fails(attest::signing_algorithm algo, const bytes& address,
                                         std::optional<bytes> key, std::string_view needle) {
  auto r = bind_recipient(algo, address, key ? std::optional<byte_view>(*key) : std::nullopt);
  if (r) return ::testing::AssertionFailure() << "bound, expected a failure mentioning " << needle;
  if (r.error().find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "message \"" << r.error() << "\" lacks \"" << needle << "\"";
  }
  return ::testing::AssertionSuccess();
}

TEST(E2eeBindRecipient, Ed25519KeyIsTheAddress) {
  using attest::signing_algorithm;
  const bytes key = hex(v2_model_pub);
  EXPECT_EQ(bound(signing_algorithm::ed25519, v2_model_pub, std::nullopt).public_key(), key);
  EXPECT_EQ(bound(signing_algorithm::ed25519, v2_model_pub, v2_model_pub).public_key(), key);

  bytes other = key;
  other[5] ^= 0x01;
  EXPECT_TRUE(binding_fails(signing_algorithm::ed25519, key, other, "differs from the attested signing_address"));
  EXPECT_TRUE(binding_fails(signing_algorithm::ed25519, bytes(key.begin(), key.end() - 1), std::nullopt, "32 bytes"));
  EXPECT_TRUE(binding_fails(signing_algorithm::ed25519, key, bytes(key.begin(), key.end() - 1), "differs"));
  bytes identity(32, 0);
  identity[0] = 1;
  EXPECT_TRUE(binding_fails(signing_algorithm::ed25519, identity, std::nullopt, "not a valid Ed25519 public key"));
}

TEST(E2eeBindRecipient, EcdsaKeyMustHashToTheAddress) {
  using attest::signing_algorithm;
  const bytes address = hex(ecies_model_address);
  const bytes xy = hex(ecies_model_xy);
  bytes point(1 + xy.size(), 0x04);
  std::copy(xy.begin(), xy.end(), point.begin() + 1);
  EXPECT_EQ(bound(signing_algorithm::ecdsa, ecies_model_address, to_hex(point)).public_key(), xy);

  EXPECT_TRUE(binding_fails(signing_algorithm::ecdsa, address, std::nullopt, "missing"));
  EXPECT_TRUE(binding_fails(signing_algorithm::ecdsa, address, bytes(xy.begin(), xy.end() - 1), "64 bytes"));
  bytes wrong_prefix = point;
  wrong_prefix[0] = 0x03;
  EXPECT_TRUE(binding_fails(signing_algorithm::ecdsa, address, wrong_prefix, "64 bytes"));
  bytes other_address = address;
  other_address[19] ^= 0x01;
  EXPECT_TRUE(binding_fails(signing_algorithm::ecdsa, other_address, xy, "does not hash to"));
  EXPECT_TRUE(binding_fails(signing_algorithm::ecdsa, bytes(32, 1), xy, "20 bytes"));
  // A key off the curve whose hash does give the address: the hash binds, the point is
  // still refused.
  bytes off_curve = xy;
  off_curve[63] ^= 1;
  EXPECT_TRUE(binding_fails(signing_algorithm::ecdsa, hex(keccak_address_hex(off_curve)), off_curve,
                            "not a secp256k1 point"));
}

// ---- per-request ciphers

struct scheme_case {
  scheme kind;
  attest::signing_algorithm algo;
  std::string_view address;
  std::string_view key;
  std::string_view secret;
};

class E2eeFieldCipher : public ::testing::TestWithParam<scheme_case> {
 protected:
  void SetUp() override {
    const scheme_case& c = GetParam();
    model_.emplace(bound(c.algo, c.address, c.key));
    auto client = field_cipher::for_client(*model_);
    ASSERT_TRUE(client.has_value());
    client_.emplace(std::move(*client));
    auto server = field_cipher::for_server(c.kind, hex(c.secret), client_->public_key_hex());
    ASSERT_TRUE(server.has_value()) << server.error();
    server_.emplace(std::move(*server));
  }

  std::optional<recipient> model_;
  std::optional<field_cipher> client_;
  std::optional<field_cipher> server_;
};

TEST_P(E2eeFieldCipher, RoundTripsBothWays) {
  EXPECT_EQ(client_->kind(), GetParam().kind);
  EXPECT_EQ(server_->kind(), GetParam().kind);
  EXPECT_EQ(client_->public_key_hex().size(), GetParam().kind == scheme::v2 ? 64u : 128u);

  for (const std::string_view text : {std::string_view("Respond with only two words."), std::string_view(""),
                                      std::string_view("ünïcødé ✓ \0 binary", 22)}) {
    const auto to_model = client_->encrypt(text);
    ASSERT_TRUE(to_model.has_value());
    EXPECT_EQ(server_->decrypt(*to_model), std::string(text));
    // Sealed to the model: our own key does not open it.
    EXPECT_FALSE(client_->decrypt(*to_model));

    const auto to_client = server_->encrypt(text);
    ASSERT_TRUE(to_client.has_value());
    EXPECT_EQ(client_->decrypt(*to_client), std::string(text));
    EXPECT_FALSE(server_->decrypt(*to_client));
  }
}

TEST_P(E2eeFieldCipher, EachEncryptionIsFresh) {
  std::set<std::string> seen;
  std::set<std::string> ephemeral_keys;
  const std::size_t key_hex = GetParam().kind == scheme::v2 ? 64 : 130;
  for (int i = 0; i < 16; ++i) {
    const auto sealed = client_->encrypt("same text");
    ASSERT_TRUE(sealed.has_value());
    seen.insert(*sealed);
    ephemeral_keys.insert(sealed->substr(0, key_hex));
  }
  EXPECT_EQ(seen.size(), 16u);
  EXPECT_EQ(ephemeral_keys.size(), 16u);
  // A fresh client key pair per request too.
  const auto other = field_cipher::for_client(*model_);
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(other->public_key_hex(), client_->public_key_hex());
}

TEST_P(E2eeFieldCipher, TamperedValuesDoNotOpen) {
  const auto sealed = server_->encrypt("Respond with only two words.");
  ASSERT_TRUE(sealed.has_value());
  ASSERT_TRUE(client_->decrypt(*sealed));
  const bytes raw = hex(*sealed);
  // Every byte matters: ephemeral key, nonce, ciphertext and tag.
  for (std::size_t i = 0; i < raw.size(); ++i) {
    bytes flipped = raw;
    flipped[i] ^= 0x01;
    EXPECT_FALSE(client_->decrypt(to_hex(flipped))) << "byte " << i;
  }
  EXPECT_FALSE(client_->decrypt(sealed->substr(0, sealed->size() - 2)));  // truncated by one byte
  EXPECT_FALSE(client_->decrypt(sealed->substr(0, sealed->size() - 1)));  // odd hex
  EXPECT_FALSE(client_->decrypt(*sealed + "00"));                          // extended
  EXPECT_FALSE(client_->decrypt("Respond with only two words."));          // plain text
  EXPECT_FALSE(client_->decrypt(""));
  EXPECT_FALSE(client_->decrypt(std::string(sealed->size(), 'z')));
  EXPECT_FALSE(client_->decrypt(sealed->substr(0, GetParam().kind == scheme::v2 ? 142 : 184)));  // below minimum
}

INSTANTIATE_TEST_SUITE_P(Schemes, E2eeFieldCipher,
                         ::testing::Values(scheme_case{scheme::v2, attest::signing_algorithm::ed25519, v2_model_pub,
                                                       v2_model_pub, v2_model_seed},
                                           scheme_case{scheme::ecies, attest::signing_algorithm::ecdsa,
                                                       ecies_model_address, ecies_model_xy, ecies_model_secret}),
                         [](const ::testing::TestParamInfo<scheme_case>& p) { return std::string(to_string(p.param.kind)); });

TEST(E2eeFieldCipherServer, ChecksTheClientKeyAndTheModelSecret) {
  const bytes seed = hex(v2_model_seed);
  const bytes secret = hex(ecies_model_secret);
  const std::string ed_pub(v2_model_pub);
  const std::string xy(ecies_model_xy);

  EXPECT_TRUE(field_cipher::for_server(scheme::v2, seed, ed_pub));
  EXPECT_FALSE(field_cipher::for_server(scheme::v2, seed, ed_pub.substr(1)));  // odd hex
  EXPECT_FALSE(field_cipher::for_server(scheme::v2, seed, "zz" + ed_pub.substr(2)));
  EXPECT_FALSE(field_cipher::for_server(scheme::v2, seed, ed_pub.substr(2)));  // 31 bytes
  EXPECT_FALSE(field_cipher::for_server(scheme::v2, seed, "01" + std::string(62, '0')));  // the identity
  EXPECT_FALSE(field_cipher::for_server(scheme::v2, byte_view(seed).first(31), ed_pub));
  EXPECT_FALSE(field_cipher::for_server(scheme::v2, seed, xy));

  EXPECT_TRUE(field_cipher::for_server(scheme::ecies, secret, xy));
  EXPECT_TRUE(field_cipher::for_server(scheme::ecies, secret, "04" + xy));
  EXPECT_FALSE(field_cipher::for_server(scheme::ecies, secret, "02" + xy));
  EXPECT_FALSE(field_cipher::for_server(scheme::ecies, secret, xy.substr(2)));
  std::string off_curve = xy;
  off_curve.back() = off_curve.back() == '5' ? '4' : '5';
  EXPECT_FALSE(field_cipher::for_server(scheme::ecies, secret, off_curve));
  EXPECT_FALSE(field_cipher::for_server(scheme::ecies, bytes(32, 0), xy));
  EXPECT_FALSE(field_cipher::for_server(scheme::ecies, bytes(32, 0xff), xy));
}

TEST(E2eeFieldCipherServer, MovedCipherKeepsItsKeys) {
  const recipient model = bound(attest::signing_algorithm::ed25519, v2_model_pub, std::nullopt);
  auto client = field_cipher::for_client(model);
  ASSERT_TRUE(client.has_value());
  auto server = field_cipher::for_server(scheme::v2, hex(v2_model_seed), client->public_key_hex());
  ASSERT_TRUE(server.has_value());
  field_cipher moved = std::move(*client);
  const auto sealed = server->encrypt("after the move");
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(moved.decrypt(*sealed), "after the move");
}

}  // namespace
}  // namespace vp::e2ee
