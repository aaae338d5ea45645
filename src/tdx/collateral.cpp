#include "tdx/collateral.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "core/hex.hpp"
#include "crypto/x509.hpp"

namespace vp::tdx {
namespace {

namespace json = boost::json;

constexpr std::size_t signature_size = 64;  // ECDSA P-256 r‖s (spec §3.2, §3.3)

error malformed(std::string message) { return make_error(errc::malformed_collateral, std::move(message)); }

std::string kind_name(const json::value& v) { return std::string(json::to_string(v.kind())); }

// ---------------------------------------------------------------------------------
// QuoteCollateralV3 fields (spec §3.4)

result<std::string> string_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return malformed("collateral field `" + std::string(name) + "` is missing");
  const json::string* s = v->if_string();
  if (s == nullptr) {
    return malformed("collateral field `" + std::string(name) + "` must be a string, got " + kind_name(*v));
  }
  return std::string(*s);
}

// dcap-qvl serialises byte fields as hex strings (serde-human-bytes); its pure-JS
// fetcher emits arrays of numbers. Both are accepted, nothing else.
result<bytes> byte_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr) return malformed("collateral field `" + std::string(name) + "` is missing");
  if (const json::string* s = v->if_string()) {
    auto decoded = from_hex(*s);
    if (!decoded) {
      return malformed("collateral field `" + std::string(name) + "` is not a hex string (" +
                       std::to_string(s->size()) + " characters)");
    }
    return std::move(*decoded);
  }
  if (const json::array* a = v->if_array()) {
    bytes out;
    out.reserve(a->size());
    for (std::size_t i = 0; i < a->size(); ++i) {
      const std::int64_t* n = (*a)[i].if_int64();
      if (n == nullptr || *n < 0 || *n > 255) {
        return malformed("collateral field `" + std::string(name) + "` element " + std::to_string(i) +
                         " is not an integer 0..255 (" + json::serialize((*a)[i]) + ")");
      }
      out.push_back(static_cast<std::uint8_t>(*n));
    }
    return out;
  }
  return malformed("collateral field `" + std::string(name) + "` must be a hex string or an array of bytes, got " +
                   kind_name(*v));
}

// PCS serves the PCK CRL as DER or PEM and PCCS the root CA CRL as hex text; whatever
// arrived, the verifier gets the DER it checks signatures over.
result<bytes> crl_to_der(byte_view data, std::string_view name) {
  const crypto::x509_crl_ptr crl = crypto::parse_crl(data);
  if (!crl) {
    return malformed("`" + std::string(name) + "` does not hold a DER, PEM or hex CRL (" +
                     std::to_string(data.size()) + " bytes)");
  }
  bytes der = crypto::crl_der(crl.get());
  if (der.empty()) return malformed("`" + std::string(name) + "` CRL cannot be re-encoded as DER");
  return der;
}

result<bytes> signature_bytes(bytes sig, std::string_view name) {
  if (sig.size() != signature_size) {
    return malformed("`" + std::string(name) + "` must be " + std::to_string(signature_size) +
                     " bytes (r‖s), got " + std::to_string(sig.size()));
  }
  return sig;
}

// An issuer chain without a single certificate cannot anchor anything; reject it at
// the exchange boundary so the error names the field instead of a later chain step.
result<void> check_issuer_chain(std::string_view pem, std::string_view name) {
  if (!crypto::parse_pem_certificates(pem)) {
    return malformed("`" + std::string(name) + "` holds no parseable PEM certificate (" +
                     std::to_string(pem.size()) + " bytes)");
  }
  return {};
}

// ---------------------------------------------------------------------------------
// Locating the exact text of a top-level member.
//
// Boost.JSON does not report source offsets, so a scanner finds where each top-level
// value starts and ends. It runs only on text Boost.JSON has already accepted, which
// is why it needs to find extents but not to validate: outside strings, the only
// characters that matter are the brackets, and inside strings only `\` and `"`.

constexpr std::size_t npos = std::string_view::npos;

bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view t, std::size_t i) {
  while (i < t.size() && is_json_space(t[i])) ++i;
  return i;
}

// `i` is at an opening quote; returns one past the closing quote.
std::size_t end_of_string(std::string_view t, std::size_t i) {
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\') {
      ++i;  // the escaped character (or the `u` of \uXXXX) never closes the string
    } else if (t[i] == '"') {
      return i + 1;
    }
  }
  return npos;
}

// `i` is at the first character of a value; returns one past its last character.
std::size_t end_of_value(std::string_view t, std::size_t i) {
  if (i >= t.size()) return npos;
  if (t[i] == '"') return end_of_string(t, i);
  if (t[i] == '{' || t[i] == '[') {
    std::size_t depth = 0;
    while (i < t.size()) {
      const char c = t[i];
      if (c == '"') {
        i = end_of_string(t, i);
        if (i == npos) return npos;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return npos;
  }
  // number, true, false or null: runs up to the next delimiter
  const std::size_t start = i;
  while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' && !is_json_space(t[i])) ++i;
  return i == start ? npos : i;
}

struct raw_member {
  std::string key;         // decoded (escapes resolved), as Boost.JSON sees it
  std::string_view value;  // exact source text
};

std::optional<std::vector<raw_member>> top_level_members(std::string_view t) {
  std::vector<raw_member> members;
  std::size_t i = skip_space(t, 0);
  if (i >= t.size() || t[i] != '{') return std::nullopt;
  i = skip_space(t, i + 1);
  if (i < t.size() && t[i] == '}') return skip_space(t, i + 1) == t.size() ? std::optional{members} : std::nullopt;
  while (true) {
    if (i >= t.size() || t[i] != '"') return std::nullopt;
    const std::size_t key_end = end_of_string(t, i);
    if (key_end == npos) return std::nullopt;
    // Decoding the key with Boost.JSON makes `"tcb\u0049nfo"` match `tcbInfo` exactly
    // when Boost.JSON's own lookup would.
    json::error_code ec;
    const json::value key = json::parse(t.substr(i, key_end - i), ec);
    if (ec || !key.is_string()) return std::nullopt;
    i = skip_space(t, key_end);
    if (i >= t.size() || t[i] != ':') return std::nullopt;
    i = skip_space(t, i + 1);
    const std::size_t value_end = end_of_value(t, i);
    if (value_end == npos) return std::nullopt;
    members.push_back(raw_member{std::string(key.get_string()), t.substr(i, value_end - i)});
    i = skip_space(t, value_end);
    if (i >= t.size()) return std::nullopt;
    if (t[i] == ',') {
      i = skip_space(t, i + 1);
      continue;
    }
    if (t[i] != '}') return std::nullopt;
    break;
  }
  if (skip_space(t, i + 1) != t.size()) return std::nullopt;
  return members;
}

}  // namespace

result<collateral_v3> parse_collateral_v3_json(std::string_view text) {
  json::error_code ec;
  const json::value doc = json::parse(text, ec);
  if (ec) return malformed("collateral JSON does not parse: " + ec.message());
  const json::object* o = doc.if_object();
  if (o == nullptr) return malformed("collateral JSON must be an object, got " + kind_name(doc));

  collateral_v3 c;

  auto pck_crl_issuer_chain = string_field(*o, "pck_crl_issuer_chain");
  if (!pck_crl_issuer_chain) return pck_crl_issuer_chain.error();
  c.pck_crl_issuer_chain = std::move(*pck_crl_issuer_chain);

  auto root_ca_crl = byte_field(*o, "root_ca_crl");
  if (!root_ca_crl) return root_ca_crl.error();
  auto root_ca_crl_der = crl_to_der(*root_ca_crl, "root_ca_crl");
  if (!root_ca_crl_der) return root_ca_crl_der.error();
  c.root_ca_crl = std::move(*root_ca_crl_der);

  auto pck_crl = byte_field(*o, "pck_crl");
  if (!pck_crl) return pck_crl.error();
  auto pck_crl_der = crl_to_der(*pck_crl, "pck_crl");
  if (!pck_crl_der) return pck_crl_der.error();
  c.pck_crl = std::move(*pck_crl_der);

  auto tcb_info_issuer_chain = string_field(*o, "tcb_info_issuer_chain");
  if (!tcb_info_issuer_chain) return tcb_info_issuer_chain.error();
  c.tcb_info_issuer_chain = std::move(*tcb_info_issuer_chain);

  auto tcb_info = string_field(*o, "tcb_info");
  if (!tcb_info) return tcb_info.error();
  c.tcb_info = std::move(*tcb_info);

  auto tcb_info_signature = byte_field(*o, "tcb_info_signature");
  if (!tcb_info_signature) return tcb_info_signature.error();
  auto tcb_sig = signature_bytes(std::move(*tcb_info_signature), "tcb_info_signature");
  if (!tcb_sig) return tcb_sig.error();
  c.tcb_info_signature = std::move(*tcb_sig);

  auto qe_identity_issuer_chain = string_field(*o, "qe_identity_issuer_chain");
  if (!qe_identity_issuer_chain) return qe_identity_issuer_chain.error();
  c.qe_identity_issuer_chain = std::move(*qe_identity_issuer_chain);

  auto qe_identity = string_field(*o, "qe_identity");
  if (!qe_identity) return qe_identity.error();
  c.qe_identity = std::move(*qe_identity);

  auto qe_identity_signature = byte_field(*o, "qe_identity_signature");
  if (!qe_identity_signature) return qe_identity_signature.error();
  auto qe_sig = signature_bytes(std::move(*qe_identity_signature), "qe_identity_signature");
  if (!qe_sig) return qe_sig.error();
  c.qe_identity_signature = std::move(*qe_sig);

  for (const auto& [chain, name] : {std::pair{&c.pck_crl_issuer_chain, "pck_crl_issuer_chain"},
                                    std::pair{&c.tcb_info_issuer_chain, "tcb_info_issuer_chain"},
                                    std::pair{&c.qe_identity_issuer_chain, "qe_identity_issuer_chain"}}) {
    if (auto ok = check_issuer_chain(*chain, name); !ok) return ok.error();
  }
  return c;
}

std::string to_collateral_v3_json(const collateral_v3& c) {
  // dcap-qvl's field order, so that the output diffs cleanly against its files.
  json::object o;
  o["pck_crl_issuer_chain"] = c.pck_crl_issuer_chain;
  o["root_ca_crl"] = to_hex(c.root_ca_crl);
  o["pck_crl"] = to_hex(c.pck_crl);
  o["tcb_info_issuer_chain"] = c.tcb_info_issuer_chain;
  o["tcb_info"] = c.tcb_info;
  o["tcb_info_signature"] = to_hex(c.tcb_info_signature);
  o["qe_identity_issuer_chain"] = c.qe_identity_issuer_chain;
  o["qe_identity"] = c.qe_identity;
  o["qe_identity_signature"] = to_hex(c.qe_identity_signature);
  return json::serialize(o);
}

result<signed_json> split_signed_response(std::string_view response_body, std::string_view key) {
  const std::string where = "PCS response `" + std::string(key) + "`";
  json::error_code ec;
  const json::value doc = json::parse(response_body, ec);
  if (ec) return malformed(where + " does not parse as JSON: " + ec.message());
  const json::object* o = doc.if_object();
  if (o == nullptr) return malformed(where + ": body must be an object, got " + kind_name(doc));
  const json::value* signed_value = o->if_contains(key);
  if (signed_value == nullptr) return malformed(where + ": member is missing");
  if (!signed_value->is_object()) {
    return malformed(where + ": member must be an object, got " + kind_name(*signed_value));
  }
  const json::value* sig_value = o->if_contains("signature");
  if (sig_value == nullptr) return malformed(where + ": `signature` is missing");
  const json::string* sig_text = sig_value->if_string();
  if (sig_text == nullptr) return malformed(where + ": `signature` must be a string, got " + kind_name(*sig_value));
  auto sig = from_hex(*sig_text);
  if (!sig || sig->size() != signature_size) {
    return malformed(where + ": `signature` must be " + std::to_string(2 * signature_size) +
                     " hex digits, got " + std::to_string(sig_text->size()) + " characters");
  }

  const auto members = top_level_members(response_body);
  if (!members) return malformed(where + ": cannot locate the top-level members in the body text");
  // Boost.JSON keeps the last of duplicate keys while other parsers keep the first:
  // with two candidates there is no single "served object" to check a signature over.
  const raw_member* found = nullptr;
  std::size_t key_count = 0;
  std::size_t signature_count = 0;
  for (const raw_member& m : *members) {
    if (m.key == key) {
      ++key_count;
      found = &m;
    }
    if (m.key == "signature") ++signature_count;
  }
  if (key_count != 1 || signature_count != 1) {
    return malformed(where + ": ambiguous body: member appears " + std::to_string(key_count) +
                     " times and `signature` " + std::to_string(signature_count) + " times at top level");
  }

  // Proof that the scanner cut out the right bytes: they parse to the very value
  // Boost.JSON found under `key`.
  const json::value reparsed = json::parse(found->value, ec);
  if (ec || reparsed != *signed_value) {
    return malformed(where + ": extracted text (" + std::to_string(found->value.size()) +
                     " bytes) does not reproduce the parsed member");
  }
  return signed_json{std::string(found->value), std::move(*sig)};
}

result<collateral_v3> collateral_from_pcs_responses(const pcs_responses& r) {
  collateral_v3 c;

  auto tcb = split_signed_response(r.tcb_info, "tcbInfo");
  if (!tcb) return tcb.error();
  c.tcb_info = std::move(tcb->body);
  c.tcb_info_signature = std::move(tcb->signature);

  auto qe = split_signed_response(r.qe_identity, "enclaveIdentity");
  if (!qe) return qe.error();
  c.qe_identity = std::move(qe->body);
  c.qe_identity_signature = std::move(qe->signature);

  auto pck_crl = crl_to_der(r.pck_crl, "pck_crl");
  if (!pck_crl) return pck_crl.error();
  c.pck_crl = std::move(*pck_crl);

  auto root_ca_crl = crl_to_der(r.root_ca_crl, "root_ca_crl");
  if (!root_ca_crl) return root_ca_crl.error();
  c.root_ca_crl = std::move(*root_ca_crl);

  if (auto ok = check_issuer_chain(r.tcb_info_issuer_chain, "tcb_info_issuer_chain"); !ok) return ok.error();
  if (auto ok = check_issuer_chain(r.qe_identity_issuer_chain, "qe_identity_issuer_chain"); !ok) return ok.error();
  if (auto ok = check_issuer_chain(r.pck_crl_issuer_chain, "pck_crl_issuer_chain"); !ok) return ok.error();
  c.tcb_info_issuer_chain = r.tcb_info_issuer_chain;
  c.qe_identity_issuer_chain = r.qe_identity_issuer_chain;
  c.pck_crl_issuer_chain = r.pck_crl_issuer_chain;
  return c;
}

}  // namespace vp::tdx
