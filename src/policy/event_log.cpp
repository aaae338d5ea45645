#include "policy/event_log.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <utility>

#include "core/hex.hpp"
#include "crypto/digest.hpp"

namespace vp::policy {
namespace {

namespace json = boost::json;

event_log_error failure(std::string message) { return event_log_error{std::move(message)}; }

std::string kind_name(const json::value& v) { return std::string(json::to_string(v.kind())); }

// Integers as Boost.JSON may hold them (int64 or uint64), bounded to u32.
std::optional<std::uint32_t> as_u32(const json::value& v) {
  if (const auto* i = v.if_int64()) {
    if (*i >= 0 && *i <= std::numeric_limits<std::uint32_t>::max()) return static_cast<std::uint32_t>(*i);
    return std::nullopt;
  }
  if (const auto* u = v.if_uint64()) {
    if (*u <= std::numeric_limits<std::uint32_t>::max()) return static_cast<std::uint32_t>(*u);
  }
  return std::nullopt;
}

event_log_result<std::uint32_t> required_u32(const json::object& o, const std::string& path, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return failure(path + "/" + std::string(key) + " is missing");
  const auto n = as_u32(*v);
  if (!n) return failure(path + "/" + std::string(key) + " must be an unsigned 32-bit integer, got " + kind_name(*v));
  return *n;
}

event_log_result<std::string_view> required_string(const json::object& o, const std::string& path,
                                                   std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return failure(path + "/" + std::string(key) + " is missing");
  const json::string* s = v->if_string();
  if (s == nullptr) return failure(path + "/" + std::string(key) + " must be a string, got " + kind_name(*v));
  return std::string_view(*s);
}

event_log_result<bytes> bounded_hex(std::string_view text, const std::string& field_path) {
  if (text.size() > 2 * max_event_payload_size) {
    return failure(field_path + " is " + std::to_string(text.size()) + " hex digits, over the limit of " +
                   std::to_string(2 * max_event_payload_size));
  }
  auto decoded = from_hex(text);
  if (!decoded) return failure(field_path + " is not hex (" + std::to_string(text.size()) + " characters)");
  return std::move(*decoded);
}

event_log_result<tdx_event> parse_event(const json::value& entry, const std::string& path) {
  const json::object* o = entry.if_object();
  if (o == nullptr) return failure(path + " must be an object, got " + kind_name(entry));
  tdx_event e;

  auto imr = required_u32(*o, path, "imr");
  if (!imr) return imr.error();
  if (*imr > 3) return failure(path + "/imr is " + std::to_string(*imr) + "; TDX has RTMR0-3 only");
  e.imr = *imr;

  auto type = required_u32(*o, path, "event_type");
  if (!type) return type.error();
  e.event_type = *type;

  auto digest_text = required_string(*o, path, "digest");
  if (!digest_text) return digest_text.error();
  if (digest_text->size() != 2 * e.digest.size()) {
    return failure(path + "/digest must be 96 hex digits (SHA-384), got " + std::to_string(digest_text->size()) +
                   " characters");
  }
  auto digest = from_hex(*digest_text);
  if (!digest) return failure(path + "/digest is not hex");
  std::copy(digest->begin(), digest->end(), e.digest.begin());

  auto name = required_string(*o, path, "event");
  if (!name) return name.error();
  if (name->size() > max_event_name_size) {
    return failure(path + "/event is " + std::to_string(name->size()) + " bytes, over the limit of " +
                   std::to_string(max_event_name_size));
  }
  e.name = std::string(*name);

  auto payload_text = required_string(*o, path, "event_payload");
  if (!payload_text) return payload_text.error();
  auto payload = bounded_hex(*payload_text, path + "/event_payload");
  if (!payload) return payload.error();
  e.payload = std::move(*payload);

  if (const json::value* v = o->if_contains("version"); v != nullptr && !v->is_null()) {
    const auto version = as_u32(*v);
    if (version == 1u) {
      e.version = runtime_digest_version::v1;
    } else if (version == 2u) {
      e.version = runtime_digest_version::v2;
    } else {
      // An unknown digest scheme cannot be recomputed: refusing it is the only safe reading.
      return failure(path + "/version must be 1 or 2, got " +
                     (version ? std::to_string(*version) : kind_name(*v)));
    }
  }
  if (const json::value* v = o->if_contains("preimage"); v != nullptr && !v->is_null()) {
    const json::string* s = v->if_string();
    if (s == nullptr) return failure(path + "/preimage must be a string, got " + kind_name(*v));
    auto preimage = bounded_hex(*s, path + "/preimage");
    if (!preimage) return preimage.error();
    e.preimage = std::move(*preimage);
  }
  return e;
}

}  // namespace

void throw_exception_from_error(const event_log_error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

event_log_result<std::vector<tdx_event>> parse_event_log(const json::array& entries, std::string_view json_pointer) {
  std::vector<tdx_event> events;
  events.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto e = parse_event(entries[i], std::string(json_pointer) + "/" + std::to_string(i));
    if (!e) return e.error();
    events.push_back(std::move(*e));
  }
  return events;
}

bytes runtime_event_preimage(std::string_view name, byte_view payload, runtime_digest_version version) {
  if (version == runtime_digest_version::v2) {
    // RFC 8785 for this fixed shape: keys in code-unit order (name < payload < type), no
    // white space, an integer, and strings escaped as ECMAScript does — which is exactly
    // Boost.JSON's serializer (\b \t \n \f \r short forms, other controls as \u00xx in
    // lower case, '"' and '\' escaped, everything else verbatim UTF-8).
    json::object o;
    o["name"] = json::string_view(name.data(), name.size());
    o["payload"] = to_hex(payload);
    o["type"] = static_cast<std::int64_t>(dstack_runtime_event_type);
    const std::string text = json::serialize(o);
    return bytes(text.begin(), text.end());
  }
  bytes out;
  out.reserve(4 + 1 + name.size() + 1 + payload.size());
  for (unsigned shift = 0; shift < 32; shift += 8) {
    out.push_back(static_cast<std::uint8_t>((dstack_runtime_event_type >> shift) & 0xff));
  }
  out.push_back(':');
  out.insert(out.end(), name.begin(), name.end());
  out.push_back(':');
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

tdx::measurement runtime_event_digest(std::string_view name, byte_view payload, runtime_digest_version version) {
  return crypto::sha384(runtime_event_preimage(name, payload, version));
}

std::array<tdx::measurement, 4> replay_rtmrs(std::span<const tdx_event> events) {
  std::array<tdx::measurement, 4> rtmr{};
  for (const tdx_event& e : events) {
    if (e.imr >= rtmr.size()) continue;  // parse_event_log never yields one
    rtmr[e.imr] = crypto::sha384({rtmr[e.imr], e.digest});
  }
  return rtmr;
}

std::vector<runtime_digest_mismatch> check_runtime_digests(std::span<const tdx_event> events) {
  std::vector<runtime_digest_mismatch> out;
  for (std::size_t i = 0; i < events.size(); ++i) {
    const tdx_event& e = events[i];
    if (!e.is_runtime()) continue;
    const bytes preimage = runtime_event_preimage(e.name, e.payload, e.version);
    const tdx::measurement computed = crypto::sha384(preimage);
    const bool preimage_mismatch = e.preimage && !equal_bytes(*e.preimage, preimage);
    if (computed != e.digest || preimage_mismatch) {
      out.push_back(runtime_digest_mismatch{i, e.name, e.digest, computed, preimage_mismatch});
    }
  }
  return out;
}

}  // namespace vp::policy
