// The pure pieces of the simulator's inference-proxy behaviour: the signed text and both
// signatures (docs/gpu-signatures-e2ee.md §3.2, §3.4, §3.5) checked with the verifier, the
// bounded signature store with its visibility delay, and the E2EE header rules (§4.1).

#include "sim/signatures.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include <string>

#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "e2ee/cipher.hpp"
#include "signature/response_signature.hpp"
#include "sim/e2ee_server.hpp"
#include "sim/report.hpp"

namespace vp::sim {
namespace {

using attest::signing_algorithm;
using namespace std::chrono_literals;

TEST(SimSignatures, TextIsModelAndTheHashesOfTheExactBytes) {
  EXPECT_EQ(signed_text("m/x", "", "abc"),
            "m/x:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855:"
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(SimSignatures, BothSignaturesVerifyUnderTheIdentityAndNoOther) {
  const signing_identity keys = random_signing_identity();
  const signing_identity other = random_signing_identity();
  const std::string text = signed_text("sim-model", R"({"a":1})", "data: [DONE]\n\n");
  const chat_signature signed_chat = sign_chat(keys, text);
  EXPECT_EQ(signed_chat.ecdsa_signature.size(), 2u + 130u);
  EXPECT_EQ(signed_chat.ed25519_signature.size(), 128u);
  for (const auto algo : {signing_algorithm::ecdsa, signing_algorithm::ed25519}) {
    SCOPED_TRACE(attest::to_string(algo));
    auto doc = signature::parse_signature_document(signature_document_json(signed_chat, algo));
    ASSERT_TRUE(doc) << doc.error().message;
    EXPECT_EQ(doc->text, text);
    EXPECT_EQ(doc->signing_algo, algo);
    signature::expectations expected;
    expected.signer = signature::expected_signer{algo, bytes(keys.address(algo).begin(), keys.address(algo).end())};
    expected.request_hash = crypto::sha256(as_bytes(R"({"a":1})"));
    expected.response_hash = crypto::sha256(as_bytes("data: [DONE]\n\n"));
    expected.model = "sim-model";
    const auto checked = signature::verify(*doc, expected);
    EXPECT_TRUE(checked.ok()) << checked.failed_check << ": " << checked.message;

    expected.signer->signing_address.assign(other.address(algo).begin(), other.address(algo).end());
    EXPECT_EQ(signature::verify(*doc, expected).failed_check, "signer_mismatch");
  }
  // The public key the report carries is the one that signs.
  EXPECT_EQ(keys.public_key(signing_algorithm::ed25519).size(), 32u);
  EXPECT_EQ(keys.public_key(signing_algorithm::ecdsa).size(), 64u);
  EXPECT_TRUE(equal_bytes(keys.public_key(signing_algorithm::ed25519), keys.address(signing_algorithm::ed25519)));
}

TEST(SimSignatures, StoreKeepsTheNewestAndShowsEachFromItsTime) {
  signature_store store(2);
  const auto t0 = signature_store::clock::now();
  chat_signature s;
  s.text = "one";
  store.put("a", s, t0);
  s.text = "two";
  store.put("b", s, t0 + 100ms);
  EXPECT_EQ(store.find("a", t0).value().text, "one");
  EXPECT_FALSE(store.find("b", t0 + 99ms).has_value());
  EXPECT_EQ(store.find("b", t0 + 100ms).value().text, "two");
  s.text = "three";
  store.put("c", s, t0);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_FALSE(store.find("a", t0 + 1s).has_value()) << "the oldest is evicted";
  EXPECT_FALSE(store.find("nobody", t0 + 1s).has_value());
}

TEST(SimE2eeHeaders, RulesOfInferenceProxy) {
  const std::string ed_key(64, 'a');
  const auto parse = [](e2ee_headers h) { return parse_e2ee_headers(h); };
  const auto none = parse({});
  ASSERT_TRUE(none);
  EXPECT_FALSE(none->has_value());

  EXPECT_FALSE(parse({.signing_algo = "ed25519"}));
  EXPECT_FALSE(parse({.client_public_key = ed_key}));
  const auto no_version = parse({.signing_algo = "ed25519", .client_public_key = ed_key});
  ASSERT_FALSE(no_version);
  EXPECT_EQ(no_version.error(), "unsupported encryption version");
  EXPECT_FALSE(parse({.signing_algo = "ed25519", .client_public_key = ed_key, .encryption_version = "1"}));
  EXPECT_FALSE(parse({.signing_algo = "rsa", .client_public_key = ed_key, .encryption_version = "2"}));

  const auto v2 = parse({.signing_algo = "ed25519",
                         .client_public_key = ed_key,
                         .encryption_version = "2",
                         .encrypt_all_fields = "true"});
  ASSERT_TRUE(v2 && v2->has_value());
  EXPECT_EQ((*v2)->kind, e2ee::scheme::v2);
  EXPECT_TRUE((*v2)->all_fields);
  for (const char* version : {"1", "2"}) {
    const auto ecies = parse({.signing_algo = "ecdsa", .client_public_key = "04", .encryption_version = version});
    ASSERT_TRUE(ecies && ecies->has_value()) << version;
    EXPECT_EQ((*ecies)->kind, e2ee::scheme::ecies);
    EXPECT_FALSE((*ecies)->all_fields);
  }
  EXPECT_TRUE(parse({.signing_algo = "ecdsa", .client_public_key = "04"}));
  EXPECT_FALSE(parse({.signing_algo = "ecdsa", .client_public_key = "04", .encryption_version = "3"}));
}

}  // namespace
}  // namespace vp::sim
