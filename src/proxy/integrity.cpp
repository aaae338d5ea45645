#include "proxy/integrity.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <array>

#include "core/hex.hpp"
#include "core/text.hpp"

namespace vp::proxy {

namespace {

template <class Mode, std::size_t N>
std::optional<Mode> parse_mode(std::string_view text, const std::array<std::pair<std::string_view, Mode>, N>& names) {
  for (const auto& [name, mode] : names) {
    if (name == text) return mode;
  }
  return std::nullopt;
}

constexpr std::array<std::pair<std::string_view, e2ee_mode>, 3> e2ee_names{
    {{"off", e2ee_mode::off}, {"on", e2ee_mode::on}, {"required", e2ee_mode::required}}};
constexpr std::array<std::pair<std::string_view, signature_mode>, 3> signature_names{
    {{"off", signature_mode::off}, {"check", signature_mode::check}, {"enforce", signature_mode::enforce}}};

/// The proxy seals JSON bodies only: multipart uploads (images/edits, audio) would need
/// their parts rewritten.
bool is_json_content_type(std::string_view content_type) {
  const auto semicolon = content_type.find(';');
  std::string_view media = content_type.substr(0, semicolon);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  return media.empty() || text::ascii_iequals(media, "application/json");
}

bool carries_content(std::string_view method, std::string_view body) {
  return !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
}

error_response key_unbound(std::string_view why) {
  return verification_failed("e2ee_key_unbound",
                             "end-to-end encryption refused: " + std::string(why) +
                                 " (nothing is encrypted to a key the quote does not bind)");
}

}  // namespace

std::optional<e2ee_mode> parse_e2ee_mode(std::string_view text) noexcept { return parse_mode(text, e2ee_names); }
std::optional<signature_mode> parse_signature_mode(std::string_view text) noexcept {
  return parse_mode(text, signature_names);
}

std::string_view to_string(e2ee_mode m) noexcept {
  for (const auto& [name, mode] : e2ee_names) {
    if (mode == m) return name;
  }
  return "?";
}

std::string_view to_string(signature_mode m) noexcept {
  for (const auto& [name, mode] : signature_names) {
    if (mode == m) return name;
  }
  return "?";
}

bool is_e2ee_request_field(std::string_view name) noexcept {
  for (std::string_view f : {"X-Signing-Algo", "X-Client-Pub-Key", "X-Encryption-Version", "X-Encrypt-All-Fields",
                             "X-Model-Pub-Key"}) {
    if (text::ascii_iequals(name, f)) return true;
  }
  return false;
}

boost::system::result<integrity_plan, error_response> plan_request(const request_facts& request, e2ee_mode e2ee,
                                                                   signature_mode signatures,
                                                                   const backend_identity* backend) {
  integrity_plan plan;
  plan.endpoint = e2ee::endpoint_for(request.method, request.path);
  if (plan.endpoint) {
    plan.verify_signature = signatures != signature_mode::off;
    // The signature hashes the entity as the backend produced it (§3.3): no content-coding.
    if (plan.verify_signature || e2ee != e2ee_mode::off) plan.fields.emplace_back("Accept-Encoding", "identity");
  }
  if (request.client_encrypts) {
    plan.e2ee = e2ee_applied::client;
    plan.label = "client";
    return plan;
  }
  if (e2ee == e2ee_mode::off) return plan;

  const bool sealable = plan.endpoint && is_json_content_type(request.content_type);
  if (!sealable) {
    if (e2ee == e2ee_mode::required && carries_content(request.method, request.body)) {
      const std::string what = plan.endpoint ? std::string(request.path) + " with a non-JSON body"
                                             : std::string(request.method) + " " + std::string(request.path);
      return bad_request(what + " cannot be end-to-end encrypted, and --e2ee required refuses to send it over the "
                                "attested TLS connection alone",
                         "e2ee_unsupported_endpoint");
    }
    return plan;
  }

  if (backend == nullptr || !backend->bound) return key_unbound("the backend has no attested signing key");
  std::optional<byte_view> public_key;
  if (backend->signing_public_key) public_key = byte_view(*backend->signing_public_key);
  auto recipient = e2ee::bind_recipient(backend->signing_algo, backend->signing_address, public_key);
  if (!recipient) return key_unbound(recipient.error());
  auto cipher = e2ee::field_cipher::for_client(*recipient);
  if (!cipher) {
    constexpr std::string_view why = "no key pair for end-to-end encryption: the random generator failed";
    return error_response{502, make_error_body(why, "server_error", "internal_error"), "internal_error", true, {},
                          std::string(why)};
  }

  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(request.body, ec);
  if (ec || !parsed.is_object()) {
    return bad_request("the body of " + std::string(request.path) +
                           " must be a JSON object for the proxy to encrypt it end to end",
                       "invalid_json");
  }
  auto sealed = e2ee::encrypt_request(*plan.endpoint, parsed.as_object(), *cipher);
  if (!sealed) {
    return bad_request("cannot encrypt " + sealed.error().pointer + ": " + sealed.error().why,
                       "e2ee_unsupported_field");
  }
  plan.body = boost::json::serialize(parsed);
  plan.fields.emplace_back("X-Signing-Algo", std::string(e2ee::signing_algo_header(cipher->kind())));
  plan.fields.emplace_back("X-Client-Pub-Key", cipher->public_key_hex());
  plan.fields.emplace_back("X-Encryption-Version", "2");
  plan.fields.emplace_back("X-Encrypt-All-Fields", "true");
  plan.e2ee = e2ee_applied::sealed;
  plan.label = std::string(e2ee::to_string(cipher->kind()));
  plan.cipher = std::make_shared<const e2ee::field_cipher>(std::move(*cipher));
  return plan;
}

boost::system::result<bool, error_response> pin_gateway_model(integrity_plan& plan, const backend_identity* model,
                                                              std::optional<std::string_view> client_model_key) {
  plan.fields.emplace_back("x-no-aliasing", "true");
  std::optional<std::string> attested_key;
  if (model != nullptr && model->bound) {
    // Pinned only once shown to be the key report_data binds, exactly as E2EE requires.
    std::optional<byte_view> public_key;
    if (model->signing_public_key) public_key = byte_view(*model->signing_public_key);
    if (auto bound = e2ee::bind_recipient(model->signing_algo, model->signing_address, public_key)) {
      attested_key = to_hex(bound->public_key());
    }
  }
  if (client_model_key && (!attested_key || !text::ascii_iequals(*client_model_key, *attested_key))) {
    return bad_request("X-Model-Pub-Key " + text::quoted_excerpt(*client_model_key, 140) +
                           (attested_key ? " is not the attested model key " + *attested_key
                                         : std::string(" names a key, but the model attestation binds none")) +
                           ": the gateway would route the request to a model CVM the proxy did not verify",
                       "e2ee_model_key_unattested");
  }
  // In place: a bool would convert to either alternative.
  if (!attested_key) return {boost::system::in_place_value, false};
  plan.fields.emplace_back("X-Model-Pub-Key", std::move(*attested_key));
  return {boost::system::in_place_value, true};
}

}  // namespace vp::proxy
