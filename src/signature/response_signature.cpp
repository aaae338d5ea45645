#include "signature/response_signature.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <exception>
#include <utility>

#include "core/hex.hpp"
#include "core/text.hpp"
#include "crypto/ed25519.hpp"
#include "crypto/secp256k1.hpp"

namespace vp::signature {
namespace {

namespace json = boost::json;

/// Longest signed text accepted: a model name (at most attest::max_model_name_size) and
/// two 64-digit hashes fit with room to spare; anything longer is not a §3.2 text.
constexpr std::size_t max_signed_text_size = 1024;
/// Largest /v1/signature/{id} body accepted; real ones are ~400 bytes.
constexpr std::size_t max_document_size = 64 * 1024;
/// The document is one flat object; deeper nesting is refused before it costs anything.
constexpr std::size_t max_document_depth = 8;
/// signature_kind is a short enum at the gateway ("provider_tee" | "gateway").
constexpr std::size_t max_signature_kind_size = 64;
constexpr std::size_t hash_hex_digits = 64;

constexpr std::size_t ecdsa_signature_size = 65;
constexpr std::size_t ed25519_signature_size = 64;
constexpr std::size_t ecdsa_address_size = 20;
constexpr std::size_t ed25519_address_size = 32;

// Untrusted text quoted in a message: bounded and printable.
std::string excerpt(std::string_view s) { return text::quoted_excerpt(s, 40); }

bool is_lower_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string_view without_0x(std::string_view s) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  return s;
}

boost::system::result<sha256_digest, std::string> parse_hash_field(std::string_view field, std::string_view name) {
  // Lower case only: the producers print {:x} / hexdigest(), and a text with another
  // spelling of the same hash is not the text they signed.
  if (field.size() != hash_hex_digits || !is_lower_hex(field)) {
    return std::string(name) + " must be 64 lower-case hex digits, got " + excerpt(field);
  }
  const auto decoded = from_hex(field);
  if (!decoded || decoded->size() != sizeof(sha256_digest)) return std::string(name) + " is not hex";
  sha256_digest out{};
  std::copy(decoded->begin(), decoded->end(), out.begin());
  return out;
}

document_error unavailable(std::string message) { return {"signature_unavailable", std::move(message)}; }
document_error malformed(std::string message) { return {"signature_malformed", std::move(message)}; }

const json::value* present(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v == nullptr || v->is_null() ? nullptr : v;
}

boost::system::result<std::string_view, document_error> required_string(const json::object& o,
                                                                        std::string_view name) {
  const json::value* v = present(o, name);
  if (v == nullptr) return malformed(std::string(name) + " is missing");
  const json::string* s = v->if_string();
  if (s == nullptr) return malformed(std::string(name) + " must be a string");
  return std::string_view(*s);
}

/// Hex of exactly `size` decoded bytes, "0x" optional, either case.
std::optional<bytes> exact_hex(std::string_view text, std::size_t size) {
  if (text.size() != 2 * size) return std::nullopt;
  return from_hex(text);
}

boost::system::result<signature_document, document_error> parse_object(const json::object& o) {
  // §3.1: the gateway answers 200 {"error_code","message"} when it has no signature; that
  // is "unavailable", never a document to verify.
  if (present(o, "text") == nullptr || present(o, "signature") == nullptr) {
    std::string why = "the answer has no text/signature";
    if (const json::value* code = present(o, "error_code"); code != nullptr && code->is_string()) {
      why += ": error_code " + excerpt(code->get_string());
    }
    if (const json::value* message = present(o, "message"); message != nullptr && message->is_string()) {
      why += ": " + excerpt(message->get_string());
    }
    return unavailable(std::move(why));
  }
  signature_document doc;
  auto text = required_string(o, "text");
  if (!text) return text.error();
  doc.text = std::string(*text);

  auto algo = required_string(o, "signing_algo");
  if (!algo) return algo.error();
  const auto named = attest::signing_algorithm_named(*algo);
  if (!named) return malformed("signing_algo is " + excerpt(*algo) + "; only \"ecdsa\" and \"ed25519\" are defined");
  doc.signing_algo = *named;
  const bool ecdsa = doc.signing_algo == attest::signing_algorithm::ecdsa;

  auto signature = required_string(o, "signature");
  if (!signature) return signature.error();
  const std::size_t signature_size = ecdsa ? ecdsa_signature_size : ed25519_signature_size;
  auto signature_bytes = exact_hex(without_0x(*signature), signature_size);
  if (!signature_bytes) {
    return malformed(std::string("signature (") + std::string(*algo) + ") must be " +
                     std::to_string(2 * signature_size) + " hex digits" + (ecdsa ? " after \"0x\" (r‖s‖v)" : "") +
                     ", got " + excerpt(*signature));
  }
  doc.signature = std::move(*signature_bytes);

  auto address = required_string(o, "signing_address");
  if (!address) return address.error();
  // Addresses as a report writes them (§1.6).
  auto address_bytes = attest::decode_signing_address(doc.signing_algo, *address);
  if (!address_bytes) {
    return malformed(std::string("signing_address (") + std::string(*algo) + ") must be " +
                     (ecdsa ? "\"0x\" + 40 hex digits" : "64 hex digits") + ", got " + excerpt(*address));
  }
  doc.signing_address = std::move(*address_bytes);

  if (const json::value* kind = present(o, "signature_kind")) {
    const json::string* s = kind->if_string();
    if (s == nullptr || s->size() > max_signature_kind_size) {
      return malformed("signature_kind must be a short string");
    }
    doc.signature_kind = std::string(*s);
  }
  return doc;
}

/// nullopt when the signature is by doc.signing_address, else the failed check and why.
std::optional<std::pair<std::string, std::string>> check_signature(const signature_document& doc) {
  using check = std::pair<std::string, std::string>;
  if (doc.signing_algo == attest::signing_algorithm::ecdsa) {
    if (doc.signature.size() != ecdsa_signature_size || doc.signing_address.size() != ecdsa_address_size) {
      return check{"signature_malformed", "an ecdsa signature is 65 bytes r‖s‖v by a 20-byte address"};
    }
    const std::uint8_t v = doc.signature.back();
    if (v != 27 && v != 28) {
      return check{"signature_malformed", "ecdsa v is " + std::to_string(v) + "; EIP-191 signatures have 27 or 28"};
    }
    // §3.4: EIP-191 personal_sign over the UTF-8 text; the signer is whoever the
    // signature recovers to, which must be the stated address.
    const auto digest = crypto::secp256k1::personal_message_digest(doc.text);
    const auto key = crypto::secp256k1::recover(digest, doc.signature);
    if (!key) {
      return check{"signature_invalid",
                   "the ecdsa signature recovers to no key (r or s out of range, high-s, or no curve point)"};
    }
    const auto recovered = crypto::secp256k1::ethereum_address(*key);
    if (!recovered || !equal_bytes(*recovered, doc.signing_address)) {
      return check{"signature_invalid",
                   "the ecdsa signature is by " +
                       attest::format_signing_address(attest::signing_algorithm::ecdsa,
                                                      recovered ? byte_view(*recovered) : byte_view{}) +
                       ", not by the stated signing_address " +
                       attest::format_signing_address(doc.signing_algo, doc.signing_address)};
    }
    // Recovery already implies validity under the recovered key; verifying again guards
    // against a recovery path that accepted something plain verification would not.
    if (!crypto::secp256k1::verify(*key, digest, byte_view(doc.signature).first(64))) {
      return check{"signature_invalid", "the ecdsa signature does not verify under the recovered key"};
    }
    return std::nullopt;
  }
  if (doc.signature.size() != ed25519_signature_size || doc.signing_address.size() != ed25519_address_size) {
    return check{"signature_malformed", "an ed25519 signature is 64 bytes by a 32-byte public key"};
  }
  // §3.5: RFC 8032 over the UTF-8 bytes of the text, the address being the public key.
  if (!crypto::ed25519::verify(doc.signing_address, as_bytes(doc.text), doc.signature)) {
    return check{"signature_invalid", "the ed25519 signature does not verify under the stated signing_address " +
                                          attest::format_signing_address(doc.signing_algo, doc.signing_address)};
  }
  return std::nullopt;
}

std::string checked_summary(const verification& v, bool signer_checked) {
  std::vector<std::string> checked;
  std::vector<std::string> unchecked;
  (signer_checked ? checked : unchecked).push_back("signer");
  (v.request_hash_matches ? checked : unchecked).push_back("request hash");
  (v.response_hash_matches ? checked : unchecked).push_back("response hash");
  (v.model_matches ? checked : unchecked).push_back("model");
  const auto join = [](const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
    return out;
  };
  std::string out = checked.empty() ? "nothing else checked" : "matches the expected " + join(checked);
  if (!unchecked.empty()) out += " (not checked: " + join(unchecked) + ")";
  return out;
}

verification verify_unchecked(const signature_document& doc, const expectations& expected) {
  verification v;
  auto text = parse_signed_text(doc.text);
  if (!text) {
    v.failed_check = "text_malformed";
    v.message = "the signed text is malformed: " + text.error();
    return v;
  }
  v.text = std::move(*text);

  if (auto failed = check_signature(doc)) {
    v.failed_check = std::move(failed->first);
    v.message = std::move(failed->second);
    return v;
  }
  v.signer = attest::format_signing_address(doc.signing_algo, doc.signing_address);

  // Every expectation is evaluated so that the caller can report all of them; the first
  // failure in this order is the verdict.
  const auto fail = [&v](std::string check, std::string message) {
    if (!v.failed_check.empty()) return;
    v.failed_check = std::move(check);
    v.message = std::move(message);
  };
  if (expected.signer) {
    const expected_signer& want = *expected.signer;
    if (want.signing_algo != doc.signing_algo) {
      fail("signing_algo_mismatch", "signed with " + std::string(attest::to_string(doc.signing_algo)) +
                                        ", but the attested key is " +
                                        std::string(attest::to_string(want.signing_algo)));
    } else if (!equal_bytes(want.signing_address, doc.signing_address)) {
      fail("signer_mismatch", "signed by " + v.signer + ", not by the attested key " +
                                  attest::format_signing_address(want.signing_algo, want.signing_address));
    }
  }
  if (expected.request_hash) {
    v.request_hash_matches = *expected.request_hash == v.text->request_hash;
    if (!*v.request_hash_matches) {
      fail("request_hash_mismatch", "the signed request hash " + to_hex(v.text->request_hash) +
                                        " is not SHA-256 of the request, " + to_hex(*expected.request_hash));
    }
  }
  if (expected.response_hash) {
    v.response_hash_matches = *expected.response_hash == v.text->response_hash;
    if (!*v.response_hash_matches) {
      fail("response_hash_mismatch", "the signed response hash " + to_hex(v.text->response_hash) +
                                         " is not SHA-256 of the response, " + to_hex(*expected.response_hash));
    }
  }
  if (expected.model) {
    v.model_matches = v.text->format == text_format::model && v.text->model == *expected.model;
    if (!*v.model_matches) {
      fail("model_mismatch", v.text->format == text_format::model
                                 ? "the signed text names model " + excerpt(v.text->model) + ", not " +
                                       excerpt(*expected.model)
                                 : "the signed text names no model (gateway / legacy form), expected " +
                                       excerpt(*expected.model));
    }
  }
  if (v.ok()) {
    v.message = std::string(attest::to_string(doc.signing_algo)) + " signature by " + v.signer + " over " +
                (v.text->format == text_format::model ? "the text of model " + excerpt(v.text->model)
                                                      : std::string("a hashes-only text")) +
                "; " + checked_summary(v, expected.signer.has_value());
  }
  return v;
}

}  // namespace

std::string_view to_string(text_format f) noexcept {
  switch (f) {
    case text_format::model: return "model";
    case text_format::hashes: return "hashes";
  }
  return "unknown";
}

boost::system::result<signed_text, std::string> parse_signed_text(std::string_view text) {
  if (text.size() > max_signed_text_size) {
    return "the text is " + std::to_string(text.size()) + " bytes, over " + std::to_string(max_signed_text_size);
  }
  // §3.2: split from the right; only the model name could ever contain more separators,
  // and it may not.
  const std::size_t last = text.rfind(':');
  if (last == std::string_view::npos) return "expected \"[model:]sha256hex:sha256hex\", got " + excerpt(text);
  signed_text out;
  auto response = parse_hash_field(text.substr(last + 1), "the response hash");
  if (!response) return response.error();
  out.response_hash = *response;

  const std::string_view head = text.substr(0, last);
  const std::size_t middle = head.rfind(':');
  auto request = parse_hash_field(middle == std::string_view::npos ? head : head.substr(middle + 1),
                                  "the request hash");
  if (!request) return request.error();
  out.request_hash = *request;

  if (middle == std::string_view::npos) {
    out.format = text_format::hashes;
    return out;
  }
  const std::string_view model = head.substr(0, middle);
  if (model.empty()) return std::string("the model name before the hashes is empty");
  if (model.find(':') != std::string_view::npos) {
    return "more than three ':'-separated fields (a model name has no ':'): " + excerpt(text);
  }
  if (model.size() > attest::max_model_name_size) {
    return "the model name is over " + std::to_string(attest::max_model_name_size) + " bytes";
  }
  out.format = text_format::model;
  out.model = std::string(model);
  return out;
}

boost::system::result<signature_document, document_error> parse_signature_document(std::string_view body) {
  if (body.size() > max_document_size) {
    return malformed("the body is " + std::to_string(body.size()) + " bytes, over " +
                     std::to_string(max_document_size));
  }
  try {
    json::parse_options options;
    options.max_depth = max_document_depth;
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec, {}, options);
    if (ec) return malformed("not JSON: " + ec.message());
    const json::object* o = v.if_object();
    if (o == nullptr) return malformed("not a JSON object");
    return parse_object(*o);
  } catch (const std::exception& e) {
    return malformed(std::string("cannot be read: ") + e.what());
  }
}

verification verify(const signature_document& doc, const expectations& expected) {
  try {
    return verify_unchecked(doc, expected);
  } catch (const std::exception& e) {
    verification v;
    v.failed_check = "signature_malformed";
    v.message = std::string("cannot be verified: ") + e.what();
    return v;
  }
}

}  // namespace vp::signature
