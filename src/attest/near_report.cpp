#include "attest/near_report.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <utility>

#include "core/hex.hpp"
#include "core/text.hpp"

namespace vp::attest {
namespace {

namespace json = boost::json;

error malformed(std::string message) { return make_error(errc::malformed_report, std::move(message)); }

std::string kind_name(const json::value& v) { return std::string(json::to_string(v.kind())); }

std::string field_path(const std::string& pointer, std::string_view name) {
  return pointer + "/" + std::string(name);
}

// Untrusted text quoted in a message: bounded and printable, so a hostile report cannot
// flood logs or inject control characters.
std::string excerpt(std::string_view s) { return text::quoted_excerpt(s, 40); }

// An optional field: absent and JSON null both mean "not provided" (serde emits either,
// depending on the server version).
const json::value* optional_field(const json::object& o, std::string_view name) {
  const json::value* v = o.if_contains(name);
  return v == nullptr || v->is_null() ? nullptr : v;
}

result<std::string_view> string_value(const json::value& v, const std::string& path) {
  const json::string* s = v.if_string();
  if (s == nullptr) return malformed(path + " must be a string, got " + kind_name(v));
  return std::string_view(*s);
}

result<std::string_view> required_string(const json::object& o, const std::string& pointer, std::string_view name) {
  const json::value* v = o.if_contains(name);
  if (v == nullptr || v->is_null()) return malformed(field_path(pointer, name) + " is missing");
  return string_value(*v, field_path(pointer, name));
}

// Strict hex of an exact decoded length (fingerprints, nonces, report_data, keys).
template <std::size_t N>
result<std::array<std::uint8_t, N>> fixed_hex(std::string_view text, const std::string& path) {
  if (text.size() != 2 * N) {
    return malformed(path + " must be " + std::to_string(2 * N) + " hex digits, got " + std::to_string(text.size()) +
                     " characters");
  }
  const auto decoded = from_hex(text);
  if (!decoded) return malformed(path + " is not hex: " + excerpt(text));
  std::array<std::uint8_t, N> out{};
  std::copy(decoded->begin(), decoded->end(), out.begin());
  return out;
}

template <std::size_t N>
result<std::optional<std::array<std::uint8_t, N>>> optional_fixed_hex(const json::object& o,
                                                                       const std::string& pointer,
                                                                       std::string_view name) {
  const json::value* v = optional_field(o, name);
  if (v == nullptr) return std::optional<std::array<std::uint8_t, N>>{};
  const std::string path = field_path(pointer, name);
  auto text = string_value(*v, path);
  if (!text) return text.error();
  auto value = fixed_hex<N>(*text, path);
  if (!value) return value.error();
  return std::optional<std::array<std::uint8_t, N>>{*value};
}

result<signing_algorithm> parse_signing_algo(const json::object& o, const std::string& pointer) {
  auto text = required_string(o, pointer, "signing_algo");
  if (!text) return text.error();
  if (const auto algo = signing_algorithm_named(*text)) return *algo;
  return make_error(errc::unsupported_signing_algo, field_path(pointer, "signing_algo") + " is " + excerpt(*text) +
                                                        "; only \"ecdsa\" and \"ed25519\" are supported");
}

// §1.3/§1.6: ecdsa addresses are "0x" + 40 hex digits (Ethereum address, either case:
// EIP-55 checksummed addresses are mixed case), ed25519 addresses are the 64-hex public
// key without prefix. Lengths are exact: report_data binds exactly these bytes, and an
// identity of another length would hash differently from what the server meant.
result<bytes> parse_signing_address(std::string_view text, signing_algorithm algo, const std::string& path) {
  if (auto decoded = decode_signing_address(algo, text)) return std::move(*decoded);
  if (algo == signing_algorithm::ecdsa) {
    if (text.size() != 42 || !text.starts_with("0x")) {
      return malformed(path + " (ecdsa) must be \"0x\" + 40 hex digits, got " + std::to_string(text.size()) +
                       " characters: " + excerpt(text));
    }
    return malformed(path + " is not hex: " + excerpt(text.substr(2)));
  }
  if (text.size() != 64) {
    return malformed(path + " (ed25519) must be 64 hex digits, got " + std::to_string(text.size()) +
                     " characters: " + excerpt(text));
  }
  return malformed(path + " is not hex: " + excerpt(text));
}

// ecdsa: 128 hex = X‖Y (what inference-proxy emits); 130 hex starting "04" (the SEC1
// uncompressed encoding) is accepted and normalised to X‖Y. ed25519: 64 hex.
result<bytes> parse_signing_public_key(std::string_view text, signing_algorithm algo, const std::string& path) {
  if (algo == signing_algorithm::ed25519) {
    auto decoded = fixed_hex<32>(text, path);
    if (!decoded) return decoded.error();
    return bytes(decoded->begin(), decoded->end());
  }
  if (text.size() == 130 && text.starts_with("04")) text.remove_prefix(2);
  if (text.size() != 128) {
    return malformed(path + " (ecdsa) must be 128 hex digits (X‖Y), got " + std::to_string(text.size()) +
                     " characters");
  }
  auto decoded = from_hex(text);
  if (!decoded) return malformed(path + " is not hex: " + excerpt(text));
  return std::move(*decoded);
}

// A string field of bounded length, absent or null meaning "not provided".
result<std::optional<std::string>> optional_bounded_string(const json::object& o, const std::string& pointer,
                                                           std::string_view name, std::size_t limit) {
  const json::value* v = optional_field(o, name);
  if (v == nullptr) return std::optional<std::string>{};
  const std::string path = field_path(pointer, name);
  auto text = string_value(*v, path);
  if (!text) return text.error();
  if (text->size() > limit) {
    return malformed(path + " is " + std::to_string(text->size()) + " bytes, over the limit of " +
                     std::to_string(limit));
  }
  return std::optional<std::string>{std::string(*text)};
}

// Hex identities in info (app_id, instance_id, compose_hash, os_image_hash): their
// lengths are judged by the checks that compare them, here only bounded.
result<std::optional<bytes>> optional_hex_bytes(const json::object& o, const std::string& pointer,
                                                std::string_view name) {
  const json::value* v = optional_field(o, name);
  if (v == nullptr) return std::optional<bytes>{};
  const std::string path = field_path(pointer, name);
  auto text = string_value(*v, path);
  if (!text) return text.error();
  if (text->size() > 2 * max_info_id_size) {
    return malformed(path + " is " + std::to_string(text->size()) + " characters, over the limit of " +
                     std::to_string(2 * max_info_id_size));
  }
  auto decoded = from_hex(*text);
  if (!decoded) return malformed(path + " is not hex: " + excerpt(*text));
  return std::optional<bytes>{std::move(*decoded)};
}

result<std::optional<std::array<std::uint8_t, 48>>> optional_register(const json::object& o,
                                                                     const std::string& pointer,
                                                                     std::string_view name) {
  return optional_fixed_hex<48>(o, pointer, name);
}

// JSON text carried inside a string (§1.4, §1.5): parsed on its own, with the same depth
// bound as the body and a size bound before parsing. The result owns its memory.
result<std::shared_ptr<const json::value>> parse_embedded_json(std::string_view text, const std::string& path) {
  if (text.size() > max_embedded_json_size) {
    return malformed(path + " is a " + std::to_string(text.size()) + "-byte JSON string, over the limit of " +
                     std::to_string(max_embedded_json_size));
  }
  json::parse_options options;
  options.max_depth = max_report_json_depth;
  json::error_code ec;
  json::value parsed = json::parse(text, ec, json::make_shared_resource<json::monotonic_resource>(), options);
  if (ec) return malformed(path + " is a string but not JSON text: " + ec.message());
  return std::make_shared<const json::value>(std::move(parsed));
}

// A nested value that may be JSON in place or a string holding JSON text. `owner` keeps
// the in-place value alive; an embedded one keeps itself.
struct nested_value {
  json_encoding encoding = json_encoding::json;
  const json::value* value = nullptr;
  std::shared_ptr<const void> owner;
};

result<nested_value> unwrap_nested(const json::value& v, const std::string& path, std::shared_ptr<const void> owner) {
  if (const json::string* s = v.if_string()) {
    auto parsed = parse_embedded_json(*s, path);
    if (!parsed) return parsed.error();
    const json::value* inner = parsed->get();
    return nested_value{json_encoding::json_string, inner, std::move(*parsed)};
  }
  return nested_value{json_encoding::json, &v, std::move(owner)};
}

result<near_event_log> parse_event_log_value(const json::value& v, const std::string& path,
                                             const std::shared_ptr<const void>& owner) {
  if (!v.is_array() && !v.is_string()) {
    return malformed(path + " must be an array or a string holding a JSON array, got " + kind_name(v));
  }
  auto nested = unwrap_nested(v, path, owner);
  if (!nested) return nested.error();
  const json::array* entries = nested->value->if_array();
  if (entries == nullptr) {
    return malformed(path + " is a string holding JSON " + kind_name(*nested->value) + ", not an array");
  }
  if (entries->size() > max_event_log_entries) {
    return malformed(path + " has " + std::to_string(entries->size()) + " entries, over the limit of " +
                     std::to_string(max_event_log_entries));
  }
  return near_event_log{nested->encoding, std::shared_ptr<const json::array>(nested->owner, entries)};
}

result<std::optional<near_event_log>> optional_event_log(const json::object& o, const std::string& pointer,
                                                         const std::shared_ptr<const void>& owner) {
  const json::value* v = optional_field(o, "event_log");
  if (v == nullptr) return std::optional<near_event_log>{};
  auto log = parse_event_log_value(*v, field_path(pointer, "event_log"), owner);
  if (!log) return log.error();
  return std::optional<near_event_log>{std::move(*log)};
}

// An object that may also arrive as a string holding one (info, tcb_info).
result<nested_value> nested_object(const json::value& v, const std::string& path,
                                   const std::shared_ptr<const void>& owner) {
  if (!v.is_object() && !v.is_string()) {
    return malformed(path + " must be an object or a string holding a JSON object, got " + kind_name(v));
  }
  auto nested = unwrap_nested(v, path, owner);
  if (!nested) return nested.error();
  if (!nested->value->is_object()) {
    return malformed(path + " is a string holding JSON " + kind_name(*nested->value) + ", not an object");
  }
  return nested;
}

result<dstack_tcb_info> parse_tcb_info_value(const json::value& v, const std::string& path,
                                             const std::shared_ptr<const void>& owner) {
  auto nested = nested_object(v, path, owner);
  if (!nested) return nested.error();
  const json::object& o = nested->value->get_object();
  dstack_tcb_info t;
  t.encoding = nested->encoding;

  auto mrtd = optional_register(o, path, "mrtd");
  if (!mrtd) return mrtd.error();
  t.mrtd = *mrtd;
  for (std::size_t i = 0; i < t.rtmr.size(); ++i) {
    auto reg = optional_register(o, path, "rtmr" + std::to_string(i));
    if (!reg) return reg.error();
    t.rtmr[i] = *reg;
  }
  auto compose_hash = optional_hex_bytes(o, path, "compose_hash");
  if (!compose_hash) return compose_hash.error();
  t.compose_hash = std::move(*compose_hash);
  auto os_image_hash = optional_hex_bytes(o, path, "os_image_hash");
  if (!os_image_hash) return os_image_hash.error();
  t.os_image_hash = std::move(*os_image_hash);
  // The decoded string content is the manifest's exact bytes: JSON string escapes are
  // transport, the manifest is what dstack hashed.
  auto app_compose = optional_bounded_string(o, path, "app_compose", max_app_compose_size);
  if (!app_compose) return app_compose.error();
  t.app_compose = std::move(*app_compose);
  auto log = optional_event_log(o, path, nested->owner);
  if (!log) return log.error();
  t.event_log = std::move(*log);
  return t;
}

result<dstack_info> parse_info_value(const json::value& v, const std::string& path,
                                     const std::shared_ptr<const void>& owner) {
  auto nested = nested_object(v, path, owner);
  if (!nested) return nested.error();
  const json::object& o = nested->value->get_object();
  dstack_info info;
  info.encoding = nested->encoding;

  for (auto [name, target] : {std::pair{"app_id", &info.app_id}, std::pair{"instance_id", &info.instance_id},
                              std::pair{"compose_hash", &info.compose_hash},
                              std::pair{"os_image_hash", &info.os_image_hash}}) {
    auto value = optional_hex_bytes(o, path, name);
    if (!value) return value.error();
    *target = std::move(*value);
  }
  auto app_name = optional_bounded_string(o, path, "app_name", max_model_name_size);
  if (!app_name) return app_name.error();
  info.app_name = std::move(*app_name);
  auto key_provider = optional_bounded_string(o, path, "key_provider_info", max_embedded_json_size);
  if (!key_provider) return key_provider.error();
  info.key_provider_info = std::move(*key_provider);
  if (const json::value* t = optional_field(o, "tcb_info")) {
    auto tcb = parse_tcb_info_value(*t, field_path(path, "tcb_info"), nested->owner);
    if (!tcb) return tcb.error();
    info.tcb_info = std::move(*tcb);
  }
  return info;
}

result<bytes> parse_intel_quote(const json::object& o, const std::string& pointer) {
  const std::string path = field_path(pointer, "intel_quote");
  auto text = required_string(o, pointer, "intel_quote");
  if (!text) return text.error();
  // Bound before decoding: the decode allocates.
  if (text->size() > 2 * max_intel_quote_size) {
    return malformed(path + " is " + std::to_string(text->size()) + " characters, over the limit of " +
                     std::to_string(2 * max_intel_quote_size));
  }
  if (text->empty()) return malformed(path + " is empty");
  auto decoded = from_hex(*text);
  if (!decoded) {
    return malformed(path + " is not hex (" + std::to_string(text->size()) + " characters): " + excerpt(*text));
  }
  return std::move(*decoded);
}

}  // namespace

std::string_view to_string(signing_algorithm a) noexcept {
  switch (a) {
    case signing_algorithm::ecdsa: return "ecdsa";
    case signing_algorithm::ed25519: return "ed25519";
  }
  return "unknown";
}

std::string_view to_string(attestation_role r) noexcept {
  switch (r) {
    case attestation_role::model: return "model";
    case attestation_role::gateway: return "gateway";
  }
  return "unknown";
}

std::string_view to_string(json_encoding e) noexcept {
  switch (e) {
    case json_encoding::json: return "json";
    case json_encoding::json_string: return "json-string";
  }
  return "unknown";
}

std::string_view to_string(report_form f) noexcept {
  switch (f) {
    case report_form::direct: return "direct";
    case report_form::gateway: return "gateway";
  }
  return "unknown";
}

std::optional<signing_algorithm> signing_algorithm_named(std::string_view text) noexcept {
  if (text == "ecdsa") return signing_algorithm::ecdsa;
  if (text == "ed25519") return signing_algorithm::ed25519;
  return std::nullopt;
}

std::optional<bytes> decode_signing_address(signing_algorithm algo, std::string_view text) {
  if (algo == signing_algorithm::ecdsa) {
    if (text.size() != 42 || !text.starts_with("0x")) return std::nullopt;
    text.remove_prefix(2);
  } else if (text.size() != 64) {
    return std::nullopt;
  }
  return from_hex(text);
}

std::string format_signing_address(signing_algorithm algo, byte_view address) {
  return algo == signing_algorithm::ecdsa ? "0x" + to_hex(address) : to_hex(address);
}

result<near_attestation> parse_attestation(std::shared_ptr<const json::object> raw, std::string json_pointer,
                                           attestation_role role) {
  if (raw == nullptr) return malformed(json_pointer + ": no attestation object");
  const json::object& o = *raw;
  near_attestation a;
  a.role = role;

  auto quote = parse_intel_quote(o, json_pointer);
  if (!quote) return quote.error();
  a.intel_quote = std::move(*quote);

  auto algo = parse_signing_algo(o, json_pointer);
  if (!algo) return algo.error();
  a.signing_algo = *algo;

  {
    const std::string path = field_path(json_pointer, "signing_address");
    auto text = required_string(o, json_pointer, "signing_address");
    if (!text) return text.error();
    auto address = parse_signing_address(*text, a.signing_algo, path);
    if (!address) return address.error();
    a.signing_address = std::move(*address);
  }

  if (const json::value* v = optional_field(o, "signing_public_key")) {
    const std::string path = field_path(json_pointer, "signing_public_key");
    auto text = string_value(*v, path);
    if (!text) return text.error();
    auto key = parse_signing_public_key(*text, a.signing_algo, path);
    if (!key) return key.error();
    a.signing_public_key = std::move(*key);
  }

  auto fingerprint = optional_fixed_hex<32>(o, json_pointer, "tls_cert_fingerprint");
  if (!fingerprint) return fingerprint.error();
  a.tls_cert_fingerprint = *fingerprint;

  auto nonce = optional_fixed_hex<32>(o, json_pointer, "request_nonce");
  if (!nonce) return nonce.error();
  a.request_nonce = *nonce;

  auto report_data = optional_fixed_hex<64>(o, json_pointer, "report_data");
  if (!report_data) return report_data.error();
  a.report_data = *report_data;

  if (const json::value* v = optional_field(o, "model_name")) {
    const std::string path = field_path(json_pointer, "model_name");
    auto text = string_value(*v, path);
    if (!text) return text.error();
    if (text->size() > max_model_name_size) {
      return malformed(path + " is " + std::to_string(text->size()) + " bytes, over the limit of " +
                       std::to_string(max_model_name_size));
    }
    a.model_name = std::string(*text);
  }

  auto log = optional_event_log(o, json_pointer, raw);
  if (!log) return log.error();
  a.event_log = std::move(*log);

  if (const json::value* v = optional_field(o, "info")) {
    auto info = parse_info_value(*v, field_path(json_pointer, "info"), raw);
    if (!info) return info.error();
    a.info = std::move(*info);
  }

  a.json_pointer = std::move(json_pointer);
  a.raw = std::move(raw);
  return a;
}

const near_attestation* near_report_document::find(std::string_view json_pointer) const {
  for (const auto& a : attestations) {
    if (a.json_pointer == json_pointer) return &a;
  }
  return nullptr;
}

result<near_report_document> parse_report_document(std::string_view body) {
  if (body.size() > max_report_body_size) {
    return malformed("report body is " + std::to_string(body.size()) + " bytes, over the limit of " +
                     std::to_string(max_report_body_size));
  }
  json::parse_options options;
  options.max_depth = max_report_json_depth;
  json::error_code ec;
  // One arena for the whole immutable document: a report is a few hundred strings
  // parsed once and freed together.
  json::value parsed = json::parse(body, ec, json::make_shared_resource<json::monotonic_resource>(), options);
  if (ec) return malformed("report body is not JSON: " + ec.message());

  // Heap-held and never mutated again, so that pointers into it (near_attestation::raw)
  // stay valid for as long as anyone holds one.
  auto root = std::make_shared<const json::value>(std::move(parsed));
  const json::object* top = root->if_object();
  if (top == nullptr) return malformed("report body must be a JSON object, got " + kind_name(*root));

  const bool direct = top->contains("intel_quote");
  const bool gateway = top->contains("gateway_attestation");
  if (direct && gateway) {
    return malformed("report body has both intel_quote and gateway_attestation at the top level: "
                     "neither the direct nor the gateway form");
  }
  if (!direct && !gateway) {
    return malformed("report body has neither intel_quote (direct form) nor gateway_attestation (gateway form)");
  }

  near_report_document doc;
  doc.root = root;
  if (direct) {
    doc.form = report_form::direct;
    auto a = parse_attestation(std::shared_ptr<const json::object>(root, top), "", attestation_role::model);
    if (!a) return a.error();
    doc.attestations.push_back(std::move(*a));
    return doc;
  }

  doc.form = report_form::gateway;
  const json::value& gw_value = *top->if_contains("gateway_attestation");
  const json::object* gw = gw_value.if_object();
  if (gw == nullptr) return malformed("/gateway_attestation must be an object, got " + kind_name(gw_value));
  const json::value* models_value = top->if_contains("model_attestations");
  if (models_value == nullptr || models_value->is_null()) {
    return malformed("/model_attestations is missing: a gateway report must carry the model CVM's attestation");
  }
  const json::array* models = models_value->if_array();
  if (models == nullptr) return malformed("/model_attestations must be an array, got " + kind_name(*models_value));
  if (models->empty()) {
    return malformed("/model_attestations is empty: a gateway report must carry the model CVM's attestation");
  }
  if (models->size() > max_model_attestations) {
    return malformed("/model_attestations has " + std::to_string(models->size()) + " entries, over the limit of " +
                     std::to_string(max_model_attestations));
  }

  auto g = parse_attestation(std::shared_ptr<const json::object>(root, gw), "/gateway_attestation",
                             attestation_role::gateway);
  if (!g) return g.error();
  doc.attestations.push_back(std::move(*g));

  for (std::size_t i = 0; i < models->size(); ++i) {
    const std::string pointer = "/model_attestations/" + std::to_string(i);
    const json::object* m = (*models)[i].if_object();
    if (m == nullptr) return malformed(pointer + " must be an object, got " + kind_name((*models)[i]));
    auto a = parse_attestation(std::shared_ptr<const json::object>(root, m), pointer, attestation_role::model);
    if (!a) return a.error();
    doc.attestations.push_back(std::move(*a));
  }
  return doc;
}

}  // namespace vp::attest
