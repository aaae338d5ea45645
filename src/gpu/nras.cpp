#include "gpu/nras.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <utility>

#include "core/base64.hpp"
#include "core/hex.hpp"
#include "core/text.hpp"
#include "crypto/digest.hpp"
#include "crypto/ecdsa.hpp"
#include "crypto/x509.hpp"

namespace vp::gpu::nras {
namespace json = boost::json;

namespace {

constexpr std::size_t max_jwks_bytes = 1 << 20;
constexpr std::size_t max_jwks_keys = 256;
constexpr std::size_t max_x5c_certificates = 8;
constexpr std::size_t max_kid_chars = 256;

failure make_failure(std::string check, std::string message, std::optional<std::size_t> gpu = std::nullopt) {
  return failure{gpu, std::move(check), std::move(message)};
}

std::string gpu_key(std::size_t i) { return "GPU-" + std::to_string(i); }

std::optional<json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

const json::string* string_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v ? v->if_string() : nullptr;
}

/// A NumericDate (RFC 7519 §2). NRAS writes integers; fractional or out-of-range values
/// are refused rather than rounded.
std::optional<unix_time> time_at(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* i = v->if_int64()) return from_unix_seconds(*i);
  if (const auto* u = v->if_uint64();
      u != nullptr && *u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return from_unix_seconds(static_cast<std::int64_t>(*u));
  }
  return std::nullopt;
}

std::string quoted(std::string_view s) {
  constexpr std::size_t max_shown = 80;  // untrusted text in messages stays short
  if (s.size() > max_shown) return "\"" + std::string(s.substr(0, max_shown)) + "…\"";
  return "\"" + std::string(s) + "\"";
}

/// The claims of one token whose J1–J4 hold.
struct verified_token {
  std::string kid;
  json::object claims;
  unix_time iat;
  unix_time exp;
};

/// Verifies one compact JWS: J1–J4 for the overall token, the same checks reported as J8
/// for GPU `gpu`'s token (§2.3). `pinned` caches keys already found to satisfy the pin.
class token_verifier {
 public:
  token_verifier(const jwks& keys, byte_view nonce, unix_time now, const options& opts)
      : keys_(keys), nonce_(nonce), now_(now), opts_(opts) {}

  result<verified_token> verify(std::string_view jws, std::optional<std::size_t> gpu) {
    const auto fail = [&](std::string_view check, std::string message) {
      const std::string who = gpu ? gpu_key(*gpu) + " token" : std::string("overall token");
      if (gpu) return make_failure("J8", std::string(check) + ": " + who + ": " + message, gpu);
      return make_failure(std::string(check), who + ": " + message);
    };
    const auto malformed = [&](std::string message) {
      const std::string who = gpu ? gpu_key(*gpu) + " token" : std::string("overall token");
      return make_failure("input", who + ": " + message, gpu);
    };

    // RFC 7515 §7.1: BASE64URL(header) '.' BASE64URL(payload) '.' BASE64URL(signature).
    if (jws.size() > max_token_bytes) return malformed("larger than " + std::to_string(max_token_bytes) + " bytes");
    const std::size_t dot1 = jws.find('.');
    const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : jws.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || jws.find('.', dot2 + 1) != std::string_view::npos) {
      return malformed("not a compact JWS (three dot-separated parts)");
    }
    const auto header_bytes = base64url_decode(jws.substr(0, dot1));
    const auto payload_bytes = base64url_decode(jws.substr(dot1 + 1, dot2 - dot1 - 1));
    const auto signature = base64url_decode(jws.substr(dot2 + 1));
    if (!header_bytes || !payload_bytes || !signature) return malformed("a part is not canonical base64url");
    const auto header_value = parse_json(as_chars(*header_bytes));
    const json::object* header = header_value ? header_value->if_object() : nullptr;
    if (header == nullptr) return malformed("the JOSE header is not a JSON object");

    // J1. The algorithm is fixed, never taken from the token (RFC 8725 §3.1): "none",
    // ES256, HS* and everything else are refused.
    const json::string* alg = string_at(*header, "alg");
    if (alg == nullptr || *alg != "ES384") {
      return fail("J1", "alg is " + (alg ? quoted(*alg) : std::string("missing")) + ", only ES384 is accepted");
    }
    // RFC 7515 §4.1.11: a recipient must reject "crit" extensions it does not understand;
    // none are understood.
    if (header->contains("crit")) return fail("J1", "the header has a \"crit\" parameter");
    const json::string* kid = string_at(*header, "kid");
    if (kid == nullptr || kid->empty()) return fail("J1", "the header has no kid");
    const jwk* key = keys_.find(*kid);
    if (key == nullptr) {
      failure f = fail("J1", "kid " + quoted(*kid) + " is not in the JWKS");
      f.unknown_kid = true;
      return f;
    }
    if (signature->size() != 96) {
      return fail("J1", "the ES384 signature is " + std::to_string(signature->size()) + " bytes, not r||s of 96");
    }
    // The signing input is the ASCII of the first two parts exactly as received.
    if (!crypto::verify_p384_sha384_raw(key->key.get(), as_bytes(jws.substr(0, dot2)), *signature)) {
      return fail("J1", "the ES384 signature does not verify with kid " + quoted(*kid));
    }
    if (opts_.require_key_pin && std::find(pinned_.begin(), pinned_.end(), key) == pinned_.end()) {
      if (!key_chain_pinned(*key, now_, opts_.key_pins)) {
        return make_failure(
            "key_pin",
            "kid " + quoted(*kid) + ": x5c is not a currently valid certificate issued by a pinned NRAS intermediate",
            gpu);
      }
      pinned_.push_back(key);
    }

    const auto payload_value = parse_json(as_chars(*payload_bytes));
    const json::object* claims = payload_value ? payload_value->if_object() : nullptr;
    if (claims == nullptr) return malformed("the payload is not a JSON object");

    // J2.
    const json::string* iss = string_at(*claims, "iss");
    if (iss == nullptr || *iss != opts_.issuer) {
      return fail("J2",
                  "iss is " + (iss ? quoted(*iss) : std::string("missing")) + ", expected " + quoted(opts_.issuer));
    }

    // J3: all three times are required (an absent exp would make the token immortal).
    const auto nbf = time_at(*claims, "nbf");
    const auto iat = time_at(*claims, "iat");
    const auto exp = time_at(*claims, "exp");
    if (!nbf || !iat || !exp) return fail("J3", "nbf, iat and exp must all be integer NumericDates");
    const unix_time latest = now_ + opts_.skew;
    const auto at = [](unix_time t) { return std::to_string(to_unix_seconds(t)); };
    if (*nbf > latest) return fail("J3", "not valid before nbf " + at(*nbf) + " (now " + at(now_) + ")");
    if (*iat > latest) return fail("J3", "issued in the future, iat " + at(*iat) + " (now " + at(now_) + ")");
    if (!(now_ < *exp)) return fail("J3", "expired at exp " + at(*exp) + " (now " + at(now_) + ")");

    // J4: compared as bytes, so the hex case does not matter.
    const json::string* eat_nonce = string_at(*claims, "eat_nonce");
    const auto nonce = eat_nonce ? from_hex(*eat_nonce) : std::nullopt;
    if (!nonce || !equal_bytes(*nonce, nonce_)) {
      return fail("J4", "eat_nonce " + (eat_nonce ? quoted(*eat_nonce) : std::string("missing")) +
                            " is not the client nonce " + to_hex(nonce_));
    }
    return verified_token{std::string(*kid), *claims, *iat, *exp};
  }

 private:
  const jwks& keys_;
  byte_view nonce_;
  unix_time now_;
  const options& opts_;
  std::vector<const jwk*> pinned_;
};

// J9: the boolean appraisal claims of a claims-2.0 GPU token (§2.3). All must be present
// and true; any further x-nvidia-gpu-* boolean must be true as well.
constexpr std::array<std::string_view, 16> required_true_claims = {
    "x-nvidia-gpu-arch-check",
    "x-nvidia-gpu-attestation-report-parsed",
    "x-nvidia-gpu-attestation-report-nonce-match",
    "x-nvidia-gpu-attestation-report-signature-verified",
    "x-nvidia-gpu-attestation-report-cert-chain-validated",
    "x-nvidia-gpu-driver-rim-fetched",
    "x-nvidia-gpu-driver-rim-schema-validated",
    "x-nvidia-gpu-driver-rim-signature-verified",
    "x-nvidia-gpu-driver-rim-cert-validated",
    "x-nvidia-gpu-driver-rim-measurements-available",
    "x-nvidia-gpu-vbios-rim-fetched",
    "x-nvidia-gpu-vbios-rim-schema-validated",
    "x-nvidia-gpu-vbios-rim-signature-verified",
    "x-nvidia-gpu-vbios-rim-cert-validated",
    "x-nvidia-gpu-vbios-rim-measurements-available",
    "x-nvidia-gpu-vbios-index-no-conflict",
};
constexpr std::string_view driver_version_claim = "x-nvidia-gpu-driver-version";
constexpr std::string_view vbios_version_claim = "x-nvidia-gpu-vbios-version";

std::optional<failure> check_appraisal(const json::object& c, std::size_t i) {
  const auto fail = [&](std::string message) { return make_failure("J9", gpu_key(i) + ": " + message, i); };
  if (c.contains("x-nvidia-error-details")) return fail("NRAS reports x-nvidia-error-details");
  const json::string* measres = string_at(c, "measres");
  if (measres == nullptr || *measres != "success") {
    return fail("measres is " + (measres ? quoted(*measres) : std::string("missing")) + ", not \"success\"");
  }
  const json::value* secboot = c.if_contains("secboot");
  if (secboot == nullptr || !secboot->is_bool() || !secboot->get_bool()) return fail("secboot is not true");
  const json::string* dbgstat = string_at(c, "dbgstat");
  if (dbgstat == nullptr || *dbgstat != "disabled") {
    return fail("dbgstat is " + (dbgstat ? quoted(*dbgstat) : std::string("missing")) + ", not \"disabled\"");
  }
  if (const json::value* w = c.if_contains("x-nvidia-attestation-warning"); w != nullptr && !w->is_null()) {
    return fail("x-nvidia-attestation-warning is set: " + quoted(json::serialize(*w)));
  }
  for (const std::string_view name : required_true_claims) {
    if (!c.contains(name)) return fail(std::string(name) + " is missing");
  }
  for (const auto& [name, value] : c) {
    if (!name.starts_with("x-nvidia-gpu-")) continue;
    if (name == driver_version_claim || name == vbios_version_claim) continue;
    // A string "true" is not a boolean: only JSON true passes (fail closed on any other
    // type, as a future claim of unknown meaning cannot be judged).
    if (!value.is_bool() || !value.get_bool()) {
      return fail(std::string(name) + " is " + json::serialize(value) + ", not true");
    }
  }
  return std::nullopt;
}

result<gpu_claims> check_binding(const json::object& c, std::size_t i, const local_gpu& local, unix_time exp,
                                 const options& opts) {
  const auto fail = [&](std::string message) { return make_failure("J10", gpu_key(i) + ": " + message, i); };
  const json::string* ueid = string_at(c, "ueid");
  const json::string* driver = string_at(c, driver_version_claim);
  const json::string* vbios = string_at(c, vbios_version_claim);
  const json::string* hwmodel = string_at(c, "hwmodel");
  if (ueid == nullptr || driver == nullptr || vbios == nullptr || hwmodel == nullptr) {
    return fail("ueid, hwmodel, driver or VBIOS version claim missing");
  }
  if (ueid->empty() || *ueid != local.ueid_decimal) {
    return fail("ueid " + quoted(*ueid) + " is not the local leaf serial " + quoted(local.ueid_decimal));
  }
  if (driver->empty() || *driver != local.driver_version) {
    return fail("driver version " + quoted(*driver) + " is not the local " + quoted(local.driver_version));
  }
  // §1.2: NRAS prints the VBIOS version in upper case; the local formatting may not.
  if (vbios->empty() || !text::ascii_iequals(*vbios, local.vbios_version)) {
    return fail("VBIOS version " + quoted(*vbios) + " is not the local " + quoted(local.vbios_version));
  }
  if (std::find(opts.accepted_hwmodels.begin(), opts.accepted_hwmodels.end(), std::string_view(*hwmodel)) ==
      opts.accepted_hwmodels.end()) {
    return fail("hwmodel " + quoted(*hwmodel) + " is not accepted");
  }
  return gpu_claims{i, std::string(*hwmodel), std::string(*ueid), std::string(*driver), std::string(*vbios), exp};
}

/// J6 for GPU i: `submods["GPU-i"] == ["DIGEST", [alg, hex]]` with hex == SHA-256 of the
/// per-GPU compact JWS as received.
std::optional<failure> check_submod(const json::value& submod, std::string_view token, std::size_t i) {
  const auto fail = [&](std::string message) {
    return make_failure("J6", "submods[\"" + gpu_key(i) + "\"]: " + message, i);
  };
  const json::array* entry = submod.if_array();
  if (entry == nullptr || entry->size() != 2 || !(*entry)[0].is_string() || (*entry)[0].get_string() != "DIGEST" ||
      !(*entry)[1].is_array()) {
    return fail("not [\"DIGEST\", [alg, hex]]");
  }
  const json::array& digest = (*entry)[1].get_array();
  if (digest.size() != 2 || !digest[0].is_string() || !digest[1].is_string()) return fail("not [alg, hex]");
  // "SHA-256" is what NRAS writes, "SHA256" what NVIDIA's C++ SDK writes (§2.3).
  const json::string& alg = digest[0].get_string();
  if (alg != "SHA-256" && alg != "SHA256") return fail("digest algorithm " + quoted(alg) + " is not SHA-256");
  const auto expected = from_hex(digest[1].get_string());
  const sha256_digest actual = crypto::sha256(as_bytes(token));
  if (!expected || !equal_bytes(*expected, actual)) {
    return fail("digest is not SHA-256 of the " + gpu_key(i) + " token (" + to_hex(actual) + ")");
  }
  return std::nullopt;
}

}  // namespace

void throw_exception_from_error(const failure& f, const boost::source_location&) {
  throw std::runtime_error(f.check + ": " + f.message);
}

const jwk* jwks::find(std::string_view kid) const {
  for (const jwk& k : keys) {
    if (k.kid == kid) return &k;
  }
  return nullptr;
}

result<jwks> parse_jwks(std::string_view text) {
  const auto fail = [](std::string message) { return make_failure("jwks", std::move(message)); };
  if (text.size() > max_jwks_bytes) return fail("the JWKS is larger than 1 MiB");
  const auto doc = parse_json(text);
  const json::object* root = doc ? doc->if_object() : nullptr;
  const json::value* keys_value = root ? root->if_contains("keys") : nullptr;
  const json::array* entries = keys_value ? keys_value->if_array() : nullptr;
  if (entries == nullptr) return fail("not a JSON object with a \"keys\" array");
  if (entries->size() > max_jwks_keys) return fail("more than " + std::to_string(max_jwks_keys) + " keys");

  jwks out;
  for (std::size_t n = 0; n < entries->size(); ++n) {
    const std::string where = "keys[" + std::to_string(n) + "]";
    const json::object* e = (*entries)[n].if_object();
    const json::string* kty = e ? string_at(*e, "kty") : nullptr;
    if (kty == nullptr) return fail(where + " is not a JWK with a kty");
    // RFC 7517 §5: key types that are not understood are ignored. NRAS signs ES384 only.
    const json::string* crv = string_at(*e, "crv");
    if (*kty != "EC" || crv == nullptr || *crv != "P-384") continue;

    const json::string* kid = string_at(*e, "kid");
    if (kid == nullptr || kid->empty() || kid->size() > max_kid_chars) return fail(where + " has no usable kid");
    if (out.find(*kid) != nullptr) return fail("kid " + quoted(*kid) + " appears twice");
    if (const json::value* use = e->if_contains("use");
        use != nullptr && !(use->is_string() && use->get_string() == "sig")) {
      return fail(where + ": use is not \"sig\"");
    }
    if (const json::value* alg = e->if_contains("alg");
        alg != nullptr && !(alg->is_string() && alg->get_string() == "ES384")) {
      return fail(where + ": alg is not \"ES384\"");
    }
    // RFC 7518 §6.2.1.2: x and y are the full-length (48-byte) big-endian coordinates.
    const json::string* x = string_at(*e, "x");
    const json::string* y = string_at(*e, "y");
    const auto xb = x ? base64url_decode(*x) : std::nullopt;
    const auto yb = y ? base64url_decode(*y) : std::nullopt;
    if (!xb || !yb || xb->size() != 48 || yb->size() != 48) return fail(where + ": x, y are not 48-byte base64url");
    bytes xy = *xb;
    xy.insert(xy.end(), yb->begin(), yb->end());
    jwk k{std::string(*kid), crypto::p384_public_key_from_xy(xy), {}};
    if (!k.key) return fail(where + ": (x, y) is not a P-384 point");

    // RFC 7517 §4.7: x5c is standard (not url) base64 DER, and the first certificate
    // must carry the key the JWK describes.
    if (const json::value* x5c = e->if_contains("x5c")) {
      const json::array* chain = x5c->if_array();
      if (chain == nullptr || chain->empty() || chain->size() > max_x5c_certificates) {
        return fail(where + ": x5c is not an array of 1 to " + std::to_string(max_x5c_certificates) + " certificates");
      }
      for (const json::value& c : *chain) {
        const auto der = c.is_string() ? base64_decode(c.get_string()) : std::nullopt;
        if (!der || der->empty()) return fail(where + ": an x5c entry is not base64");
        k.x5c_der.push_back(*der);
      }
      const crypto::x509_ptr leaf = crypto::parse_der_certificate(k.x5c_der.front());
      EVP_PKEY* leaf_key = leaf ? X509_get0_pubkey(leaf.get()) : nullptr;
      const bool same_key = leaf_key != nullptr && EVP_PKEY_eq(leaf_key, k.key.get()) == 1;
      ERR_clear_error();
      if (!same_key) return fail(where + ": x5c[0] is not a certificate for the JWK's key");
    }
    out.keys.push_back(std::move(k));
  }
  if (out.keys.empty()) return fail("no EC P-384 key");
  return out;
}

bool key_chain_pinned(const jwk& key, unix_time at) {
  static const std::vector<std::string> nvidia(pinned_intermediate_spki_sha256.begin(),
                                               pinned_intermediate_spki_sha256.end());
  return key_chain_pinned(key, at, nvidia);
}

bool key_chain_pinned(const jwk& key, unix_time at, const std::vector<std::string>& pins) {
  if (key.x5c_der.size() < 2 || !key.key) return false;
  const crypto::x509_ptr leaf = crypto::parse_der_certificate(key.x5c_der[0]);
  const crypto::x509_ptr issuer = crypto::parse_der_certificate(key.x5c_der[1]);
  if (!leaf || !issuer) return false;
  EVP_PKEY* leaf_key = X509_get0_pubkey(leaf.get());
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer.get());
  // The JWK's key is re-compared: a jwk may be built without parse_jwks.
  const bool ok = leaf_key != nullptr && issuer_key != nullptr && EVP_PKEY_eq(leaf_key, key.key.get()) == 1 &&
                  X509_check_issued(issuer.get(), leaf.get()) == X509_V_OK && X509_verify(leaf.get(), issuer_key) == 1;
  ERR_clear_error();
  if (!ok) return false;
  const auto leaf_window = crypto::certificate_validity(leaf.get());
  const auto issuer_window = crypto::certificate_validity(issuer.get());
  if (!leaf_window || !issuer_window || !leaf_window->contains(at) || !issuer_window->contains(at)) return false;
  const std::string spki = to_hex(crypto::spki_sha256(issuer.get()));
  return std::find(pins.begin(), pins.end(), spki) != pins.end();
}

result<verdict> verify_response(std::string_view response_body, const jwks& keys, byte_view nonce32,
                                const std::vector<local_gpu>& local, unix_time now, const options& opts) {
  const auto malformed = [](std::string message) { return make_failure("input", std::move(message)); };
  if (response_body.size() > max_response_bytes) return malformed("the NRAS answer is larger than 1 MiB");
  if (nonce32.size() != 32) return malformed("the client nonce is not 32 bytes");
  if (local.empty() || local.size() > max_gpus) {
    return malformed("the local evidence lists " + std::to_string(local.size()) + " GPUs (1 to " +
                     std::to_string(max_gpus) + " expected)");
  }

  // §2.1: [["JWT", "<overall>"], {"GPU-0": "<jws>", …}].
  const auto doc = parse_json(response_body);
  const json::array* top = doc ? doc->if_array() : nullptr;
  const json::array* head = top && top->size() == 2 ? (*top)[0].if_array() : nullptr;
  const json::object* gpu_tokens = head ? (*top)[1].if_object() : nullptr;
  if (gpu_tokens == nullptr || head->size() != 2 || !(*head)[0].is_string() || (*head)[0].get_string() != "JWT" ||
      !(*head)[1].is_string()) {
    return malformed("the NRAS answer is not [[\"JWT\", token], {\"GPU-i\": token, …}]");
  }
  if (gpu_tokens->size() > max_gpus) return malformed("more than " + std::to_string(max_gpus) + " GPU tokens");

  token_verifier verifier(keys, nonce32, now, opts);
  auto overall = verifier.verify((*head)[1].get_string(), std::nullopt);
  if (!overall) return overall.error();
  const json::object& claims = overall->claims;

  // J5: JSON true only (a string "true" or "PASS" is not accepted).
  const json::value* att_result = claims.if_contains("x-nvidia-overall-att-result");
  if (att_result == nullptr || !att_result->is_bool() || !att_result->get_bool()) {
    return make_failure("J5", "x-nvidia-overall-att-result is " +
                                  (att_result ? json::serialize(*att_result) : std::string("missing")) + ", not true");
  }

  // J6: submods, the GPU tokens and the local evidence name the same GPUs 0..n-1. Equal
  // sizes plus every GPU-i present in both make the key sets equal.
  const json::value* submods_value = claims.if_contains("submods");
  const json::object* submods = submods_value ? submods_value->if_object() : nullptr;
  if (submods == nullptr) return make_failure("J6", "the overall token has no submods object");
  const std::size_t n = local.size();
  if (submods->size() != n || gpu_tokens->size() != n) {
    return make_failure("J6", "submods names " + std::to_string(submods->size()) + " GPUs, the answer carries " +
                                  std::to_string(gpu_tokens->size()) + " GPU tokens, the local evidence " +
                                  std::to_string(n));
  }
  std::vector<std::string_view> tokens;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string key = gpu_key(i);
    const json::value* submod = submods->if_contains(key);
    const json::value* token = gpu_tokens->if_contains(key);
    if (submod == nullptr || token == nullptr) {
      return make_failure("J6", key + " is missing from " + (submod ? "the GPU tokens" : "submods"), i);
    }
    if (!token->is_string()) return make_failure("input", key + " token is not a string", i);
    if (auto f = check_submod(*submod, token->get_string(), i)) return *f;
    tokens.push_back(token->get_string());
  }

  verdict out{overall->kid, overall->iat, overall->exp, {}};
  for (std::size_t i = 0; i < n; ++i) {
    auto gpu = verifier.verify(tokens[i], i);  // J8
    if (!gpu) return gpu.error();
    if (auto f = check_appraisal(gpu->claims, i)) return *f;               // J9
    auto bound = check_binding(gpu->claims, i, local[i], gpu->exp, opts);  // J10
    if (!bound) return bound.error();
    out.expires = std::min(out.expires, gpu->exp);
    out.gpus.push_back(std::move(*bound));
  }
  return out;
}

}  // namespace vp::gpu::nras
