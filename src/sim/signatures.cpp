#include "sim/signatures.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <stdexcept>

#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/secp256k1.hpp"

namespace vp::sim {

std::string signed_text(std::string_view model, std::string_view request_body, std::string_view response_entity) {
  return std::string(model) + ":" + to_hex(crypto::sha256(as_bytes(request_body))) + ":" +
         to_hex(crypto::sha256(as_bytes(response_entity)));
}

std::string signed_text_with_request_hash(std::string_view model, std::string_view request_sha256_hex,
                                          std::string_view response_entity) {
  return std::string(model) + ":" + std::string(request_sha256_hex) + ":" +
         to_hex(crypto::sha256(as_bytes(response_entity)));
}

std::string gateway_signed_text(std::string_view request_body, std::string_view response_entity) {
  return to_hex(crypto::sha256(as_bytes(request_body))) + ":" + to_hex(crypto::sha256(as_bytes(response_entity)));
}

chat_signature sign_chat(const signing_identity& signer, std::string text) {
  chat_signature out;
  const auto digest = crypto::secp256k1::personal_message_digest(text);
  const auto rsv = crypto::secp256k1::sign_recoverable(signer.ecdsa, digest);
  if (!rsv) throw std::runtime_error("verified-proxy-sim: secp256k1 signing failed");
  out.ecdsa_signature = "0x" + to_hex(*rsv);
  out.ecdsa_address = attest::format_signing_address(attest::signing_algorithm::ecdsa, signer.ecdsa_address);
  out.ed25519_signature = to_hex(crypto::ed25519::sign(signer.ed25519, as_bytes(text)));
  out.ed25519_address = attest::format_signing_address(attest::signing_algorithm::ed25519, signer.ed25519_key);
  out.text = std::move(text);
  return out;
}

std::string signature_document_json(const chat_signature& signature, attest::signing_algorithm algo,
                                    std::string_view kind) {
  const bool ecdsa = algo == attest::signing_algorithm::ecdsa;
  boost::json::object doc;
  doc["text"] = signature.text;
  doc["signature"] = ecdsa ? signature.ecdsa_signature : signature.ed25519_signature;
  doc["signing_address"] = ecdsa ? signature.ecdsa_address : signature.ed25519_address;
  doc["signing_algo"] = attest::to_string(algo);
  if (!kind.empty()) doc["signature_kind"] = kind;
  return boost::json::serialize(doc);
}

void signature_store::put(std::string chat_id, chat_signature signature, clock::time_point visible_from) {
  std::erase_if(entries_, [&](const entry& e) { return e.chat_id == chat_id; });
  entries_.push_back(entry{std::move(chat_id), std::move(signature), visible_from});
  while (entries_.size() > capacity_) entries_.pop_front();
}

std::optional<chat_signature> signature_store::find(std::string_view chat_id, clock::time_point now) const {
  const auto it = std::find_if(entries_.rbegin(), entries_.rend(), [&](const entry& e) { return e.chat_id == chat_id; });
  if (it == entries_.rend() || now < it->visible_from) return std::nullopt;
  return it->signature;
}

}  // namespace vp::sim
