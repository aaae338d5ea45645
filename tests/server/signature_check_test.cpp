// Judging a signature document behind NEAR's gateway (docs/gpu-signatures-e2ee.md §5.1
// step 6, §5.2): its signature_kind decides which attested key it is held to.

#include "server/signature_check.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/ed25519.hpp"

namespace vp::server {
namespace {

namespace json = boost::json;

struct signer {
  crypto::ed25519::keypair key = *crypto::ed25519::generate();

  signature::expected_signer expected() const {
    return {attest::signing_algorithm::ed25519, bytes(key.public_key.begin(), key.public_key.end())};
  }
  std::string document(const std::string& text, std::optional<std::string> kind) const {
    json::object o{{"text", text},
                   {"signature", to_hex(crypto::ed25519::sign(key, as_bytes(text)))},
                   {"signing_address", to_hex(key.public_key)},
                   {"signing_algo", "ed25519"}};
    if (kind) o["signature_kind"] = *kind;
    return json::serialize(o);
  }
};

struct exchange_hashes {
  sha256_digest request = crypto::sha256(as_bytes(std::string_view("{\"model\":\"m\"}")));
  sha256_digest response = crypto::sha256(as_bytes(std::string_view("{\"id\":\"chatcmpl-1\"}")));

  std::string model_text() const { return "m:" + to_hex(request) + ":" + to_hex(response); }
  std::string hashes_text() const { return to_hex(request) + ":" + to_hex(response); }
};

signature::expectations expecting(const signer& s, const exchange_hashes& h, std::optional<std::string> model) {
  return signature::expectations{s.expected(), h.request, h.response, std::move(model)};
}

/// An answer relayed by a gateway: the attested model and gateway keys, and the hashes of
/// what the proxy sent and read; unsealed unless told otherwise (both kinds acceptable).
class GatewaySignatures : public ::testing::Test {
 protected:
  signature_outcome judge(const signer& by, const std::string& text, std::optional<std::string> kind,
                          bool sealed = false) const {
    const gateway_signatures kinds{sealed ? std::nullopt
                                          : std::optional<signature::expectations>(expecting(gateway, h, std::nullopt))};
    return judge_signature(by.document(text, std::move(kind)), expecting(model, h, "m"), &kinds);
  }

  const signer model, gateway;
  const exchange_hashes h;
};

TEST_F(GatewaySignatures, AProviderTeeSignatureIsHeldToTheModelKey) {
  const auto valid = judge(model, h.model_text(), "provider_tee");
  EXPECT_EQ(valid.status, signature_status::valid) << valid.detail;
  EXPECT_EQ(valid.kind, "provider_tee");
  // A key no model attestation carries (the gateway impersonating the model).
  const signer impostor;
  const auto forged = judge(impostor, h.model_text(), "provider_tee");
  EXPECT_EQ(forged.status, signature_status::invalid);
  EXPECT_EQ(forged.failed_check, "signer_mismatch");
  // No kind at all is read as the model's.
  EXPECT_EQ(judge(model, h.model_text(), std::nullopt).kind, "provider_tee");
}

TEST_F(GatewaySignatures, TheGatewaysOwnSignatureIsHeldToTheGatewayKey) {
  const auto valid = judge(gateway, h.hashes_text(), "gateway");
  EXPECT_EQ(valid.status, signature_status::valid) << valid.detail;
  EXPECT_EQ(valid.kind, "gateway");
  // Claiming the gateway's kind with the model's key is not the gateway's signature.
  EXPECT_EQ(judge(model, h.hashes_text(), "gateway").failed_check, "signer_mismatch");
  // Over other bytes than the proxy sent.
  exchange_hashes other = h;
  other.request[0] ^= 1;
  EXPECT_EQ(judge(gateway, other.hashes_text(), "gateway").failed_check, "request_hash_mismatch");
}

TEST_F(GatewaySignatures, ASealedRequestAcceptsOnlyTheModelsSignature) {
  const auto own = judge(gateway, h.hashes_text(), "gateway", true);
  EXPECT_EQ(own.status, signature_status::invalid);
  EXPECT_EQ(own.failed_check, "signer_mismatch");
  EXPECT_NE(own.detail.find("end-to-end encrypted"), std::string::npos) << own.detail;
  EXPECT_EQ(judge(model, h.model_text(), "chutes", true).failed_check, "signer_mismatch");
  EXPECT_EQ(judge(model, h.model_text(), "provider_tee", true).status, signature_status::valid);
}

TEST(DirectSignatures, ADirectBackendHasNoKind) {
  const signer model;
  const exchange_hashes h;
  const auto valid = judge_signature(model.document(h.model_text(), std::nullopt), expecting(model, h, "m"));
  EXPECT_EQ(valid.status, signature_status::valid) << valid.detail;
  EXPECT_EQ(valid.kind, "");
}

}  // namespace
}  // namespace vp::server
