#include "policy/workload.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <utility>

#include "core/hex.hpp"
#include "core/text.hpp"
#include "crypto/digest.hpp"

namespace vp::policy {
namespace {

namespace json = boost::json;

/// Longest key-provider id accepted, decoded (a DER SPKI; NEAR's is 91 bytes).
constexpr std::size_t max_key_provider_id_size = 4096;

// key_provider_identity is an aggregate a string converts to: errors are built in place.
boost::system::result<key_provider_identity, std::string> key_provider_error(std::string message) {
  return {boost::system::in_place_error, std::move(message)};
}

factor make_factor(std::string name, factor_status status, std::string detail) {
  return factor{std::move(name), status, std::move(detail)};
}

std::string allowlist_note(const std::vector<bytes>& list) {
  return list.empty() ? "not pinned by the policy"
                      : "in the policy's allowlist (" + std::to_string(list.size()) +
                            (list.size() == 1 ? " value)" : " values)");
}

std::string not_allowlisted(std::string_view what, byte_view value, const std::vector<bytes>& list) {
  return std::string(what) + " " + to_hex(value) + " is not in the policy's allowlist (" +
         std::to_string(list.size()) + (list.size() == 1 ? " value)" : " values)");
}

constexpr const char* unverified_log =
    "not evaluated: the event log did not replay to the quote's RTMRs with matching runtime digests, "
    "so nothing it says is used";

// Which RTMR3 events are dstack's boot and which are the application's. dstack's boot
// (dstack-util system_setup.rs, stage 0) extends RTMR3 with the identity events (app-id,
// compose-hash, instance-id, mr-kms, os-image-hash, key-provider), then "system-ready"; only
// after that does it set up the guest agent and start the app's containers, which may then
// extend RTMR3 with events of any name. An identity is therefore only what precedes the
// first "system-ready" (dstack's own verifier reads it the same way: dstack-attest
// attestation.rs find_event stops at "system-ready"), and an identity-named event after it
// is refused outright: it can only have come from the application, and a verifier that
// reads the whole log would take it as the identity.
//
// A log with no "system-ready" at all is accepted, reading the whole log: dstack emits it
// before any application code runs and aborts the boot if it cannot, so RTMR3 without it
// was quoted before the application existed and every runtime event in it is the boot's.
// dstack's verifier does the same (find_event reads to the end when there is no
// "system-ready"). The factor detail says so, for a person to notice.
constexpr std::string_view system_ready_event = "system-ready";

bool is_rtmr3_runtime(const tdx_event& e, std::string_view name) {
  return e.imr == 3 && e.is_runtime() && e.name == name;
}

/// The one boot-time RTMR3 event of a name, or why there is none.
struct boot_event {
  const tdx_event* event = nullptr;  ///< set when found
  std::string problem;               ///< else the failing factor's detail
  std::string note;                  ///< appended to a passing detail ("" normally)
};

boot_event find_boot_event(std::span<const tdx_event> events, std::string_view name) {
  std::size_t ready = events.size();
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (is_rtmr3_runtime(events[i], system_ready_event)) {
      ready = i;
      break;
    }
  }
  std::vector<const tdx_event*> before;
  std::size_t after = 0;
  std::size_t first_after = 0;
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (!is_rtmr3_runtime(events[i], name)) continue;
    if (i < ready) {
      before.push_back(&events[i]);
    } else if (after++ == 0) {
      first_after = i;
    }
  }
  const std::string quoted = "\"" + std::string(name) + "\"";
  boot_event out;
  if (after != 0) {
    out.problem = (after == 1 ? "RTMR3 " + quoted + " event at log entry " + std::to_string(first_after)
                              : std::to_string(after) + " RTMR3 " + quoted + " events (the first at log entry " +
                                    std::to_string(first_after) + ")") +
                  " emitted after system-ready: written by the application, not by dstack's boot";
    return out;
  }
  const bool has_ready = ready != events.size();
  if (before.size() != 1) {
    out.problem = "RTMR3 has " + std::to_string(before.size()) + " " + quoted + " events" +
                  (has_ready ? " before system-ready" : "") + ", expected exactly one";
    return out;
  }
  out.event = before.front();
  if (!has_ready) {
    out.note = "; the log has no system-ready event, so every RTMR3 event is taken as dstack's boot (as dstack's "
               "own verifier does)";
  }
  return out;
}

/// An info field that must agree with the measured value, when the report carries it.
struct info_claim {
  std::string_view label;  ///< "info.app_id"
  const std::optional<bytes>* value;
};

// One identity taken from exactly one RTMR3 event, cross-checked with info and compared
// with an allowlist (nullptr: none applies to this identity).
factor identity_factor(std::string name, std::string_view event_name, std::span<const tdx_event> events,
                       std::initializer_list<info_claim> claims, const std::vector<bytes>* allowlist) {
  const boot_event found = find_boot_event(events, event_name);
  if (found.event == nullptr) return make_factor(std::move(name), factor_status::fail, found.problem);
  const bytes& measured = found.event->payload;
  std::string seen;
  for (const info_claim& claim : claims) {
    if (claim.value == nullptr || !claim.value->has_value()) continue;
    if (!equal_bytes(**claim.value, measured)) {
      return make_factor(std::move(name), factor_status::fail,
                         std::string(claim.label) + " " + to_hex(**claim.value) + " differs from the RTMR3 \"" +
                             std::string(event_name) + "\" event " + to_hex(measured));
    }
    seen += seen.empty() ? std::string(claim.label) : ", " + std::string(claim.label);
  }
  if (allowlist != nullptr && !allowlist->empty() && !allowlisted(*allowlist, measured)) {
    return make_factor(std::move(name), factor_status::fail,
                       not_allowlisted(std::string(event_name) + " (RTMR3 event)", measured, *allowlist));
  }
  std::string detail = to_hex(measured) + " from the RTMR3 \"" + std::string(event_name) + "\" event";
  if (!seen.empty()) detail += ", equal to " + seen;
  if (allowlist != nullptr) detail += "; " + allowlist_note(*allowlist);
  return make_factor(std::move(name), factor_status::pass, std::move(detail) + found.note);
}

factor key_provider_factor(const attest::dstack_info* info, std::span<const tdx_event> events,
                           const std::vector<bytes>& allowlist) {
  const boot_event found = find_boot_event(events, "key-provider");
  if (found.event == nullptr) return make_factor("key_provider", factor_status::fail, found.problem);
  auto measured = parse_key_provider(as_chars(found.event->payload), true);
  if (!measured) {
    return make_factor("key_provider", factor_status::fail, "RTMR3 \"key-provider\" event: " + measured.error());
  }
  std::string detail = "key provider " + text::quoted_excerpt(measured->name) + " id " + to_hex(measured->id) +
                       " from the RTMR3 \"key-provider\" event";
  if (info != nullptr && info->key_provider_info) {
    auto claimed = parse_key_provider(*info->key_provider_info, false);
    if (!claimed) {
      return make_factor("key_provider", factor_status::fail, "info.key_provider_info: " + claimed.error());
    }
    if (claimed->name != measured->name || claimed->id != measured->id) {
      return make_factor("key_provider", factor_status::fail,
                         "info.key_provider_info (" + text::quoted_excerpt(claimed->name) + ", id " +
                             to_hex(claimed->id) + ") differs from the RTMR3 \"key-provider\" event (" +
                             text::quoted_excerpt(measured->name) + ", id " + to_hex(measured->id) + ")");
    }
    detail += ", equal to info.key_provider_info";
  }
  if (!allowlist.empty() && !allowlisted(allowlist, measured->id)) {
    return make_factor("key_provider", factor_status::fail,
                       not_allowlisted("key provider " + text::quoted_excerpt(measured->name) + " id", measured->id,
                                       allowlist));
  }
  // The allowlist holds KMS root keys. dstack writes other providers' ids in the same field
  // ("local-sgx": an enclave measurement, "tpm": a TPM key, "none": ""), and their keys do
  // not come from a KMS at all: the same bytes under another name are not that KMS.
  if (!allowlist.empty() && measured->name != "kms") {
    return make_factor("key_provider", factor_status::fail,
                       "key provider " + text::quoted_excerpt(measured->name) + " (id " + to_hex(measured->id) +
                           ") is not a KMS; the policy pins KMS root keys");
  }
  return make_factor("key_provider", factor_status::pass, detail + "; " + allowlist_note(allowlist) + found.note);
}

}  // namespace

boost::system::result<key_provider_identity, std::string> parse_key_provider(std::string_view json_text,
                                                                             bool strict) {
  if (json_text.size() > 2 * max_key_provider_id_size + 1024) {
    return key_provider_error("JSON text of " + std::to_string(json_text.size()) + " bytes is too long");
  }
  json::parse_options options;
  options.max_depth = 4;
  json::error_code ec;
  const json::value v = json::parse(json_text, ec, {}, options);
  if (ec) return key_provider_error("not JSON: " + ec.message());
  const json::object* o = v.if_object();
  if (o == nullptr) return key_provider_error("not a JSON object");
  const json::value* name = o->if_contains("name");
  const json::value* id = o->if_contains("id");
  if (name == nullptr || !name->is_string()) return key_provider_error("\"name\" is missing or not a string");
  if (id == nullptr || !id->is_string()) return key_provider_error("\"id\" is missing or not a string");
  auto id_bytes = from_hex(id->get_string());
  if (!id_bytes) return key_provider_error("\"id\" is not hex");
  if (id_bytes->size() > max_key_provider_id_size) return key_provider_error("\"id\" is too long");
  if (strict && json::serialize(v) != json_text) {
    return key_provider_error(
        "not the compact JSON dstack writes (white space, escapes or repeated keys): a measured identity must read "
        "the same to every parser");
  }
  return key_provider_identity{std::string(name->get_string()), std::move(*id_bytes)};
}

tdx::measurement expected_mr_config_id(const sha256_digest& compose_hash) {
  tdx::measurement m{};
  m[0] = 0x01;
  std::copy(compose_hash.begin(), compose_hash.end(), m.begin() + 1);
  return m;
}

std::vector<const tdx_event*> rtmr3_events(std::span<const tdx_event> events, std::string_view name) {
  std::vector<const tdx_event*> out;
  for (const tdx_event& e : events) {
    if (is_rtmr3_runtime(e, name)) out.push_back(&e);
  }
  return out;
}

bool allowlisted(const std::vector<bytes>& list, byte_view value) {
  return std::any_of(list.begin(), list.end(), [&](const bytes& b) { return equal_bytes(b, value); });
}

void append_workload_factors(const workload_allowlists& allowlists, const attest::near_attestation& attestation,
                             const tdx::td_report& td, const std::vector<tdx_event>* verified_events,
                             std::vector<factor>& out) {
  const attest::dstack_info* info = attestation.info ? &*attestation.info : nullptr;
  const attest::dstack_tcb_info* tcb = info != nullptr && info->tcb_info ? &*info->tcb_info : nullptr;

  // compose_hash and mrconfigid: the app manifest, hashed byte-exactly as received.
  if (tcb == nullptr || !tcb->app_compose) {
    const std::string missing = "info.tcb_info.app_compose is missing: nothing shows which app manifest the CVM runs";
    out.push_back(make_factor("compose_hash", factor_status::fail, missing));
    out.push_back(make_factor("mrconfigid", factor_status::fail, missing));
  } else {
    const sha256_digest hash = crypto::sha256(as_bytes(*tcb->app_compose));
    const std::string hash_hex = to_hex(hash);
    std::optional<std::string> problem;
    if (!info->compose_hash) {
      problem = "info.compose_hash is missing";
    } else if (!equal_bytes(*info->compose_hash, hash)) {
      problem = "info.compose_hash " + to_hex(*info->compose_hash) + " differs from SHA-256(app_compose) " + hash_hex;
    } else if (tcb->compose_hash && !equal_bytes(*tcb->compose_hash, hash)) {
      problem = "info.tcb_info.compose_hash " + to_hex(*tcb->compose_hash) + " differs from SHA-256(app_compose) " +
                hash_hex;
    }
    if (problem) {
      out.push_back(make_factor("compose_hash", factor_status::fail, *problem));
    } else if (verified_events == nullptr) {
      out.push_back(make_factor("compose_hash", factor_status::skip,
                                "SHA-256(app_compose) " + hash_hex + " equals info.compose_hash; RTMR3 compose-hash " +
                                    unverified_log));
    } else {
      const boot_event found = find_boot_event(*verified_events, "compose-hash");
      if (found.event == nullptr) {
        out.push_back(make_factor("compose_hash", factor_status::fail, found.problem));
      } else if (!equal_bytes(found.event->payload, hash)) {
        out.push_back(make_factor("compose_hash", factor_status::fail,
                                  "the RTMR3 \"compose-hash\" event " + to_hex(found.event->payload) +
                                      " differs from SHA-256(app_compose) " + hash_hex));
      } else if (!allowlists.compose_hash.empty() && !allowlisted(allowlists.compose_hash, hash)) {
        out.push_back(make_factor("compose_hash", factor_status::fail,
                                  not_allowlisted("compose hash", hash, allowlists.compose_hash)));
      } else {
        out.push_back(make_factor("compose_hash", factor_status::pass,
                                  "SHA-256(app_compose) " + hash_hex +
                                      " equals the RTMR3 \"compose-hash\" event and info.compose_hash; " +
                                      allowlist_note(allowlists.compose_hash) + found.note));
      }
    }

    const tdx::measurement expected = expected_mr_config_id(hash);
    if (td.mr_config_id == expected) {
      out.push_back(make_factor("mrconfigid", factor_status::pass,
                                "MRCONFIGID = 01 ‖ SHA-256(app_compose) " + hash_hex + " ‖ 15 zero bytes"));
    } else {
      out.push_back(make_factor("mrconfigid", factor_status::fail,
                                "MRCONFIGID " + to_hex(td.mr_config_id) + " is not 01 ‖ SHA-256(app_compose) ‖ zeros (" +
                                    to_hex(expected) + ")"));
    }
  }

  // Identities from RTMR3, only from a verified log, only from dstack's boot (before system-ready).
  if (verified_events == nullptr) {
    for (const char* name : {"app_id", "instance_id", "os_image_hash", "key_provider"}) {
      out.push_back(make_factor(name, factor_status::skip, unverified_log));
    }
    return;
  }
  const std::optional<bytes> none;
  const auto& info_app_id = info != nullptr ? info->app_id : none;
  const auto& info_instance_id = info != nullptr ? info->instance_id : none;
  const auto& info_os_image = info != nullptr ? info->os_image_hash : none;
  const auto& tcb_os_image = tcb != nullptr ? tcb->os_image_hash : none;
  out.push_back(identity_factor("app_id", "app-id", *verified_events, {{"info.app_id", &info_app_id}},
                                &allowlists.app_id));
  out.push_back(identity_factor("instance_id", "instance-id", *verified_events,
                                {{"info.instance_id", &info_instance_id}}, nullptr));
  out.push_back(identity_factor("os_image_hash", "os-image-hash", *verified_events,
                                {{"info.os_image_hash", &info_os_image}, {"info.tcb_info.os_image_hash", &tcb_os_image}},
                                &allowlists.os_image_hash));
  out.push_back(key_provider_factor(info, *verified_events, allowlists.key_provider_id));
}

}  // namespace vp::policy
