// The response-signature entry points of fuzz_targets.hpp: the body of
// GET /v1/signature/{chat_id} and the text it signs (docs/gpu-signatures-e2ee.md §3), both
// bytes from the network. Seeds are documents signed here with fixed test keys, so that
// mutations reach the signature checks and the expectations behind them.

#include <boost/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/secp256k1.hpp"
#include "fuzz/fuzz_targets.hpp"
#include "signature/response_signature.hpp"

namespace vp::fuzz {
namespace {

namespace json = boost::json;

[[noreturn]] void signature_property_failed(int line, const char* what) {
  std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", __FILE__, line, what);
  std::abort();
}
#define VP_SIGNATURE_ASSERT(cond)                             \
  do {                                                        \
    if (!(cond)) signature_property_failed(__LINE__, #cond); \
  } while (false)

std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), size);
}

/// The strict grammar has one spelling per value: what parses must print back as itself.
void check_signed_text(std::string_view text) {
  const auto parsed = signature::parse_signed_text(text);
  if (!parsed) {
    VP_SIGNATURE_ASSERT(!parsed.error().empty());
    return;
  }
  const bool model = parsed->format == signature::text_format::model;
  VP_SIGNATURE_ASSERT(model != parsed->model.empty());
  VP_SIGNATURE_ASSERT(parsed->model.find(':') == std::string::npos);
  const std::string printed = (model ? parsed->model + ":" : std::string()) + to_hex(parsed->request_hash) + ":" +
                              to_hex(parsed->response_hash);
  VP_SIGNATURE_ASSERT(printed == text);
}

void check_document(std::string_view body) {
  const auto doc = signature::parse_signature_document(body);
  if (!doc) {
    VP_SIGNATURE_ASSERT(doc.error().code == "signature_malformed" || doc.error().code == "signature_unavailable");
    return;
  }
  const bool ecdsa = doc->signing_algo == attest::signing_algorithm::ecdsa;
  VP_SIGNATURE_ASSERT(doc->signature.size() == (ecdsa ? 65u : 64u));
  VP_SIGNATURE_ASSERT(doc->signing_address.size() == (ecdsa ? 20u : 32u));
  check_signed_text(doc->text);

  const auto v = signature::verify(*doc, {});
  VP_SIGNATURE_ASSERT(v.ok() != v.signer.empty());
  VP_SIGNATURE_ASSERT(!v.message.empty());
  if (!v.ok()) return;
  VP_SIGNATURE_ASSERT(v.signer == attest::format_signing_address(doc->signing_algo, doc->signing_address));
  VP_SIGNATURE_ASSERT(v.text.has_value());
  VP_SIGNATURE_ASSERT(!v.request_hash_matches && !v.response_hash_matches && !v.model_matches);

  // What the text itself says, expected back, must hold; one flipped bit of it must not.
  signature::expectations same;
  same.signer = signature::expected_signer{doc->signing_algo, doc->signing_address};
  same.request_hash = v.text->request_hash;
  same.response_hash = v.text->response_hash;
  if (v.text->format == signature::text_format::model) same.model = v.text->model;
  VP_SIGNATURE_ASSERT(signature::verify(*doc, same).ok());
  signature::expectations other = same;
  other.response_hash->at(31) ^= 0x01;
  VP_SIGNATURE_ASSERT(signature::verify(*doc, other).failed_check == "response_hash_mismatch");
  other = same;
  other.signer->signing_address.back() ^= 0x01;
  VP_SIGNATURE_ASSERT(signature::verify(*doc, other).failed_check == "signer_mismatch");
}

}  // namespace

void signature_input(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = text_of(data, size);
  check_signed_text(input);
  check_document(input);
}

std::vector<std::string> signature_seeds() {
  const std::string request = R"({"model":"Qwen/Qwen3.5-122B-A10B","messages":[{"role":"user","content":"hi"}]})";
  const std::string response = "data: {\"id\":\"chatcmpl-1\"}\n\ndata: [DONE]\n\n";
  const std::string hashes =
      to_hex(crypto::sha256(as_bytes(request))) + ":" + to_hex(crypto::sha256(as_bytes(response)));
  const std::string model_text = "Qwen/Qwen3.5-122B-A10B:" + hashes;

  // Fixed, public test keys: Hardhat account 0 and RFC 8032 test 1.
  const auto ecdsa = crypto::secp256k1::from_secret(
      from_hex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").value());
  const auto ed = crypto::ed25519::from_seed(
      from_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").value());
  std::vector<std::string> seeds;
  for (const std::string& text : {model_text, hashes}) {
    if (ecdsa) {
      const auto rsv =
          crypto::secp256k1::sign_recoverable(*ecdsa, crypto::secp256k1::personal_message_digest(text));
      const auto address = crypto::secp256k1::ethereum_address(ecdsa->public_key);
      if (rsv && address) {
        seeds.push_back(json::serialize(json::object{{"text", text},
                                                     {"signature", "0x" + to_hex(*rsv)},
                                                     {"signing_address", "0x" + to_hex(*address)},
                                                     {"signing_algo", "ecdsa"}}));
      }
    }
    if (ed) {
      seeds.push_back(json::serialize(json::object{{"text", text},
                                                   {"signature", to_hex(crypto::ed25519::sign(*ed, as_bytes(text)))},
                                                   {"signing_address", to_hex(ed->public_key)},
                                                   {"signing_algo", "ed25519"},
                                                   {"signature_kind", "provider_tee"}}));
    }
  }
  seeds.push_back(R"({"error_code":"signature_not_found","message":"client disconnected"})");
  seeds.push_back(model_text);
  seeds.push_back(hashes);
  return seeds;
}

}  // namespace vp::fuzz
