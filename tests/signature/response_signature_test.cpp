// Response signatures (§3): the signed text's two forms, the /v1/signature document, and
// verification — NEAR's published ECDSA example end to end (attested key → signature →
// exact bytes), the published broken example, the real Ed25519 signatures of attested keys,
// the deterministic E2EE-suite Ed25519 vector, and synthetic documents signed here.

#include "signature/response_signature.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "attest/near_report.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/keccak.hpp"
#include "crypto/secp256k1.hpp"
#include "support/testdata.hpp"

namespace vp::signature {
namespace {

namespace json = boost::json;
using attest::signing_algorithm;

bytes hex(std::string_view s) { return from_hex(s).value(); }

sha256_digest digest_of(std::string_view s) { return crypto::sha256(as_bytes(s)); }

const std::string request_body = R"({"model":"Qwen/Qwen3.5-122B-A10B","messages":[{"role":"user","content":"hi"}]})";
const std::string response_body = "data: {\"id\":\"chatcmpl-1\"}\n\ndata: [DONE]\n\n";
constexpr std::string_view model_name = "Qwen/Qwen3.5-122B-A10B";

std::string model_text(std::string_view model = model_name) {
  return std::string(model) + ":" + to_hex(digest_of(request_body)) + ":" + to_hex(digest_of(response_body));
}

// Hardhat account 0: a well-known test key.
crypto::secp256k1::keypair ecdsa_key() {
  return crypto::secp256k1::from_secret(hex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"))
      .value();
}

// RFC 8032 test 1.
crypto::ed25519::keypair ed25519_key() {
  return crypto::ed25519::from_seed(hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")).value();
}

bytes ecdsa_address_of(const crypto::secp256k1::keypair& key) {
  const auto a = crypto::secp256k1::ethereum_address(key.public_key).value();
  return bytes(a.begin(), a.end());
}

/// A /v1/signature answer for `text`, signed here with the chosen algorithm.
json::object signed_document(const std::string& text, signing_algorithm algo) {
  if (algo == signing_algorithm::ecdsa) {
    const auto key = ecdsa_key();
    const auto rsv =
        crypto::secp256k1::sign_recoverable(key, crypto::secp256k1::personal_message_digest(text)).value();
    return json::object{{"text", text},
                        {"signature", "0x" + to_hex(rsv)},
                        {"signing_address", "0x" + to_hex(ecdsa_address_of(key))},
                        {"signing_algo", "ecdsa"}};
  }
  const auto key = ed25519_key();
  return json::object{{"text", text},
                      {"signature", to_hex(crypto::ed25519::sign(key, as_bytes(text)))},
                      {"signing_address", to_hex(key.public_key)},
                      {"signing_algo", "ed25519"}};
}

signature_document parsed(const json::object& o) {
  auto doc = parse_signature_document(json::serialize(o));
  EXPECT_TRUE(doc) << (doc ? "" : doc.error().message);
  return doc ? *doc : signature_document{};
}

std::string malformed_code(const json::object& o) {
  auto doc = parse_signature_document(json::serialize(o));
  return doc ? std::string("parsed") : doc.error().code;
}

expectations everything_expected(signing_algorithm algo) {
  const auto ed_public = ed25519_key().public_key;
  expectations e;
  e.signer = expected_signer{algo, algo == signing_algorithm::ecdsa ? ecdsa_address_of(ecdsa_key())
                                                                    : bytes(ed_public.begin(), ed_public.end())};
  e.request_hash = digest_of(request_body);
  e.response_hash = digest_of(response_body);
  e.model = std::string(model_name);
  return e;
}

// ---------------------------------------------------------------------------------------
// Signed text (§3.2)

TEST(SignedText, ModelFormWithSlashInTheName) {
  const auto t = parse_signed_text(model_text());
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->format, text_format::model);
  EXPECT_EQ(t->model, model_name);
  EXPECT_EQ(t->request_hash, digest_of(request_body));
  EXPECT_EQ(t->response_hash, digest_of(response_body));
  EXPECT_EQ(to_string(t->format), "model");
}

TEST(SignedText, HashesForm) {
  const std::string text = to_hex(digest_of("a")) + ":" + to_hex(digest_of("b"));
  const auto t = parse_signed_text(text);
  ASSERT_TRUE(t) << t.error();
  EXPECT_EQ(t->format, text_format::hashes);
  EXPECT_TRUE(t->model.empty());
  EXPECT_EQ(t->request_hash, digest_of("a"));
  EXPECT_EQ(t->response_hash, digest_of("b"));
  EXPECT_EQ(to_string(t->format), "hashes");
}

TEST(SignedText, UpperCaseHexIsRefused) {
  const std::string req = to_hex(digest_of("a"));
  std::string upper_resp = to_hex_upper(digest_of("b"));
  EXPECT_FALSE(parse_signed_text(req + ":" + upper_resp));
  EXPECT_FALSE(parse_signed_text("m:" + to_hex_upper(digest_of("a")) + ":" + to_hex(digest_of("b"))));
  // One upper-case digit is enough.
  std::string one_upper = to_hex(digest_of("b"));
  const auto letter = one_upper.find_first_of("abcdef");
  ASSERT_NE(letter, std::string::npos);
  one_upper[letter] = static_cast<char>(one_upper[letter] - 'a' + 'A');
  EXPECT_FALSE(parse_signed_text(req + ":" + one_upper));
}

TEST(SignedText, ExtraSeparatorsAreRefused) {
  const std::string hashes = to_hex(digest_of("a")) + ":" + to_hex(digest_of("b"));
  EXPECT_FALSE(parse_signed_text("org:model:" + hashes));
  EXPECT_FALSE(parse_signed_text(":" + hashes));  // empty model name
  EXPECT_FALSE(parse_signed_text("::" + hashes));
  EXPECT_FALSE(parse_signed_text(hashes + ":"));
  EXPECT_FALSE(parse_signed_text("model:" + hashes + ":" + to_hex(digest_of("c"))));
}

TEST(SignedText, WrongShapesAreRefused) {
  const std::string a = to_hex(digest_of("a"));
  EXPECT_FALSE(parse_signed_text(""));
  EXPECT_FALSE(parse_signed_text(a));
  EXPECT_FALSE(parse_signed_text(a + ":" + a.substr(2)));         // 62 digits
  EXPECT_FALSE(parse_signed_text(a + ":" + a + "00"));            // 66 digits
  EXPECT_FALSE(parse_signed_text(a + ":0x" + a.substr(2)));       // prefix
  EXPECT_FALSE(parse_signed_text(a + ": " + a.substr(1)));        // white space
  EXPECT_FALSE(parse_signed_text("m:" + a + ":" + a + "\n"));     // trailing newline
  EXPECT_FALSE(parse_signed_text(std::string(2000, 'm') + ":" + a + ":" + a));
  EXPECT_FALSE(parse_signed_text(std::string(attest::max_model_name_size + 1, 'm') + ":" + a + ":" + a));
  EXPECT_TRUE(parse_signed_text(std::string(attest::max_model_name_size, 'm') + ":" + a + ":" + a));
}

// ---------------------------------------------------------------------------------------
// The document (§3.1)

TEST(SignatureDocument, ParsesBothAlgorithms) {
  const auto ecdsa = parsed(signed_document(model_text(), signing_algorithm::ecdsa));
  EXPECT_EQ(ecdsa.signing_algo, signing_algorithm::ecdsa);
  EXPECT_EQ(ecdsa.signature.size(), 65u);
  EXPECT_EQ(ecdsa.signing_address, ecdsa_address_of(ecdsa_key()));
  EXPECT_FALSE(ecdsa.signature_kind);
  const auto ed = parsed(signed_document(model_text(), signing_algorithm::ed25519));
  EXPECT_EQ(ed.signing_algo, signing_algorithm::ed25519);
  EXPECT_EQ(ed.signature.size(), 64u);
  EXPECT_EQ(ed.signing_address.size(), 32u);
}

TEST(SignatureDocument, HexOfAnyCaseAndOptionalPrefix) {
  auto o = signed_document(model_text(), signing_algorithm::ecdsa);
  const std::string sig(o.at("signature").as_string());
  o["signature"] = sig.substr(2);  // no "0x"
  EXPECT_EQ(malformed_code(o), "parsed");
  std::string upper = sig;
  for (std::size_t i = 2; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  o["signature"] = upper;
  o["signing_address"] = "0x" + to_hex_upper(ecdsa_address_of(ecdsa_key()));
  EXPECT_EQ(parsed(o).signing_address, ecdsa_address_of(ecdsa_key()));

  auto ed = signed_document(model_text(), signing_algorithm::ed25519);
  ed["signature"] = "0x" + std::string(ed.at("signature").as_string());
  EXPECT_EQ(malformed_code(ed), "parsed");
}

TEST(SignatureDocument, SignatureKindIsKept) {
  auto o = signed_document(model_text(), signing_algorithm::ed25519);
  o["signature_kind"] = "provider_tee";
  EXPECT_EQ(parsed(o).signature_kind, "provider_tee");
  o["signature_kind"] = nullptr;
  EXPECT_FALSE(parsed(o).signature_kind);
  o["signature_kind"] = 7;
  EXPECT_EQ(malformed_code(o), "signature_malformed");
}

TEST(SignatureDocument, AnswerWithoutTextOrSignatureIsUnavailable) {
  auto doc = parse_signature_document(R"({"error_code":"signature_not_found","message":"client disconnected"})");
  ASSERT_FALSE(doc);
  EXPECT_EQ(doc.error().code, "signature_unavailable");
  EXPECT_NE(doc.error().message.find("client disconnected"), std::string::npos) << doc.error().message;
  auto o = signed_document(model_text(), signing_algorithm::ecdsa);
  o.erase("signature");
  EXPECT_EQ(malformed_code(o), "signature_unavailable");
  o = signed_document(model_text(), signing_algorithm::ecdsa);
  o["text"] = nullptr;
  EXPECT_EQ(malformed_code(o), "signature_unavailable");
}

TEST(SignatureDocument, MalformedDocumentsAreRefused) {
  for (const char* body : {"", "not json", "[]", "\"text\"", "{\"text\":", "{\"a\":[[[[[[[[[[[[1]]]]]]]]]]]]}"}) {
    auto doc = parse_signature_document(body);
    ASSERT_FALSE(doc) << body;
    EXPECT_EQ(doc.error().code, "signature_malformed") << body;
  }
  EXPECT_EQ(parse_signature_document(std::string(70000, ' ') + "{}").error().code, "signature_malformed");

  const auto base = signed_document(model_text(), signing_algorithm::ecdsa);
  const auto with = [&](std::string_view key, const auto& value) {
    json::object o = base;
    o[key] = value;
    return malformed_code(o);
  };
  const std::string sig(base.at("signature").as_string());
  const std::string addr(base.at("signing_address").as_string());
  EXPECT_EQ(with("text", 5), "signature_malformed");
  EXPECT_EQ(with("signature", json::array{}), "signature_malformed");
  EXPECT_EQ(with("signing_algo", "ECDSA"), "signature_malformed");
  EXPECT_EQ(with("signing_algo", "secp256k1"), "signature_malformed");
  EXPECT_EQ(with("signing_algo", nullptr), "signature_malformed");
  EXPECT_EQ(with("signature", sig.substr(0, sig.size() - 2)), "signature_malformed");  // 64 bytes
  EXPECT_EQ(with("signature", sig + "00"), "signature_malformed");
  EXPECT_EQ(with("signature", sig.substr(0, sig.size() - 1) + "g"), "signature_malformed");
  EXPECT_EQ(with("signing_address", addr.substr(2)), "signature_malformed");  // ecdsa needs "0x"
  EXPECT_EQ(with("signing_address", addr.substr(0, 40)), "signature_malformed");
  EXPECT_EQ(with("signing_address", addr + "00"), "signature_malformed");
  json::object no_address = base;
  no_address.erase("signing_address");
  EXPECT_EQ(malformed_code(no_address), "signature_malformed");

  // An ed25519 document with ecdsa-sized values, and the reverse.
  json::object ed = signed_document(model_text(), signing_algorithm::ed25519);
  ed["signing_algo"] = "ecdsa";
  EXPECT_EQ(malformed_code(ed), "signature_malformed");
  json::object ec = base;
  ec["signing_algo"] = "ed25519";
  EXPECT_EQ(malformed_code(ec), "signature_malformed");
  json::object ed_prefixed_address = signed_document(model_text(), signing_algorithm::ed25519);
  ed_prefixed_address["signing_address"] = "0x" + std::string(ed_prefixed_address.at("signing_address").as_string());
  EXPECT_EQ(malformed_code(ed_prefixed_address), "signature_malformed");
}

// ---------------------------------------------------------------------------------------
// Verification, synthetic

class VerifySynthetic : public testing::TestWithParam<signing_algorithm> {};

TEST_P(VerifySynthetic, SignedHereVerifiesWithEveryExpectation) {
  const auto doc = parsed(signed_document(model_text(), GetParam()));
  const auto v = verify(doc, everything_expected(GetParam()));
  EXPECT_TRUE(v.ok()) << v.failed_check << ": " << v.message;
  EXPECT_EQ(v.signer, attest::format_signing_address(GetParam(), doc.signing_address));
  EXPECT_EQ(v.request_hash_matches, true);
  EXPECT_EQ(v.response_hash_matches, true);
  EXPECT_EQ(v.model_matches, true);
  ASSERT_TRUE(v.text);
  EXPECT_EQ(v.text->model, model_name);
  EXPECT_NE(v.message.find(v.signer), std::string::npos) << v.message;
  EXPECT_EQ(v.message.find('\n'), std::string::npos) << v.message;
}

TEST_P(VerifySynthetic, WithoutExpectationsOnlyTheSignatureIsChecked) {
  const auto v = verify(parsed(signed_document(model_text(), GetParam())), {});
  EXPECT_TRUE(v.ok()) << v.message;
  EXPECT_FALSE(v.request_hash_matches);
  EXPECT_FALSE(v.response_hash_matches);
  EXPECT_FALSE(v.model_matches);
  EXPECT_NE(v.message.find("not checked"), std::string::npos) << v.message;
}

TEST_P(VerifySynthetic, EachMismatchNamesItsCheck) {
  const auto doc = parsed(signed_document(model_text(), GetParam()));
  {
    auto e = everything_expected(GetParam());
    e.signer->signing_algo =
        GetParam() == signing_algorithm::ecdsa ? signing_algorithm::ed25519 : signing_algorithm::ecdsa;
    EXPECT_EQ(verify(doc, e).failed_check, "signing_algo_mismatch");
  }
  {
    auto e = everything_expected(GetParam());
    e.signer->signing_address[3] ^= 0x01;
    const auto v = verify(doc, e);
    EXPECT_EQ(v.failed_check, "signer_mismatch");
    EXPECT_FALSE(v.signer.empty());  // the signature itself verified
  }
  {
    auto e = everything_expected(GetParam());
    e.request_hash = digest_of(request_body + " ");
    const auto v = verify(doc, e);
    EXPECT_EQ(v.failed_check, "request_hash_mismatch");
    EXPECT_EQ(v.request_hash_matches, false);
    EXPECT_EQ(v.response_hash_matches, true);  // the others are still reported
  }
  {
    auto e = everything_expected(GetParam());
    e.response_hash = digest_of(response_body.substr(1));
    const auto v = verify(doc, e);
    EXPECT_EQ(v.failed_check, "response_hash_mismatch");
    EXPECT_EQ(v.response_hash_matches, false);
  }
  {
    auto e = everything_expected(GetParam());
    e.model = "qwen/qwen3.5-122b-a10b";  // compared exactly
    const auto v = verify(doc, e);
    EXPECT_EQ(v.failed_check, "model_mismatch");
    EXPECT_EQ(v.model_matches, false);
  }
  {
    // Order: the signer before the hashes, the hashes before the model.
    auto e = everything_expected(GetParam());
    e.signer->signing_address[0] ^= 0x01;
    e.request_hash->at(0) ^= 0x01;
    e.model = "other";
    EXPECT_EQ(verify(doc, e).failed_check, "signer_mismatch");
    e = everything_expected(GetParam());
    e.response_hash->at(0) ^= 0x01;
    e.model = "other";
    EXPECT_EQ(verify(doc, e).failed_check, "response_hash_mismatch");
  }
}

TEST_P(VerifySynthetic, TamperedDocumentsFail) {
  const auto good = parsed(signed_document(model_text(), GetParam()));
  auto other_text = good;
  other_text.text = model_text("Qwen/Qwen3.5-122B-A10C");
  EXPECT_EQ(verify(other_text, {}).failed_check, "signature_invalid");
  auto flipped = good;
  flipped.signature[20] ^= 0x01;
  EXPECT_EQ(verify(flipped, {}).failed_check, "signature_invalid");
  auto other_address = good;
  other_address.signing_address[0] ^= 0x01;
  const auto v = verify(other_address, {});
  EXPECT_EQ(v.failed_check, "signature_invalid");
  EXPECT_TRUE(v.signer.empty());
  auto bad_text = good;
  bad_text.text = "not a signed text";
  EXPECT_EQ(verify(bad_text, {}).failed_check, "text_malformed");
  auto short_signature = good;
  short_signature.signature.pop_back();
  EXPECT_EQ(verify(short_signature, {}).failed_check, "signature_malformed");
}

INSTANTIATE_TEST_SUITE_P(Algorithms, VerifySynthetic,
                         testing::Values(signing_algorithm::ecdsa, signing_algorithm::ed25519),
                         [](const auto& test_info) { return std::string(attest::to_string(test_info.param)); });

TEST(VerifySignature, EcdsaVOtherThan27Or28IsMalformed) {
  auto doc = parsed(signed_document(model_text(), signing_algorithm::ecdsa));
  doc.signature.back() = 29;
  EXPECT_EQ(verify(doc, {}).failed_check, "signature_malformed");
  doc.signature.back() = 1;  // a bare recovery id, as some libraries emit
  EXPECT_EQ(verify(doc, {}).failed_check, "signature_malformed");
}

TEST(VerifySignature, HashesFormHasNoModelToMatch) {
  const std::string text = to_hex(digest_of(request_body)) + ":" + to_hex(digest_of(response_body));
  const auto doc = parsed(signed_document(text, signing_algorithm::ed25519));
  auto e = everything_expected(signing_algorithm::ed25519);
  e.model.reset();
  const auto v = verify(doc, e);
  EXPECT_TRUE(v.ok()) << v.message;
  EXPECT_EQ(v.text->format, text_format::hashes);
  e.model = std::string(model_name);
  EXPECT_EQ(verify(doc, e).failed_check, "model_mismatch");
}

// ---------------------------------------------------------------------------------------
// Real vectors

std::string near_signing_address(const attest::near_report_document& report) {
  const auto& a = report.attestations.at(0);
  return attest::format_signing_address(a.signing_algo, a.signing_address);
}

TEST(RealSignature, DocsEcdsaExampleIsBoundToTheAttestedKeyAndTheExactBytes) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::string request = test::read_shared("signatures/docs-2026-06-ecdsa/request_body.json");
  const std::string response = test::read_shared("signatures/docs-2026-06-ecdsa/response_body.sse");
  auto doc = parse_signature_document(test::read_shared("signatures/docs-2026-06-ecdsa/signature.json"));
  ASSERT_TRUE(doc) << doc.error().message;

  // The attested key: report_data binds the address; the public key must hash to it.
  auto report = attest::parse_report_document(test::read_shared("nearai/direct-2026-03-22-ecdsa/report.json"));
  ASSERT_TRUE(report) << report.error().message;
  const attest::near_attestation& attested = report->attestations.at(0);
  ASSERT_EQ(attested.signing_algo, signing_algorithm::ecdsa);
  ASSERT_TRUE(attested.signing_public_key);
  const auto address_of_key = crypto::secp256k1::ethereum_address(*attested.signing_public_key);
  ASSERT_TRUE(address_of_key);
  EXPECT_TRUE(equal_bytes(*address_of_key, attested.signing_address));
  EXPECT_EQ(near_signing_address(*report), "0x6525e128afcffebf7eed05d485d7be983cdae934");

  expectations e;
  e.signer = expected_signer{attested.signing_algo, attested.signing_address};
  e.request_hash = digest_of(request);
  e.response_hash = digest_of(response);
  e.model = "Qwen/Qwen3.5-122B-A10B";
  const auto v = verify(*doc, e);
  EXPECT_TRUE(v.ok()) << v.failed_check << ": " << v.message;
  EXPECT_EQ(v.signer, "0x6525e128afcffebf7eed05d485d7be983cdae934");
  EXPECT_EQ(v.text->format, text_format::model);
  EXPECT_EQ(doc->signature.back(), 27);

  // The recovered key is the attested public key itself, not only its address.
  const auto recovered = crypto::secp256k1::recover(crypto::secp256k1::personal_message_digest(doc->text),
                                                    doc->signature);
  ASSERT_TRUE(recovered);
  EXPECT_TRUE(equal_bytes(*recovered, *attested.signing_public_key));

  // One changed byte in either body fails its own check.
  std::string request_changed = request;
  request_changed[request_changed.find("two")] = 'T';
  e.request_hash = digest_of(request_changed);
  EXPECT_EQ(verify(*doc, e).failed_check, "request_hash_mismatch");
  e.request_hash = digest_of(request);
  std::string response_changed = response;
  response_changed.back() = ' ';
  e.response_hash = digest_of(response_changed);
  EXPECT_EQ(verify(*doc, e).failed_check, "response_hash_mismatch");
  // The stream's trailing blank line is part of what was hashed.
  e.response_hash = digest_of(std::string_view(response).substr(0, response.size() - 1));
  EXPECT_EQ(verify(*doc, e).failed_check, "response_hash_mismatch");
}

TEST(RealSignature, DocsBrokenExampleDoesNotBelongToItsAddress) {
  VP_REQUIRE_SHARED_TESTDATA();
  auto doc = parse_signature_document(test::read_shared("signatures/docs-2025-11-broken/signature.json"));
  ASSERT_TRUE(doc) << doc.error().message;
  const auto v = verify(*doc, {});
  EXPECT_EQ(v.failed_check, "signature_invalid") << v.message;
  EXPECT_TRUE(v.signer.empty());
  EXPECT_EQ(v.text->format, text_format::hashes);
}

TEST(RealSignature, OhttpKeyConfigsAreSignedByTheAttestedEd25519Keys) {
  VP_REQUIRE_SHARED_TESTDATA();
  // §3.7 SIG-5: ohttp_attestation.signature is Ed25519 over the hex-decoded key_config, by
  // the key the quote binds (signing_address of the same attestation object).
  struct site {
    const char* capture;
    const char* attestation;  // where the attested signing_address is
    const char* ohttp;        // where ohttp_attestation is
  };
  int verified = 0;
  for (const site s : {site{"direct-2026-06-29-ed25519", "", ""},
                       site{"gateway-2026-06-29", "/gateway_attestation", ""},
                       site{"gateway-2026-06-29", "/model_attestations/0", "/model_attestations/0"}}) {
    SCOPED_TRACE(std::string(s.capture) + " " + s.attestation);
    const std::string body = test::read_shared(std::string("nearai/") + s.capture + "/report.json");
    auto report = attest::parse_report_document(body);
    ASSERT_TRUE(report) << report.error().message;
    const attest::near_attestation* attested = report->find(s.attestation);
    ASSERT_NE(attested, nullptr);
    ASSERT_EQ(attested->signing_algo, signing_algorithm::ed25519);

    const json::value root = json::parse(body);
    const json::object& ohttp = root.at_pointer(std::string(s.ohttp) + "/ohttp_attestation").as_object();
    EXPECT_EQ(ohttp.at("signing_algo"), "ed25519");
    EXPECT_EQ(ohttp.at("signing_key").as_string(), to_hex(attested->signing_address));
    const bytes key_config = hex(ohttp.at("key_config").as_string());
    bytes signature = hex(ohttp.at("signature").as_string());
    EXPECT_TRUE(crypto::ed25519::verify(attested->signing_address, key_config, signature));
    signature[0] ^= 0x01;
    EXPECT_FALSE(crypto::ed25519::verify(attested->signing_address, key_config, signature));
    ++verified;
  }
  EXPECT_EQ(verified, 3);
}

TEST(RealSignature, E2eeSuiteEd25519ChatSignatureReproducesAndVerifies) {
  VP_REQUIRE_SHARED_TESTDATA();
  const json::value vectors = json::parse(test::read_shared("e2ee/vectors.json"));
  const json::object& vector = vectors.at_pointer("/vectors/ed25519_signature").as_object();
  const std::string seed(vectors.at_pointer("/vectors/v2_ed25519/model_ed25519_seed").as_string());
  const auto key = crypto::ed25519::from_seed(hex(seed)).value();
  EXPECT_EQ(to_hex(key.public_key), vector.at("signing_address").as_string());
  const std::string text(vector.at("text").as_string());
  // Ed25519 is deterministic: the same key and text give the published bytes.
  EXPECT_EQ(to_hex(crypto::ed25519::sign(key, as_bytes(text))), vector.at("signature").as_string());

  json::object document{{"text", text},
                        {"signature", vector.at("signature")},
                        {"signing_address", vector.at("signing_address")},
                        {"signing_algo", "ed25519"}};
  expectations e;
  e.signer = expected_signer{signing_algorithm::ed25519, bytes(key.public_key.begin(), key.public_key.end())};
  e.model = "Qwen/Qwen3.5-122B-A10B";
  const auto v = verify(parsed(document), e);
  EXPECT_TRUE(v.ok()) << v.failed_check << ": " << v.message;
  EXPECT_EQ(v.model_matches, true);
  e.model = "Qwen/Qwen3.5-122B";
  EXPECT_EQ(verify(parsed(document), e).failed_check, "model_mismatch");
}

}  // namespace
}  // namespace vp::signature
