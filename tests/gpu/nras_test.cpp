#include "gpu/nras.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/x509.h>

#include <boost/json.hpp>
#include <functional>
#include <map>
#include <string>

#include "attest/nearai_captures.hpp"
#include "core/base64.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/ossl.hpp"
#include "crypto/x509.hpp"
#include "support/testdata.hpp"

namespace vp::gpu::nras {
namespace {
namespace json = boost::json;
using vp::test::nearai::capture_names;
using vp::test::nearai::param_name;

// §1.2 / Appendix A: every NEAR H100 in the captures runs this driver and VBIOS.
constexpr std::string_view driver_version = "570.172.08";
constexpr std::string_view vbios_version = "96.00.CF.00.02";

json::object parse_object(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message();
  return v.is_object() ? v.get_object() : json::object{};
}

/// Part `index` (0 header, 1 payload) of a compact JWS, as a JSON object.
json::object token_part(std::string_view jws, int index) {
  std::size_t begin = 0;
  for (int i = 0; i < index; ++i) begin = jws.find('.', begin) + 1;
  const std::size_t end = jws.find('.', begin);
  const auto decoded = base64url_decode(jws.substr(begin, end - begin));
  EXPECT_TRUE(decoded.has_value());
  return parse_object(as_chars(decoded.value_or(bytes{})));
}

/// `jws` with its payload replaced by `payload` and the original header and signature.
std::string with_payload(std::string_view jws, const json::object& payload) {
  const std::size_t dot1 = jws.find('.');
  const std::size_t dot2 = jws.find('.', dot1 + 1);
  return std::string(jws.substr(0, dot1 + 1)) + base64url_encode(as_bytes(json::serialize(payload))) +
         std::string(jws.substr(dot2));
}

std::string response_text(const std::string& overall, const json::object& gpus) {
  return json::serialize(json::array{json::array{"JWT", overall}, gpus});
}

/// The decimal serial number of the leaf certificate of GPU i, read from the report's own
/// nvidia_payload (§1.1, §1.3): the J10 binding value, independent of the NRAS answer.
std::vector<std::string> leaf_serials_decimal(const std::string& report_body, std::string_view pointer) {
  boost::system::error_code ec;
  json::value report = json::parse(report_body, ec);
  EXPECT_FALSE(ec);
  const json::value& attestation = pointer.empty() ? report : report.at_pointer(pointer);
  const json::object payload = parse_object(attestation.at("nvidia_payload").as_string());
  std::vector<std::string> out;
  for (const json::value& entry : payload.at("evidence_list").as_array()) {
    const auto pem = base64_decode(entry.at("certificate").as_string());
    EXPECT_TRUE(pem.has_value());
    auto certs = crypto::parse_pem_certificates(as_chars(pem.value_or(bytes{})));
    EXPECT_TRUE(certs.has_value());
    if (!certs) return out;
    crypto::bignum_ptr serial{ASN1_INTEGER_to_BN(X509_get0_serialNumber(certs->front().get()), nullptr)};
    char* dec = BN_bn2dec(serial.get());
    out.emplace_back(dec);
    OPENSSL_free(dec);
  }
  return out;
}

/// One capture's NRAS answer, JWKS and the values the tests expect of them.
struct nras_capture {
  std::string name;
  std::string response;
  std::string jwks_text;
  jwks keys;
  bytes nonce;
  unix_time at;
  json::object expected_overall;  ///< expected.json …nvidia.nras_overall
  std::vector<local_gpu> local;

  json::array head() const { return parse_array()[0].as_array(); }
  json::object gpus() const { return parse_array()[1].as_object(); }
  std::string overall() const { return std::string(head()[1].as_string()); }
  std::int64_t exp() const { return expected_overall.at("exp").as_int64(); }
  std::int64_t nbf() const { return expected_overall.at("nbf").as_int64(); }

  json::array parse_array() const {
    boost::system::error_code ec;
    json::value v = json::parse(response, ec);
    return v.as_array();
  }
};

nras_capture load(const std::string& name) {
  nras_capture c;
  c.name = name;
  const std::filesystem::path dir = std::filesystem::path("nearai") / name;
  c.response = test::read_shared(dir / "nvidia/nras_response.json");
  c.jwks_text = test::read_shared(dir / "nvidia/jwks.json");
  auto keys = parse_jwks(c.jwks_text);
  EXPECT_TRUE(keys.has_value()) << (keys ? "" : keys.error().message);
  if (keys) c.keys = std::move(*keys);
  const json::object expected = parse_object(test::read_shared(dir / "expected.json"));
  c.at = from_unix_seconds(expected.at("verify_at_unix").as_int64());
  // The attestation that carries GPUs: the top level (direct) or the model behind the
  // gateway.
  for (const json::value& a : expected.at("attestations").as_array()) {
    const json::value* nvidia = a.as_object().if_contains("nvidia");
    if (nvidia == nullptr || nvidia->is_null()) continue;
    c.nonce = vp::test::nearai::hex_or_fail(nvidia->at("payload_nonce").as_string());
    c.expected_overall = nvidia->at("nras_overall").as_object();
    const auto serials = leaf_serials_decimal(test::read_shared(dir / "report.json"), a.at("json_pointer").as_string());
    EXPECT_EQ(serials.size(), static_cast<std::size_t>(nvidia->at("gpu_evidence_count").as_int64()));
    for (const std::string& s : serials) {
      c.local.push_back({s, std::string(driver_version), std::string(vbios_version)});
    }
  }
  EXPECT_EQ(c.nonce.size(), 32u);
  return c;
}

std::string describe(const result<verdict>& r) {
  if (r) return "ok";
  const failure& f = r.error();
  return f.check + (f.gpu ? " gpu " + std::to_string(*f.gpu) : "") + ": " + f.message;
}

// ---------------------------------------------------------------------------------------
// The real captures.

class NrasCapture : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (!test::shared_testdata_dir()) GTEST_SKIP() << "shared test vectors not found: NRAS captures not tested";
    c_ = load(GetParam());
  }
  result<verdict> verify(std::string_view body, unix_time now, const options& opts = {}) const {
    return verify_response(body, c_.keys, c_.nonce, c_.local, now, opts);
  }
  nras_capture c_;
};

TEST_P(NrasCapture, AllEightGpusVerifyAtCaptureTime) {
  ASSERT_EQ(c_.local.size(), 8u);
  const auto r = verify(c_.response, c_.at);
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->kid, c_.expected_overall.at("kid").as_string());
  EXPECT_EQ(to_unix_seconds(r->issued_at), c_.expected_overall.at("iat").as_int64());
  EXPECT_EQ(to_unix_seconds(r->expires), c_.exp());
  ASSERT_EQ(r->gpus.size(), 8u);
  for (std::size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(r->gpus[i].index, i);
    EXPECT_EQ(r->gpus[i].hwmodel, "GH100");
    EXPECT_EQ(r->gpus[i].ueid, c_.local[i].ueid_decimal);
    EXPECT_EQ(r->gpus[i].driver_version, driver_version);
    EXPECT_EQ(r->gpus[i].vbios_version, vbios_version);
    EXPECT_EQ(to_unix_seconds(r->gpus[i].expires), c_.exp());
  }
}

TEST_P(NrasCapture, SigningKeyChainsToThePinnedIntermediate) {
  const jwk* key = c_.keys.find(c_.expected_overall.at("kid").as_string());
  ASSERT_NE(key, nullptr);
  ASSERT_EQ(key->x5c_der.size(), 2u);
  EXPECT_TRUE(key_chain_pinned(*key, c_.at));
  options pinned;
  pinned.require_key_pin = true;
  const auto r = verify(c_.response, c_.at, pinned);
  EXPECT_TRUE(r) << describe(r);

  // The NRAS signing certificates live about 48 h (§2.2): a year later the pin fails.
  EXPECT_FALSE(key_chain_pinned(*key, c_.at + std::chrono::hours(24 * 365)));
  const auto late =
      verify_response(c_.response, c_.keys, c_.nonce, c_.local, c_.at + std::chrono::hours(24 * 365), pinned);
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().check, "key_pin") << describe(late);  // checked with the signature

  // Without the intermediate, or with the intermediate as its own issuer, no pin.
  jwk alone{key->kid, crypto::evp_pkey_ptr{EVP_PKEY_dup(key->key.get())}, {key->x5c_der[0]}};
  EXPECT_FALSE(key_chain_pinned(alone, c_.at));
  jwk self{key->kid, crypto::evp_pkey_ptr{EVP_PKEY_dup(key->key.get())}, {key->x5c_der[1], key->x5c_der[1]}};
  EXPECT_FALSE(key_chain_pinned(self, c_.at));
  // A leaf whose signature (the last bytes of its DER) is altered is not vouched for.
  jwk forged{key->kid, crypto::evp_pkey_ptr{EVP_PKEY_dup(key->key.get())}, key->x5c_der};
  forged.x5c_der[0].back() ^= 0x01;
  ASSERT_TRUE(crypto::parse_der_certificate(forged.x5c_der[0]));
  EXPECT_FALSE(key_chain_pinned(forged, c_.at));
  // A chain of another key does not vouch for this one.
  for (const jwk& other : c_.keys.keys) {
    if (other.kid == key->kid) continue;
    jwk borrowed{key->kid, crypto::evp_pkey_ptr{EVP_PKEY_dup(key->key.get())}, other.x5c_der};
    EXPECT_FALSE(key_chain_pinned(borrowed, c_.at));
    break;
  }
}

TEST_P(NrasCapture, AnotherCapturesJwksDoesNotKnowTheKid) {
  const auto& names = capture_names();
  const auto self = std::find(names.begin(), names.end(), GetParam());
  const std::string other = names[static_cast<std::size_t>((self - names.begin() + 1)) % names.size()];
  const auto other_keys = parse_jwks(test::read_shared(std::filesystem::path("nearai") / other / "nvidia/jwks.json"));
  ASSERT_TRUE(other_keys);
  const auto r = verify_response(c_.response, *other_keys, c_.nonce, c_.local, c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J1");
  EXPECT_TRUE(r.error().unknown_kid) << describe(r);
  EXPECT_FALSE(r.error().gpu);
}

TEST_P(NrasCapture, ExpiredAndNotYetValidTokensFailJ3) {
  const unix_time exp = from_unix_seconds(c_.exp());
  const unix_time nbf = from_unix_seconds(c_.nbf());
  EXPECT_TRUE(verify(c_.response, exp - std::chrono::seconds(1)));
  for (const unix_time t : {exp, exp + std::chrono::seconds(1), nbf - std::chrono::seconds(61)}) {
    const auto r = verify(c_.response, t);
    ASSERT_FALSE(r) << to_unix_seconds(t);
    EXPECT_EQ(r.error().check, "J3") << describe(r);
  }
  EXPECT_TRUE(verify(c_.response, nbf - std::chrono::seconds(60)));  // within the skew
  options strict;
  strict.skew = std::chrono::seconds(0);
  EXPECT_FALSE(verify(c_.response, nbf - std::chrono::seconds(1), strict));
}

TEST_P(NrasCapture, ReencodedOverallPayloadFailsTheSignature) {
  json::object payload = token_part(c_.overall(), 1);
  bytes other_nonce = c_.nonce;
  other_nonce[0] ^= 0xff;
  payload["eat_nonce"] = to_hex(other_nonce);
  json::array top = c_.parse_array();
  top[0].as_array()[1] = with_payload(c_.overall(), payload);
  const auto r = verify_response(json::serialize(top), c_.keys, other_nonce, c_.local, c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J1") << describe(r);
  EXPECT_NE(r.error().message.find("signature"), std::string::npos);
  EXPECT_FALSE(r.error().unknown_kid);

  // The same for x-nvidia-overall-att-result false: unsigned, so J1 before J5.
  payload = token_part(c_.overall(), 1);
  payload["x-nvidia-overall-att-result"] = false;
  top[0].as_array()[1] = with_payload(c_.overall(), payload);
  const auto v = verify(json::serialize(top), c_.at);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().check, "J1") << describe(v);
}

TEST_P(NrasCapture, AnotherNonceFailsJ4) {
  bytes other = c_.nonce;
  other[31] ^= 1;
  const auto r = verify_response(c_.response, c_.keys, other, c_.local, c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J4") << describe(r);
  EXPECT_FALSE(r.error().gpu);
}

TEST_P(NrasCapture, SwappedMissingOrExtraGpuTokensFailJ6) {
  json::object gpus = c_.gpus();
  std::swap(gpus["GPU-0"], gpus["GPU-1"]);
  auto r = verify(response_text(c_.overall(), gpus), c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J6") << describe(r);
  EXPECT_EQ(r.error().gpu, std::optional<std::size_t>(0));

  gpus = c_.gpus();
  gpus.erase("GPU-7");
  r = verify(response_text(c_.overall(), gpus), c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J6") << describe(r);

  gpus = c_.gpus();
  gpus["GPU-8"] = gpus["GPU-0"];
  r = verify(response_text(c_.overall(), gpus), c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J6") << describe(r);

  // Same count, another name.
  gpus = c_.gpus();
  gpus["GPU-08"] = gpus["GPU-7"];
  gpus.erase("GPU-7");
  r = verify(response_text(c_.overall(), gpus), c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J6") << describe(r);

  // Fewer or more GPUs in the local evidence than NRAS appraised.
  std::vector<local_gpu> seven(c_.local.begin(), c_.local.end() - 1);
  r = verify_response(c_.response, c_.keys, c_.nonce, seven, c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J6") << describe(r);
  std::vector<local_gpu> nine = c_.local;
  nine.push_back(c_.local[0]);
  r = verify_response(c_.response, c_.keys, c_.nonce, nine, c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J6") << describe(r);

  // A GPU token changed in one character no longer matches its submods digest.
  gpus = c_.gpus();
  std::string token(gpus["GPU-5"].as_string());
  token.back() = token.back() == 'A' ? 'B' : 'A';
  gpus["GPU-5"] = token;
  r = verify(response_text(c_.overall(), gpus), c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J6") << describe(r);
  EXPECT_EQ(r.error().gpu, std::optional<std::size_t>(5));
}

TEST_P(NrasCapture, LocalEvidenceMismatchFailsJ10) {
  auto local = c_.local;
  local[3].ueid_decimal += "0";
  auto r = verify_response(c_.response, c_.keys, c_.nonce, local, c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J10") << describe(r);
  EXPECT_EQ(r.error().gpu, std::optional<std::size_t>(3));

  // Two GPUs' local evidence in swapped order: the ueid of GPU 0 is bound first.
  local = c_.local;
  if (local[0].ueid_decimal != local[1].ueid_decimal) {
    std::swap(local[0], local[1]);
    r = verify_response(c_.response, c_.keys, c_.nonce, local, c_.at);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().check, "J10") << describe(r);
  }

  local = c_.local;
  local[6].driver_version = "570.172.07";
  r = verify_response(c_.response, c_.keys, c_.nonce, local, c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J10") << describe(r);
  EXPECT_EQ(r.error().gpu, std::optional<std::size_t>(6));

  local = c_.local;
  local[2].vbios_version = "96.00.cf.00.02";  // case does not matter (§1.2)
  EXPECT_TRUE(verify_response(c_.response, c_.keys, c_.nonce, local, c_.at));
  local[2].vbios_version = "96.00.CF.00.01";
  r = verify_response(c_.response, c_.keys, c_.nonce, local, c_.at);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J10") << describe(r);

  options blackwell_only;
  blackwell_only.accepted_hwmodels = {"GB100"};
  r = verify(c_.response, c_.at, blackwell_only);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J10") << describe(r);
}

TEST_P(NrasCapture, TruncatedOrCorruptedAnswersFailWithoutCrashing) {
  for (std::size_t len = 0; len < c_.response.size(); len += 211) {
    EXPECT_FALSE(verify(std::string_view(c_.response).substr(0, len), c_.at)) << len;
  }
  std::string flipped = c_.response;
  for (std::size_t i = 0; i < flipped.size(); i += 97) {
    const char saved = flipped[i];
    flipped[i] = static_cast<char>(saved ^ 0x01);
    EXPECT_FALSE(verify(flipped, c_.at)) << i;
    flipped[i] = saved;
  }
}

INSTANTIATE_TEST_SUITE_P(Nras, NrasCapture, testing::ValuesIn(capture_names()), param_name);

TEST(NrasJwks, RealKeySetsParse) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::map<std::string, std::size_t> counts = {{"direct-2026-03-22-ecdsa", 36},
                                                     {"direct-2026-04-24-ed25519", 32},
                                                     {"direct-2026-06-29-ed25519", 32},
                                                     {"gateway-2026-04-24", 32},
                                                     {"gateway-2026-06-29", 32}};
  for (const auto& [name, count] : counts) {
    const auto keys = parse_jwks(test::read_shared(std::filesystem::path("nearai") / name / "nvidia/jwks.json"));
    ASSERT_TRUE(keys) << name << ": " << keys.error().message;
    EXPECT_EQ(keys->keys.size(), count) << name;
    for (const jwk& k : keys->keys) EXPECT_EQ(k.x5c_der.size(), 2u) << k.kid;
  }
}

TEST(NrasJwks, RejectsMalformedKeySets) {
  VP_REQUIRE_SHARED_TESTDATA();
  const json::object real = parse_object(test::read_shared("nearai/direct-2026-03-22-ecdsa/nvidia/jwks.json"));
  const json::object key0 = real.at("keys").as_array()[0].as_object();
  const json::object key1 = real.at("keys").as_array()[1].as_object();
  const auto set_of = [](std::initializer_list<json::value> keys) {
    json::array a;
    for (const json::value& k : keys) a.push_back(k);
    json::object o;
    o["keys"] = std::move(a);
    return json::serialize(o);
  };
  const auto edited = [&](const std::function<void(json::object&)>& edit) {
    json::object k = key0;
    edit(k);
    return set_of({k});
  };
  ASSERT_TRUE(parse_jwks(set_of({key0})));

  EXPECT_FALSE(parse_jwks("not json"));
  EXPECT_FALSE(parse_jwks("[]"));
  EXPECT_FALSE(parse_jwks(R"({"keys":{}})"));
  EXPECT_FALSE(parse_jwks(R"({"keys":[]})"));
  EXPECT_FALSE(parse_jwks(R"({"keys":[1]})"));
  EXPECT_FALSE(parse_jwks(std::string(2 << 20, ' ')));
  EXPECT_FALSE(parse_jwks(set_of({key0, key0})));  // duplicate kid
  EXPECT_FALSE(parse_jwks(edited([](json::object& k) { k["x"] = std::string(k["x"].as_string()) + "AA"; })));
  EXPECT_FALSE(parse_jwks(edited([](json::object& k) { k["x"] = std::string(k["x"].as_string()) + "="; })));
  EXPECT_FALSE(parse_jwks(edited([](json::object& k) { k["y"] = k["x"]; })));  // off the curve
  EXPECT_FALSE(parse_jwks(edited([](json::object& k) { k.erase("kid"); })));
  EXPECT_FALSE(parse_jwks(edited([](json::object& k) { k["use"] = "enc"; })));
  EXPECT_FALSE(parse_jwks(edited([](json::object& k) { k["alg"] = "ES256"; })));
  EXPECT_TRUE(parse_jwks(edited([](json::object& k) { k["alg"] = "ES384"; })));
  // x5c of another key, or in the url alphabet, or not an array.
  EXPECT_FALSE(parse_jwks(edited([&](json::object& k) { k["x5c"] = key1.at("x5c"); })));
  EXPECT_FALSE(parse_jwks(edited([](json::object& k) {
    std::string der(k["x5c"].as_array()[0].as_string());
    std::replace(der.begin(), der.end(), '+', '-');
    std::replace(der.begin(), der.end(), '/', '_');
    k["x5c"].as_array()[0] = der;
  })));
  EXPECT_FALSE(parse_jwks(edited([](json::object& k) { k["x5c"] = "MII"; })));
  EXPECT_FALSE(parse_jwks(edited([](json::object& k) { k["x5c"] = json::array{}; })));
  // Without x5c the key is usable (the pin then cannot hold).
  const auto bare = parse_jwks(edited([](json::object& k) { k.erase("x5c"); }));
  ASSERT_TRUE(bare);
  EXPECT_FALSE(key_chain_pinned(bare->keys[0], from_unix_seconds(1774143000)));

  // Other key types are skipped; a set of nothing else is empty.
  const json::object rsa = {{"kty", "RSA"}, {"kid", "r"}, {"n", "AQAB"}, {"e", "AQAB"}};
  const json::object p256 = {{"kty", "EC"}, {"crv", "P-256"}, {"kid", "p"}, {"x", "AA"}, {"y", "AA"}};
  const auto mixed = parse_jwks(set_of({rsa, key0, p256}));
  ASSERT_TRUE(mixed);
  EXPECT_EQ(mixed->keys.size(), 1u);
  EXPECT_EQ(mixed->find("r"), nullptr);
  EXPECT_FALSE(parse_jwks(set_of({rsa, p256})));
}

// ---------------------------------------------------------------------------------------
// Self-signed tokens: a test key in a test JWKS, so that every claim can be set at will.

constexpr std::int64_t t0 = 1'800'000'000;

class test_signer {
 public:
  test_signer() : key_(EVP_EC_gen("P-384")) {}

  std::string jwks_json() const {
    return json::serialize(
        json::object{{"keys", json::array{json::object{{"kty", "EC"},
                                                       {"crv", "P-384"},
                                                       {"kid", kid},
                                                       {"x", coordinate(OSSL_PKEY_PARAM_EC_PUB_X)},
                                                       {"y", coordinate(OSSL_PKEY_PARAM_EC_PUB_Y)}}}}});
  }

  /// A compact JWS over `header` and `payload` signed ES384 with the test key (the
  /// header need not say ES384: the signature is made regardless).
  std::string sign(const json::object& header, const json::object& payload) const {
    const std::string input = base64url_encode(as_bytes(json::serialize(header))) + "." +
                              base64url_encode(as_bytes(json::serialize(payload)));
    crypto::evp_md_ctx_ptr ctx{EVP_MD_CTX_new()};
    EXPECT_EQ(EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha384(), nullptr, key_.get()), 1);
    std::size_t len = 0;
    EVP_DigestSign(ctx.get(), nullptr, &len, as_bytes(input).data(), input.size());
    bytes der(len);
    EXPECT_EQ(EVP_DigestSign(ctx.get(), der.data(), &len, as_bytes(input).data(), input.size()), 1);
    const unsigned char* p = der.data();
    crypto::ecdsa_sig_ptr sig{d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len))};
    bytes rs(96);
    BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), rs.data(), 48);
    BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), rs.data() + 48, 48);
    return input + "." + base64url_encode(rs);
  }

  std::string kid = "test-kid-p384";

 private:
  std::string coordinate(const char* name) const {
    BIGNUM* raw = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(key_.get(), name, &raw), 1);
    crypto::bignum_ptr bn{raw};
    bytes out(48);
    BN_bn2binpad(bn.get(), out.data(), 48);
    return base64url_encode(out);
  }
  crypto::evp_pkey_ptr key_;
};

/// A two-GPU NRAS answer built from claims shaped like the real ones; each test edits
/// the claims or headers, then signs and assembles.
class NrasSynthetic : public testing::Test {
 protected:
  static constexpr std::size_t n = 2;

  NrasSynthetic() : nonce_(32, 0x5a) {
    auto parsed = parse_jwks(signer_.jwks_json());
    EXPECT_TRUE(parsed);
    if (parsed) keys_ = std::move(*parsed);
    header = {{"kid", signer_.kid}, {"alg", "ES384"}};
    overall = {{"sub", "NVIDIA-PLATFORM-ATTESTATION"},
               {"x-nvidia-ver", "2.0"},
               {"nbf", t0},
               {"iss", "https://nras.attestation.nvidia.com"},
               {"x-nvidia-overall-att-result", true},
               {"eat_nonce", to_hex(nonce_)},
               {"exp", t0 + 3600},
               {"iat", t0},
               {"jti", "overall"}};
    for (std::size_t i = 0; i < n; ++i) {
      const std::string ueid = "54720530014852974492000600787535802765687494504" + std::to_string(i);
      json::object g = {{"iss", "https://nras.attestation.nvidia.com"},
                        {"eat_nonce", to_hex(nonce_)},
                        {"iat", t0},
                        {"nbf", t0},
                        {"exp", t0 + 3600},
                        {"jti", "gpu"},
                        {"ueid", ueid},
                        {"hwmodel", "GH100"},
                        {"oemid", "5703"},
                        {"secboot", true},
                        {"dbgstat", "disabled"},
                        {"measres", "success"},
                        {"x-nvidia-attestation-warning", nullptr},
                        {"x-nvidia-gpu-driver-version", driver_version},
                        {"x-nvidia-gpu-vbios-version", vbios_version}};
      for (const char* claim :
           {"arch-check", "attestation-report-parsed", "attestation-report-nonce-match",
            "attestation-report-signature-verified", "attestation-report-cert-chain-validated", "driver-rim-fetched",
            "driver-rim-schema-validated", "driver-rim-signature-verified", "driver-rim-cert-validated",
            "driver-rim-measurements-available", "vbios-rim-fetched", "vbios-rim-schema-validated",
            "vbios-rim-signature-verified", "vbios-rim-cert-validated", "vbios-rim-measurements-available",
            "vbios-index-no-conflict"}) {
        g[std::string("x-nvidia-gpu-") + claim] = true;
      }
      gpu.push_back(g);
      gpu_header.push_back(header);
      local.push_back({ueid, std::string(driver_version), "96.00.cf.00.02"});
    }
  }

  /// Signs everything; submods gets the digests of the GPU tokens unless `submods` is
  /// already set by the test.
  std::string body() {
    json::object tokens;
    json::object digests;
    for (std::size_t i = 0; i < n; ++i) {
      const std::string token = signer_.sign(gpu_header[i], gpu[i]);
      digests["GPU-" + std::to_string(i)] =
          json::array{"DIGEST", json::array{digest_alg, to_hex(crypto::sha256(as_bytes(token)))}};
      tokens["GPU-" + std::to_string(i)] = token;
    }
    json::object o = overall;
    if (!o.contains("submods")) o["submods"] = digests;
    return response_text(signer_.sign(header, o), tokens);
  }

  result<verdict> verify(const options& opts = {}) {
    return verify_response(body(), keys_, nonce_, local, from_unix_seconds(t0 + 10), opts);
  }

  void expect_failure(std::string_view check, std::optional<std::size_t> gpu_index = std::nullopt,
                      std::string_view message_part = {}) {
    const auto r = verify();
    ASSERT_FALSE(r) << "expected " << check;
    EXPECT_EQ(r.error().check, check) << describe(r);
    EXPECT_EQ(r.error().gpu, gpu_index) << describe(r);
    if (!message_part.empty()) {
      EXPECT_NE(r.error().message.find(message_part), std::string::npos) << describe(r);
    }
  }

  test_signer signer_;
  jwks keys_;
  bytes nonce_;
  json::object header;
  json::object overall;
  std::vector<json::object> gpu;
  std::vector<json::object> gpu_header;
  std::vector<local_gpu> local;
  std::string digest_alg = "SHA-256";
};

TEST_F(NrasSynthetic, WellFormedAnswerVerifies) {
  const auto r = verify();
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(r->kid, signer_.kid);
  EXPECT_EQ(to_unix_seconds(r->issued_at), t0);
  EXPECT_EQ(to_unix_seconds(r->expires), t0 + 3600);
  ASSERT_EQ(r->gpus.size(), n);
  EXPECT_EQ(r->gpus[1].ueid, local[1].ueid_decimal);
  EXPECT_EQ(r->gpus[1].vbios_version, vbios_version);
}

TEST_F(NrasSynthetic, VerdictExpiresWithTheEarliestToken) {
  gpu[1]["exp"] = t0 + 600;
  const auto r = verify();
  ASSERT_TRUE(r) << describe(r);
  EXPECT_EQ(to_unix_seconds(r->expires), t0 + 600);
  EXPECT_EQ(to_unix_seconds(r->gpus[1].expires), t0 + 600);
  EXPECT_EQ(to_unix_seconds(r->gpus[0].expires), t0 + 3600);
}

TEST_F(NrasSynthetic, OverallResultMustBeJsonTrue) {
  overall["x-nvidia-overall-att-result"] = false;
  expect_failure("J5");
  overall["x-nvidia-overall-att-result"] = "true";
  expect_failure("J5");
  overall["x-nvidia-overall-att-result"] = "PASS";
  expect_failure("J5");
  overall["x-nvidia-overall-att-result"] = 1;
  expect_failure("J5");
  overall.erase("x-nvidia-overall-att-result");
  expect_failure("J5");
}

TEST_F(NrasSynthetic, AlgorithmIsFixedToEs384) {
  header["alg"] = "ES256";
  expect_failure("J1", std::nullopt, "ES256");
  header["alg"] = "HS384";
  expect_failure("J1");
  header.erase("alg");
  expect_failure("J1");
  header["alg"] = "ES384";
  header["crit"] = json::array{"b64"};
  expect_failure("J1", std::nullopt, "crit");
  header.erase("crit");
  header.erase("kid");
  expect_failure("J1");
  header["kid"] = "another-kid";
  const auto r = verify();
  ASSERT_FALSE(r);
  EXPECT_TRUE(r.error().unknown_kid);
}

TEST_F(NrasSynthetic, UnsignedAlgNoneTokenFailsJ1) {
  // RFC 7518 §3.6: "none" with an empty signature.
  header["alg"] = "none";
  std::string overall_token = base64url_encode(as_bytes(json::serialize(header))) + "." +
                              base64url_encode(as_bytes(json::serialize(overall))) + ".";
  json::array top = json::parse(body()).as_array();
  top[0].as_array()[1] = overall_token;
  auto r = verify_response(json::serialize(top), keys_, nonce_, local, from_unix_seconds(t0 + 10));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J1") << describe(r);
  // ES384 named, but no signature.
  header["alg"] = "ES384";
  overall_token = base64url_encode(as_bytes(json::serialize(header))) + "." +
                  base64url_encode(as_bytes(json::serialize(overall))) + ".";
  top[0].as_array()[1] = overall_token;
  r = verify_response(json::serialize(top), keys_, nonce_, local, from_unix_seconds(t0 + 10));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "J1") << describe(r);
}

TEST_F(NrasSynthetic, GpuTokensAreHeldToJ1ToJ4AsJ8) {
  gpu_header[1]["alg"] = "none";
  expect_failure("J8", 1, "J1");
  gpu_header[1]["alg"] = "ES384";
  gpu[0]["iss"] = "https://nras.example";
  expect_failure("J8", 0, "J2");
  gpu[0]["iss"] = "https://nras.attestation.nvidia.com";
  gpu[1]["exp"] = t0 + 10;  // == now: expired
  expect_failure("J8", 1, "J3");
  gpu[1]["exp"] = t0 + 3600;
  gpu[1].erase("nbf");
  expect_failure("J8", 1, "J3");
  gpu[1]["nbf"] = t0;
  gpu[0]["eat_nonce"] = to_hex(bytes(32, 0x5b));
  expect_failure("J8", 0, "J4");
  gpu[0]["eat_nonce"] = to_hex_upper(nonce_);  // the hex case does not matter
  EXPECT_TRUE(verify()) << describe(verify());
}

TEST_F(NrasSynthetic, OverallClaimsJ2J3J4) {
  overall["iss"] = "https://nras.attestation.nvidia.com/";
  expect_failure("J2");
  overall.erase("iss");
  expect_failure("J2");
  overall["iss"] = "https://nras.attestation.nvidia.com";
  overall.erase("exp");
  expect_failure("J3");
  overall["exp"] = static_cast<double>(t0 + 3600);  // not an integer NumericDate
  expect_failure("J3");
  overall["exp"] = "1800003600";
  expect_failure("J3");
  overall["exp"] = t0 + 3600;
  overall["iat"] = t0 + 71;  // beyond now + 60 s
  expect_failure("J3");
  overall["iat"] = t0 + 70;  // within the skew
  EXPECT_TRUE(verify());
  overall["eat_nonce"] = to_hex(nonce_).substr(2);
  expect_failure("J4");
  overall["eat_nonce"] = 42;
  expect_failure("J4");
}

TEST_F(NrasSynthetic, GpuAppraisalClaimsFailJ9) {
  const auto with = [&](std::size_t i, std::string_view claim, json::value v, std::string_view part = {}) {
    const json::object saved = gpu[i];
    gpu[i][claim] = std::move(v);
    expect_failure("J9", i, part);
    gpu[i] = saved;
  };
  with(1, "measres", "fail", "measres");
  with(0, "dbgstat", "enabled", "dbgstat");
  with(0, "secboot", false, "secboot");
  with(0, "secboot", "true", "secboot");
  with(1, "x-nvidia-attestation-warning", "RIM expired", "warning");
  with(1, "x-nvidia-error-details", json::object{{"code", 4010}, {"message", "NONCE_NOT_MATCHING"}});
  with(1, "x-nvidia-gpu-attestation-report-nonce-match", "true", "nonce-match");
  with(1, "x-nvidia-gpu-attestation-report-signature-verified", false, "signature-verified");
  with(0, "x-nvidia-gpu-vbios-rim-cert-validated", nullptr);
  with(0, "x-nvidia-gpu-some-future-check", false, "some-future-check");

  gpu[1].erase("x-nvidia-gpu-attestation-report-cert-chain-validated");
  expect_failure("J9", 1, "cert-chain-validated");
  gpu[1]["x-nvidia-gpu-attestation-report-cert-chain-validated"] = true;
  gpu[0].erase("measres");
  expect_failure("J9", 0);
  gpu[0]["measres"] = "success";
  gpu[0].erase("x-nvidia-attestation-warning");  // absent is as good as null
  gpu[0]["x-nvidia-gpu-some-future-check"] = true;
  EXPECT_TRUE(verify()) << describe(verify());
}

TEST_F(NrasSynthetic, GpuBindingFailsJ10) {
  local[1].ueid_decimal = "1";
  expect_failure("J10", 1, "ueid");
  local[1].ueid_decimal = std::string(gpu[1]["ueid"].as_string());
  local[0].driver_version = "570.172.8";
  expect_failure("J10", 0, "driver");
  local[0].driver_version = std::string(driver_version);
  local[0].vbios_version.clear();
  expect_failure("J10", 0, "VBIOS");
  local[0].vbios_version = std::string(vbios_version);
  gpu[1]["hwmodel"] = "GB100";
  expect_failure("J10", 1, "hwmodel");
  gpu[1].erase("hwmodel");
  expect_failure("J10", 1);
  gpu[1]["hwmodel"] = "GH100";
  gpu[0]["ueid"] = 547205300;  // a number, not the decimal string
  local[0].ueid_decimal = "547205300";
  expect_failure("J10", 0);
}

TEST_F(NrasSynthetic, SubmodsShape) {
  digest_alg = "SHA256";  // NVIDIA's C++ SDK spelling
  EXPECT_TRUE(verify());
  digest_alg = "SHA-384";
  expect_failure("J6", 0, "SHA-384");
  digest_alg = "SHA-256";
  overall["submods"] = json::object{{"GPU-0", json::array{"DIGEST"}}, {"GPU-1", json::array{"DIGEST"}}};
  expect_failure("J6", 0);
  overall["submods"] = json::array{};
  expect_failure("J6");
  overall["submods"] = "none";
  expect_failure("J6");
}

TEST_F(NrasSynthetic, KeyPinRequiresAChain) {
  options pinned;
  pinned.require_key_pin = true;
  const auto r = verify(pinned);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().check, "key_pin") << describe(r);
}

TEST_F(NrasSynthetic, MalformedAnswersFailAsInput) {
  const unix_time now = from_unix_seconds(t0 + 10);
  const auto check_of = [&](std::string_view text) {
    const auto r = verify_response(text, keys_, nonce_, local, now);
    return r ? std::string("ok") : r.error().check;
  };
  EXPECT_EQ(check_of(""), "input");
  EXPECT_EQ(check_of("not json"), "input");
  EXPECT_EQ(check_of("{}"), "input");
  EXPECT_EQ(check_of("[]"), "input");
  EXPECT_EQ(check_of(R"([["JWT","a.b.c"]])"), "input");
  EXPECT_EQ(check_of(R"([["JWT",1],{}])"), "input");
  EXPECT_EQ(check_of(R"([["JWS","a.b.c"],{}])"), "input");
  EXPECT_EQ(check_of(R"([["JWT","a.b.c","d"],{}])"), "input");
  EXPECT_EQ(check_of(R"([["JWT","a.b.c"],[]])"), "input");
  EXPECT_EQ(check_of(R"([["JWT","a.b.c"],{},3])"), "input");
  EXPECT_EQ(check_of(R"([["JWT","abc"],{}])"), "input");
  EXPECT_EQ(check_of(R"([["JWT","a.b.c.d"],{}])"), "input");
  EXPECT_EQ(check_of(R"([["JWT","e30=.e30.AA"],{}])"), "input");         // padded base64url
  EXPECT_EQ(check_of(R"([["JWT","e30.e30.A+/A"],{}])"), "input");        // standard alphabet
  EXPECT_EQ(check_of(R"([["JWT","bm90IGpzb24.e30.AA"],{}])"), "input");  // header "not json"
  EXPECT_EQ(check_of(R"([["JWT","W10.e30.AA"],{}])"), "input");          // header []
  // Sizes: the whole answer, one token, the number of GPUs.
  std::string huge = body();
  huge.insert(1, max_response_bytes, ' ');
  EXPECT_EQ(check_of(huge), "input");
  json::array top = json::parse(body()).as_array();
  top[0].as_array()[1] = std::string(max_token_bytes + 1, 'A');
  EXPECT_EQ(check_of(json::serialize(top)), "input");
  top = json::parse(body()).as_array();
  for (std::size_t i = 0; i <= max_gpus; ++i) top[1].as_object()["GPU-" + std::to_string(i)] = "x";
  EXPECT_EQ(check_of(json::serialize(top)), "input");
  top = json::parse(body()).as_array();
  top[1].as_object()["GPU-1"] = 7;
  EXPECT_EQ(check_of(json::serialize(top)), "input");
  // The caller's own inputs.
  const std::string good = body();
  EXPECT_EQ(verify_response(good, keys_, bytes(31, 0x5a), local, now).error().check, "input");
  EXPECT_EQ(verify_response(good, keys_, nonce_, {}, now).error().check, "input");
  EXPECT_EQ(verify_response(good, keys_, nonce_, std::vector<local_gpu>(17), now).error().check, "input");
  EXPECT_EQ(verify_response(good, jwks{}, nonce_, local, now).error().check, "J1");
  EXPECT_TRUE(verify_response(good, keys_, nonce_, local, now));
  // Deeply nested JSON is refused by the parser, not by the stack.
  EXPECT_EQ(check_of(std::string(100000, '[')), "input");
}

}  // namespace
}  // namespace vp::gpu::nras
