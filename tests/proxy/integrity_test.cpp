#include "proxy/integrity.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include <cctype>

#include "core/hex.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/secp256k1.hpp"

namespace vp::proxy {
namespace {

constexpr std::string_view chat_body =
    R"({"model":"m","messages":[{"role":"user","content":"the secret prompt"}],"stream":true})";

struct model_keys {
  crypto::ed25519::keypair ed = *crypto::ed25519::generate();
  crypto::secp256k1::keypair k1 = *crypto::secp256k1::generate();

  backend_identity ed25519() const {
    const bytes key(ed.public_key.begin(), ed.public_key.end());
    return backend_identity{attest::signing_algorithm::ed25519, key, key, true, "m"};
  }
  backend_identity ecdsa() const {
    const auto address = *crypto::secp256k1::ethereum_address(k1.public_key);
    return backend_identity{attest::signing_algorithm::ecdsa, bytes(address.begin(), address.end()),
                            bytes(k1.public_key.begin(), k1.public_key.end()), true, "m"};
  }
};

request_facts chat(std::string_view body = chat_body) {
  return request_facts{"POST", "/v1/chat/completions", "application/json", body, false};
}

const std::string* field(const integrity_plan& p, std::string_view name) {
  for (const auto& [n, v] : p.fields) {
    if (n == name) return &v;
  }
  return nullptr;
}

/// What the model CVM recovers from the sealed body, as inference-proxy would.
boost::json::value opened_by_model(const integrity_plan& p, e2ee::scheme kind, byte_view model_secret) {
  auto cipher = e2ee::field_cipher::for_server(kind, model_secret, *field(p, "X-Client-Pub-Key"));
  EXPECT_TRUE(cipher) << (cipher ? "" : cipher.error());
  auto body = boost::json::parse(*p.body);
  auto opened = e2ee::decrypt_request(*p.endpoint, body.as_object(), *cipher, true);
  EXPECT_TRUE(opened);
  return body;
}

TEST(IntegrityPlan, SealsAChatRequestToTheAttestedEd25519Key) {
  const model_keys keys;
  const auto backend = keys.ed25519();
  auto plan = plan_request(chat(), e2ee_mode::on, signature_mode::check, &backend);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->e2ee, e2ee_applied::sealed);
  EXPECT_EQ(plan->label, "v2");
  ASSERT_TRUE(plan->body);
  EXPECT_EQ(plan->body->find("the secret prompt"), std::string::npos);
  EXPECT_EQ(*field(*plan, "X-Signing-Algo"), "ed25519");
  EXPECT_EQ(*field(*plan, "X-Encryption-Version"), "2");
  EXPECT_EQ(*field(*plan, "X-Encrypt-All-Fields"), "true");
  EXPECT_EQ(*field(*plan, "Accept-Encoding"), "identity");
  EXPECT_EQ(field(*plan, "X-Client-Pub-Key")->size(), 64u);
  EXPECT_TRUE(plan->verify_signature);
  EXPECT_EQ(opened_by_model(*plan, e2ee::scheme::v2, keys.ed.seed), boost::json::parse(chat_body));
}

TEST(IntegrityPlan, SealsToABoundSecp256k1KeyWithEcies) {
  const model_keys keys;
  const auto backend = keys.ecdsa();
  auto plan = plan_request(chat(), e2ee_mode::required, signature_mode::off, &backend);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->label, "ecies");
  EXPECT_EQ(*field(*plan, "X-Signing-Algo"), "ecdsa");
  EXPECT_FALSE(plan->verify_signature);
  EXPECT_EQ(opened_by_model(*plan, e2ee::scheme::ecies, keys.k1.secret), boost::json::parse(chat_body));
}

TEST(IntegrityPlan, EachRequestGetsItsOwnClientKey) {
  const model_keys keys;
  const auto backend = keys.ed25519();
  auto a = plan_request(chat(), e2ee_mode::on, signature_mode::check, &backend);
  auto b = plan_request(chat(), e2ee_mode::on, signature_mode::check, &backend);
  ASSERT_TRUE(a && b);
  EXPECT_NE(*field(*a, "X-Client-Pub-Key"), *field(*b, "X-Client-Pub-Key"));
  EXPECT_NE(*a->body, *b->body);
}

TEST(IntegrityPlan, RefusesToEncryptToAKeyTheQuoteDoesNotBind) {
  const model_keys keys;
  auto unbound = keys.ecdsa();
  const model_keys other;
  unbound.signing_public_key = bytes(other.k1.public_key.begin(), other.k1.public_key.end());
  auto plan = plan_request(chat(), e2ee_mode::on, signature_mode::check, &unbound);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().status, 502u);
  EXPECT_EQ(plan.error().code, "e2ee_key_unbound");

  auto no_key = keys.ecdsa();
  no_key.signing_public_key.reset();
  EXPECT_EQ(plan_request(chat(), e2ee_mode::on, signature_mode::check, &no_key).error().code, "e2ee_key_unbound");

  auto not_verified = keys.ed25519();
  not_verified.bound = false;
  EXPECT_EQ(plan_request(chat(), e2ee_mode::on, signature_mode::check, &not_verified).error().code,
            "e2ee_key_unbound");
  EXPECT_EQ(plan_request(chat(), e2ee_mode::on, signature_mode::check, nullptr).error().code, "e2ee_key_unbound");
}

TEST(IntegrityPlan, EndpointsWithoutE2eeGoOverTheAttestedTlsUnlessRequired) {
  const model_keys keys;
  const auto backend = keys.ed25519();
  const request_facts responses{"POST", "/v1/responses", "application/json", R"({"input":"x"})", false};
  auto on = plan_request(responses, e2ee_mode::on, signature_mode::check, &backend);
  ASSERT_TRUE(on);
  EXPECT_EQ(on->e2ee, e2ee_applied::none);
  EXPECT_FALSE(on->body);
  EXPECT_FALSE(on->verify_signature);
  auto required = plan_request(responses, e2ee_mode::required, signature_mode::check, &backend);
  ASSERT_FALSE(required);
  EXPECT_EQ(required.error().status, 400u);
  EXPECT_EQ(required.error().code, "e2ee_unsupported_endpoint");
  // A GET carries no prompt: the attested TLS protects it.
  const request_facts get{"GET", "/v1/attestation/report", "", "", false};
  EXPECT_TRUE(plan_request(get, e2ee_mode::required, signature_mode::check, &backend));
  // Multipart uploads are not sealed by the proxy.
  const request_facts upload{"POST", "/v1/images/edits", "multipart/form-data; boundary=x", "--x--", false};
  EXPECT_EQ(plan_request(upload, e2ee_mode::on, signature_mode::check, &backend)->e2ee, e2ee_applied::none);
  EXPECT_EQ(plan_request(upload, e2ee_mode::required, signature_mode::check, &backend).error().code,
            "e2ee_unsupported_endpoint");
}

TEST(IntegrityPlan, AClientThatEncryptsItselfIsRelayedUntouched) {
  const model_keys keys;
  const auto backend = keys.ed25519();
  auto facts = chat();
  facts.client_encrypts = true;
  auto plan = plan_request(facts, e2ee_mode::required, signature_mode::enforce, &backend);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->e2ee, e2ee_applied::client);
  EXPECT_EQ(plan->label, "client");
  EXPECT_FALSE(plan->body);
  EXPECT_FALSE(plan->cipher);
  EXPECT_TRUE(plan->verify_signature);
}

TEST(IntegrityPlan, OffLeavesTheBodyAndStillChecksSignatures) {
  auto plan = plan_request(chat(), e2ee_mode::off, signature_mode::check, nullptr);
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->e2ee, e2ee_applied::none);
  EXPECT_FALSE(plan->body);
  EXPECT_TRUE(plan->verify_signature);
  EXPECT_EQ(*field(*plan, "Accept-Encoding"), "identity");
  auto nothing = plan_request(chat(), e2ee_mode::off, signature_mode::off, nullptr);
  ASSERT_TRUE(nothing);
  EXPECT_TRUE(nothing->fields.empty());
}

TEST(IntegrityPlan, ABodyThatIsNotAJsonObjectIsRefusedRatherThanSentInPlaintext) {
  const model_keys keys;
  const auto backend = keys.ed25519();
  for (std::string_view body : {"not json", "[1,2]", "", "{\"messages\":"}) {
    auto plan = plan_request(chat(body), e2ee_mode::on, signature_mode::check, &backend);
    ASSERT_FALSE(plan) << body;
    EXPECT_EQ(plan.error().code, "invalid_json") << body;
  }
}

TEST(IntegrityPlan, ModesParseAndPrint) {
  EXPECT_EQ(parse_e2ee_mode("required"), e2ee_mode::required);
  EXPECT_EQ(parse_signature_mode("enforce"), signature_mode::enforce);
  EXPECT_FALSE(parse_e2ee_mode("ON"));
  EXPECT_FALSE(parse_signature_mode(""));
  EXPECT_EQ(to_string(e2ee_mode::off), "off");
  EXPECT_EQ(to_string(signature_mode::check), "check");
  EXPECT_TRUE(is_e2ee_request_field("x-client-pub-key"));
  EXPECT_TRUE(is_e2ee_request_field("X-Model-Pub-Key"));
  EXPECT_FALSE(is_e2ee_request_field("Authorization"));
}

TEST(GatewayPin, PinsTheBoundModelKeyAndRefusesAliases) {
  const model_keys keys;
  const auto model = keys.ed25519();
  auto plan = plan_request(chat(), e2ee_mode::required, signature_mode::check, &model);
  ASSERT_TRUE(plan);
  const auto pinned = pin_gateway_model(*plan, &model, std::nullopt);
  ASSERT_TRUE(pinned);
  EXPECT_TRUE(*pinned);
  ASSERT_NE(field(*plan, "X-Model-Pub-Key"), nullptr);
  EXPECT_EQ(*field(*plan, "X-Model-Pub-Key"), to_hex(keys.ed.public_key));
  EXPECT_EQ(*field(*plan, "x-no-aliasing"), "true");
}

TEST(GatewayPin, PinsAnEcdsaModelByItsUncompressedKey) {
  const model_keys keys;
  const auto model = keys.ecdsa();
  integrity_plan plan;
  ASSERT_TRUE(pin_gateway_model(plan, &model, std::nullopt));
  ASSERT_NE(field(plan, "X-Model-Pub-Key"), nullptr);
  EXPECT_EQ(field(plan, "X-Model-Pub-Key")->size(), 128u);
}

TEST(GatewayPin, AKeyTheQuoteDoesNotBindIsNeverPinned) {
  const model_keys keys;
  auto model = keys.ecdsa();
  model.signing_public_key->at(5) ^= 1;  // no longer hashes to the bound address
  integrity_plan plan;
  const auto pinned = pin_gateway_model(plan, &model, std::nullopt);
  ASSERT_TRUE(pinned);
  EXPECT_FALSE(*pinned);
  EXPECT_EQ(field(plan, "X-Model-Pub-Key"), nullptr);
  EXPECT_EQ(*field(plan, "x-no-aliasing"), "true");
  auto unbound = keys.ed25519();
  unbound.bound = false;
  const auto unpinned = pin_gateway_model(plan, &unbound, std::nullopt);
  ASSERT_TRUE(unpinned);
  EXPECT_FALSE(*unpinned);
  EXPECT_EQ(field(plan, "X-Model-Pub-Key"), nullptr);
}

TEST(GatewayPin, AClientsOwnModelKeyMustBeTheAttestedOne) {
  const model_keys keys;
  const auto model = keys.ed25519();
  integrity_plan same;
  std::string upper = to_hex(keys.ed.public_key);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_TRUE(pin_gateway_model(same, &model, upper));
  const model_keys other;
  integrity_plan foreign;
  const auto refused = pin_gateway_model(foreign, &model, to_hex(other.ed.public_key));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().status, 400u);
  EXPECT_EQ(refused.error().code, "e2ee_model_key_unattested");
  integrity_plan none;
  EXPECT_FALSE(pin_gateway_model(none, nullptr, to_hex(keys.ed.public_key)));
}

}  // namespace
}  // namespace vp::proxy
