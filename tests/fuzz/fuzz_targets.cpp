#include "fuzz/fuzz_targets.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "attest/attestation_verifier.hpp"
#include "attest/near_report.hpp"
#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/x509.hpp"
#include "policy/event_log.hpp"
#include "policy/policy.hpp"
#include "policy/synthetic_cvm.hpp"
#include "policy/workload.hpp"
#include "proxy/forwarding.hpp"
#include "proxy/routing.hpp"
#include "tdx/collateral.hpp"
#include "tdx/pck_extension.hpp"
#include "tdx/quote.hpp"
#include "tdx/tcb_info.hpp"
#include "tdx/verifier.hpp"

namespace vp::fuzz {
namespace {

namespace json = boost::json;

// A violated property is a bug like a crash: abort so that libFuzzer keeps the input
// (and the unit suite's mutation run fails loudly), naming the property.
[[noreturn]] void property_failed(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: fuzz property violated: %s\n", file, line, what);
  std::abort();
}

#define VP_FUZZ_ASSERT(cond)                                               \
  do {                                                                     \
    if (!(cond)) ::vp::fuzz::property_failed(__FILE__, __LINE__, #cond);   \
  } while (0)

std::string_view text_of(const std::uint8_t* data, std::size_t size) {
  return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char*>(data), size);
}

bool has_upper(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// 2026-07-01T00:00:00Z: inside the synthetic TCB dates below.
const unix_time evaluation_time = from_unix_seconds(1782864000);

// ---------------------------------------------------------------------------------------
// Event log and key-provider properties

// The v1 runtime digest written out from the spec (docs/nearai-attestation.md §4.3),
// independently of policy::runtime_event_preimage().
tdx::measurement v1_digest(std::string_view name, byte_view payload) {
  const std::uint8_t type[4] = {0x01, 0x00, 0x00, 0x08};
  return crypto::sha384({byte_view(type), as_bytes(":"), as_bytes(name), as_bytes(":"), payload});
}

void check_key_provider(std::string_view text) {
  const auto lenient = policy::parse_key_provider(text, false);
  const auto strict = policy::parse_key_provider(text, true);
  if (lenient) VP_FUZZ_ASSERT(lenient->id.size() <= 4096);
  // strict only adds a requirement (the compact serialisation) to the lenient reading.
  if (strict) VP_FUZZ_ASSERT(lenient && lenient->name == strict->name && lenient->id == strict->id);
}

// v2 preimages are RFC 8785 JSON: they must read back as exactly {name, payload, type}.
void check_v2_preimage(const policy::tdx_event& e, byte_view preimage) {
  json::error_code ec;
  const json::value v = json::parse(as_chars(preimage), ec);
  VP_FUZZ_ASSERT(!ec);
  const json::object* o = v.if_object();
  VP_FUZZ_ASSERT(o != nullptr && o->size() == 3);
  const json::value* name = o->if_contains("name");
  const json::value* payload = o->if_contains("payload");
  const json::value* type = o->if_contains("type");
  VP_FUZZ_ASSERT(name != nullptr && name->is_string() && std::string_view(name->get_string()) == e.name);
  VP_FUZZ_ASSERT(payload != nullptr && payload->is_string() &&
                 std::string_view(payload->get_string()) == to_hex(e.payload));
  VP_FUZZ_ASSERT(type != nullptr && type->is_int64() && type->get_int64() == policy::dstack_runtime_event_type);
}

// Parses an event log array and checks what the parser, the replay and the digest check
// say about it. Returns the events when the array parsed.
std::optional<std::vector<policy::tdx_event>> checked_event_log(const json::array& entries) {
  auto events = policy::parse_event_log(entries, "/event_log");
  if (!events) {
    VP_FUZZ_ASSERT(events.error().message.starts_with("/event_log/"));
    return std::nullopt;
  }
  VP_FUZZ_ASSERT(events->size() == entries.size());
  std::array<tdx::measurement, 4> rtmr{};
  for (const policy::tdx_event& e : *events) {
    VP_FUZZ_ASSERT(e.imr <= 3);
    VP_FUZZ_ASSERT(e.name.size() <= policy::max_event_name_size);
    VP_FUZZ_ASSERT(e.payload.size() <= policy::max_event_payload_size);
    VP_FUZZ_ASSERT(!e.preimage || e.preimage->size() <= policy::max_event_payload_size);
    rtmr[e.imr] = crypto::sha384({rtmr[e.imr], e.digest});
  }
  VP_FUZZ_ASSERT(policy::replay_rtmrs(*events) == rtmr);

  // check_runtime_digests lists exactly the runtime events whose digest (or preimage)
  // does not recompute, in log order.
  const auto mismatches = policy::check_runtime_digests(*events);
  std::size_t next = 0;
  for (std::size_t i = 0; i < events->size(); ++i) {
    const policy::tdx_event& e = (*events)[i];
    const bool listed = next < mismatches.size() && mismatches[next].index == i;
    if (!e.is_runtime()) {
      VP_FUZZ_ASSERT(!listed);
      continue;
    }
    const bytes preimage = policy::runtime_event_preimage(e.name, e.payload, e.version);
    const tdx::measurement computed = crypto::sha384(preimage);
    VP_FUZZ_ASSERT(policy::runtime_event_digest(e.name, e.payload, e.version) == computed);
    if (e.version == policy::runtime_digest_version::v1) {
      VP_FUZZ_ASSERT(computed == v1_digest(e.name, e.payload));
    } else {
      check_v2_preimage(e, preimage);
    }
    const bool wrong = computed != e.digest || (e.preimage && !equal_bytes(*e.preimage, preimage));
    VP_FUZZ_ASSERT(listed == wrong);
    if (listed) {
      const policy::runtime_digest_mismatch& m = mismatches[next];
      VP_FUZZ_ASSERT(m.name == e.name && m.logged == e.digest && m.computed == computed);
      ++next;
    }
    if (e.imr == 3 && e.name == "key-provider") check_key_provider(as_chars(e.payload));
  }
  VP_FUZZ_ASSERT(next == mismatches.size());
  return std::move(*events);
}

// ---------------------------------------------------------------------------------------
// Report properties

void check_hex_id(const std::optional<bytes>& id) {
  VP_FUZZ_ASSERT(!id || id->size() <= attest::max_info_id_size);
}

void check_event_log_field(const attest::near_event_log& log) {
  VP_FUZZ_ASSERT(log.entries != nullptr);
  VP_FUZZ_ASSERT(log.entries->size() <= attest::max_event_log_entries);
}

// Every limit near_report.hpp documents for a parsed attestation.
void check_attestation_fields(const attest::near_attestation& a) {
  using attest::signing_algorithm;
  VP_FUZZ_ASSERT(a.raw != nullptr);
  VP_FUZZ_ASSERT(!a.intel_quote.empty() && a.intel_quote.size() <= attest::max_intel_quote_size);
  const bool ecdsa = a.signing_algo == signing_algorithm::ecdsa;
  VP_FUZZ_ASSERT(ecdsa || a.signing_algo == signing_algorithm::ed25519);
  VP_FUZZ_ASSERT(a.signing_address.size() == (ecdsa ? 20u : 32u));
  VP_FUZZ_ASSERT(attest::format_signing_address(a.signing_algo, a.signing_address).size() == (ecdsa ? 42u : 64u));
  VP_FUZZ_ASSERT(!a.signing_public_key || a.signing_public_key->size() == (ecdsa ? 64u : 32u));
  VP_FUZZ_ASSERT(!a.model_name || a.model_name->size() <= attest::max_model_name_size);
  if (a.event_log) check_event_log_field(*a.event_log);
  if (a.info) {
    const attest::dstack_info& info = *a.info;
    for (const auto* id : {&info.app_id, &info.instance_id, &info.compose_hash, &info.os_image_hash}) check_hex_id(*id);
    VP_FUZZ_ASSERT(!info.app_name || info.app_name->size() <= attest::max_model_name_size);
    VP_FUZZ_ASSERT(!info.key_provider_info || info.key_provider_info->size() <= attest::max_embedded_json_size);
    if (info.tcb_info) {
      const attest::dstack_tcb_info& t = *info.tcb_info;
      check_hex_id(t.compose_hash);
      check_hex_id(t.os_image_hash);
      VP_FUZZ_ASSERT(!t.app_compose || t.app_compose->size() <= attest::max_app_compose_size);
      if (t.event_log) check_event_log_field(*t.event_log);
    }
  }
}

void check_document(const attest::near_report_document& doc) {
  VP_FUZZ_ASSERT(doc.root != nullptr);
  const json::object* top = doc.root->if_object();
  VP_FUZZ_ASSERT(top != nullptr);
  // Exactly one form marker: a body with both is ambiguous and must have been refused.
  VP_FUZZ_ASSERT(top->contains("intel_quote") != top->contains("gateway_attestation"));
  if (doc.form == attest::report_form::direct) {
    VP_FUZZ_ASSERT(doc.attestations.size() == 1);
    VP_FUZZ_ASSERT(doc.attestations[0].json_pointer.empty());
    VP_FUZZ_ASSERT(doc.attestations[0].role == attest::attestation_role::model);
    VP_FUZZ_ASSERT(doc.attestations[0].raw.get() == top);
  } else {
    VP_FUZZ_ASSERT(doc.form == attest::report_form::gateway);
    VP_FUZZ_ASSERT(doc.attestations.size() >= 2 && doc.attestations.size() <= 1 + attest::max_model_attestations);
    VP_FUZZ_ASSERT(doc.attestations[0].json_pointer == "/gateway_attestation");
    VP_FUZZ_ASSERT(doc.attestations[0].role == attest::attestation_role::gateway);
    for (std::size_t i = 1; i < doc.attestations.size(); ++i) {
      VP_FUZZ_ASSERT(doc.attestations[i].json_pointer == "/model_attestations/" + std::to_string(i - 1));
      VP_FUZZ_ASSERT(doc.attestations[i].role == attest::attestation_role::model);
    }
  }
  for (const attest::near_attestation& a : doc.attestations) {
    VP_FUZZ_ASSERT(doc.find(a.json_pointer) == &a);
    check_attestation_fields(a);
  }
  VP_FUZZ_ASSERT(doc.find("/no/such/attestation") == nullptr);
}

// ---------------------------------------------------------------------------------------
// Policy evaluation properties

constexpr std::array<std::string_view, 19> factor_order = {
    "tcb_status",  "tcb_advisories", "td_debug", "sept_ve_disable", "event_log_replay", "runtime_event_digests",
    "compose_hash", "mrconfigid",    "app_id",   "instance_id",     "os_image_hash",    "key_provider",
    "mrseam",      "mrtd",           "rtmr0",    "rtmr1",           "rtmr2",            "info_registers",
    "model_name"};

policy::factor_status status_of(const policy::factor_report& r, std::string_view name) {
  const policy::factor* f = r.find(name);
  VP_FUZZ_ASSERT(f != nullptr);
  return f->status;
}

void check_factor_report(const policy::factor_report& r) {
  using policy::factor_status;
  VP_FUZZ_ASSERT(r.factors.size() == factor_order.size());
  for (std::size_t i = 0; i < factor_order.size(); ++i) {
    VP_FUZZ_ASSERT(r.factors[i].name == factor_order[i]);
    VP_FUZZ_ASSERT(!r.factors[i].detail.empty());
  }
  VP_FUZZ_ASSERT(r.ok() == (r.first_failure() == nullptr));
  // Nothing an unverified log says is used: the identities taken from RTMR3 events are
  // only evaluated when the replay matched and every runtime digest recomputed.
  const bool log_verified = status_of(r, "event_log_replay") == factor_status::pass &&
                            status_of(r, "runtime_event_digests") == factor_status::pass;
  if (!log_verified) {
    for (std::string_view name : {"app_id", "instance_id", "os_image_hash", "key_provider"}) {
      VP_FUZZ_ASSERT(status_of(r, name) == factor_status::skip);
    }
    VP_FUZZ_ASSERT(status_of(r, "compose_hash") != factor_status::pass);
  }
}

const attest::dstack_tcb_info* tcb_info_of(const attest::near_attestation& a) {
  return a.info && a.info->tcb_info ? &*a.info->tcb_info : nullptr;
}

// The logs of an attestation, parsed and checked, and what policy::evaluate() must make
// of them: it replays the top-level log (else info.tcb_info.event_log) and requires both
// to say the same thing when both are present.
struct attestation_logs {
  std::optional<std::vector<policy::tdx_event>> chosen;
  bool agree = false;  ///< a log parsed and, when both are present, they are equal
};

attestation_logs logs_of(const attest::near_attestation& a) {
  const attest::dstack_tcb_info* tcb = tcb_info_of(a);
  const attest::near_event_log* top = a.event_log ? &*a.event_log : nullptr;
  const attest::near_event_log* nested = tcb != nullptr && tcb->event_log ? &*tcb->event_log : nullptr;
  std::optional<std::vector<policy::tdx_event>> top_events;
  std::optional<std::vector<policy::tdx_event>> nested_events;
  if (top != nullptr) top_events = checked_event_log(*top->entries);
  if (nested != nullptr) nested_events = checked_event_log(*nested->entries);
  attestation_logs out;
  if (top != nullptr) {
    out.agree = top_events && (nested == nullptr || (nested_events && *nested_events == *top_events));
    out.chosen = std::move(top_events);
  } else {
    out.agree = nested_events.has_value();
    out.chosen = std::move(nested_events);
  }
  return out;
}

// A verdict whose TD report says what the attestation claims: RTMRs replayed from its
// log, MRCONFIGID from its app_compose, MRTD from info.tcb_info. Lets the evaluation get
// past the replay and MRCONFIGID checks into the RTMR3 identity checks.
attest::attestation_verdict consistent_verdict(const attest::near_attestation& a,
                                               const std::optional<std::vector<policy::tdx_event>>& events) {
  attest::attestation_verdict v;
  v.signing_algo = a.signing_algo;
  v.signing_address = a.signing_address;
  tdx::td_report& td = v.quote.td;
  td.td_attributes[3] = 0x10;  // SEPT_VE_DISABLE
  if (events) td.rtmr = policy::replay_rtmrs(*events);
  if (const attest::dstack_tcb_info* tcb = tcb_info_of(a)) {
    if (tcb->mrtd) td.mr_td = *tcb->mrtd;
    if (tcb->app_compose) td.mr_config_id = policy::expected_mr_config_id(crypto::sha256(as_bytes(*tcb->app_compose)));
  }
  v.quote.tcb_date = from_unix_seconds(1767225600);  // 2026-01-01
  v.collateral_expires_at = evaluation_time + std::chrono::days{30};
  return v;
}

const policy::workload_policy& empty_policy() {
  static const policy::workload_policy p;
  return p;
}

void check_attestation_checks(const attest::near_attestation& a) {
  using policy::factor_status;
  if (a.info && a.info->key_provider_info) check_key_provider(*a.info->key_provider_info);
  const attestation_logs logs = logs_of(a);
  const attest::attestation_verdict verdict = consistent_verdict(a, logs.chosen);
  const std::optional<std::string_view> routed =
      a.model_name ? std::optional<std::string_view>(*a.model_name) : std::optional<std::string_view>("fuzz/model");
  for (const policy::workload_policy* p : {&policy::nearai_policy(), &empty_policy()}) {
    const policy::factor_report r = policy::evaluate(*p, a, verdict, evaluation_time, routed);
    check_factor_report(r);
    VP_FUZZ_ASSERT(status_of(r, "tcb_status") == factor_status::pass);
    VP_FUZZ_ASSERT(status_of(r, "td_debug") == factor_status::pass);
    VP_FUZZ_ASSERT(status_of(r, "sept_ve_disable") == factor_status::pass);
    VP_FUZZ_ASSERT((status_of(r, "event_log_replay") == factor_status::pass) == logs.agree);
    if (logs.agree) {
      VP_FUZZ_ASSERT((status_of(r, "runtime_event_digests") == factor_status::pass) ==
                     policy::check_runtime_digests(*logs.chosen).empty());
    }
    const attest::dstack_tcb_info* tcb = tcb_info_of(a);
    VP_FUZZ_ASSERT((status_of(r, "mrconfigid") == factor_status::pass) == (tcb != nullptr && tcb->app_compose));
  }

  // And with the TD report of the quote the attestation carries, when it parses, on a
  // platform inside the TCB grace window with an advisory.
  if (const auto q = tdx::parse_quote(a.intel_quote)) {
    attest::attestation_verdict qv = verdict;
    qv.quote.td = q->td;
    qv.quote.status = tdx::tcb_status::out_of_date;
    qv.quote.platform_status = tdx::tcb_status::out_of_date;
    qv.quote.newer_tcb_date = evaluation_time - std::chrono::days{10};
    qv.quote.advisory_ids = {"INTEL-SA-00837"};
    check_factor_report(policy::evaluate(policy::nearai_policy(), a, qv, evaluation_time, std::nullopt));
  }
}

// ---------------------------------------------------------------------------------------
// Routing properties

void check_endpoints(std::string_view text, const proxy::endpoints_limits& limits) {
  std::string error;
  const auto list = proxy::parse_endpoints(text, error, limits);
  if (!list) {
    VP_FUZZ_ASSERT(!error.empty());
    return;
  }
  VP_FUZZ_ASSERT(text.size() <= limits.max_body);
  VP_FUZZ_ASSERT(list->size() <= limits.max_endpoints);
  std::size_t models = 0;
  std::set<std::string> unique;
  for (const proxy::endpoint& e : *list) {
    // Stored normalised: a domain is compared with allowlists and Host as is.
    const auto host = proxy::normalize_host(e.domain);
    VP_FUZZ_ASSERT(host && *host == e.domain);
    for (const std::string& m : e.models) {
      VP_FUZZ_ASSERT(!m.empty());
      unique.insert(m);
      ++models;
    }
  }
  VP_FUZZ_ASSERT(models <= limits.max_models);
  // The first endpoint naming a model serves it (bounded: the lookup is linear).
  for (std::size_t i = 0; i < list->size() && i < 32; ++i) {
    const proxy::endpoint& e = (*list)[i];
    if (e.models.empty()) continue;
    const auto first = std::find_if(list->begin(), list->end(), [&](const proxy::endpoint& x) {
      return std::find(x.models.begin(), x.models.end(), e.models.front()) != x.models.end();
    });
    const auto domain = proxy::domain_for_model(*list, e.models.front());
    VP_FUZZ_ASSERT(domain && first != list->end() && *domain == first->domain);
  }
  const json::object listed = proxy::models_list(*list, unix_time{});
  const json::value* data = listed.if_contains("data");
  VP_FUZZ_ASSERT(data != nullptr && data->is_array() && data->get_array().size() == unique.size());
}

void check_connect_to(std::string_view text) {
  std::string error;
  const auto rule = proxy::parse_connect_to(text, error);
  if (!rule) {
    VP_FUZZ_ASSERT(error.starts_with("--connect-to"));
    return;
  }
  VP_FUZZ_ASSERT(!has_upper(rule->host));
  VP_FUZZ_ASSERT(!rule->address.empty() && rule->address.find_first_of(" /\t\r\n") == std::string::npos);
  VP_FUZZ_ASSERT(rule->address_port != 0);
  const std::vector<proxy::connect_to_rule> rules = {*rule};
  VP_FUZZ_ASSERT(proxy::find_connect_to(rules, rule->host, rule->port) == &rules[0]);
}

void check_host(std::string_view text) {
  const auto host = proxy::normalize_host(text);
  if (!host) return;
  VP_FUZZ_ASSERT(!host->empty() && host->size() <= 253 && !has_upper(*host));
  VP_FUZZ_ASSERT(proxy::normalize_host(*host) == host);
  VP_FUZZ_ASSERT(proxy::domain_allowlist({*host}).allows(text));
  // "*.<host>" admits one more label, never the host itself nor two more labels.
  const proxy::domain_allowlist wildcard({"*." + *host});
  VP_FUZZ_ASSERT(!wildcard.allows(*host));
  if (host->size() <= 250) VP_FUZZ_ASSERT(wildcard.allows("x." + *host));
  if (host->size() <= 248) VP_FUZZ_ASSERT(!wildcard.allows("x.y." + *host));
}

// ---------------------------------------------------------------------------------------
// Seeds


const std::string seed_app_compose =
    "{\"manifest_version\":2,\"name\":\"fuzz-app\",\"runner\":\"docker-compose\","
    "\"docker_compose_file\":\"services:\\n  app:\\n    image: example@sha256:ab\\n\"}";
const bytes seed_app_id(20, 0xa1);
const bytes seed_instance_id(20, 0xa2);
const bytes seed_os_image_hash(32, 0xa3);
const bytes seed_kms_id(91, 0xa4);

std::string seed_key_provider() { return "{\"name\":\"kms\",\"id\":\"" + to_hex(seed_kms_id) + "\"}"; }

// dstack's boot and RTMR3 sequence, runtime digests of `version` (v2 also logs the
// preimage, as dstack >= 0.5.6 does).
json::array seed_event_log(policy::runtime_digest_version version) {
  json::array log;
  const auto boot = [&](std::int64_t imr, std::int64_t type, std::string_view what) {
    log.push_back(test::synthetic::event(imr, type, "", as_bytes(what), crypto::sha384(as_bytes(what))));
  };
  boot(0, 0x80000001, "TdxTable");
  boot(0, 0x0a, "ACPI DATA");
  boot(1, 0x80000007, "Calling EFI Application from Boot Option");
  boot(2, 6, "Linux initrd");
  const sha256_digest compose = crypto::sha256(as_bytes(seed_app_compose));
  const std::string key_provider = seed_key_provider();
  const std::pair<std::string_view, byte_view> runtime[] = {{"system-preparing", {}},
                                                             {"app-id", seed_app_id},
                                                             {"compose-hash", compose},
                                                             {"instance-id", seed_instance_id},
                                                             {"boot-mr-done", {}},
                                                             {"os-image-hash", seed_os_image_hash},
                                                             {"key-provider", as_bytes(key_provider)},
                                                             {"system-ready", {}}};
  for (const auto& [name, payload] : runtime) {
    json::object e = test::synthetic::event(3, policy::dstack_runtime_event_type, name, payload,
                                 policy::runtime_event_digest(name, payload, version));
    if (version == policy::runtime_digest_version::v2) {
      e["version"] = 2;
      e["preimage"] = to_hex(policy::runtime_event_preimage(name, payload, version));
    }
    log.push_back(std::move(e));
  }
  return log;
}

// Nested values as JSON in place, or as strings holding JSON text (the gateway's form).
json::value nested(json::value v, bool as_string) {
  if (!as_string) return v;
  return json::value(json::serialize(v));
}

std::array<tdx::measurement, 4> replay_of(const json::array& log) {
  auto events = policy::parse_event_log(log, "");
  return events ? policy::replay_rtmrs(*events) : std::array<tdx::measurement, 4>{};
}

json::object seed_attestation(attest::signing_algorithm algo, policy::runtime_digest_version version,
                              bool as_strings, std::string_view model) {
  const json::array log = seed_event_log(version);
  const auto rtmr = replay_of(log);
  const std::string compose_hash = to_hex(crypto::sha256(as_bytes(seed_app_compose)));
  json::object tcb_info{{"mrtd", to_hex(bytes(48, 0xb2))},
                        {"rtmr0", to_hex(rtmr[0])},
                        {"rtmr1", to_hex(rtmr[1])},
                        {"rtmr2", to_hex(rtmr[2])},
                        {"rtmr3", to_hex(rtmr[3])},
                        {"os_image_hash", to_hex(seed_os_image_hash)},
                        {"compose_hash", compose_hash},
                        {"app_compose", seed_app_compose},
                        {"event_log", log}};
  json::object info{{"app_id", to_hex(seed_app_id)},
                    {"instance_id", to_hex(seed_instance_id)},
                    {"app_name", "fuzz-app"},
                    {"compose_hash", compose_hash},
                    {"os_image_hash", to_hex(seed_os_image_hash)},
                    {"key_provider_info", seed_key_provider()},
                    {"tcb_info", nested(tcb_info, as_strings)}};
  const bool ecdsa = algo == attest::signing_algorithm::ecdsa;
  // Not a real quote: the report parser only decodes it (the quote parser has its own target).
  bytes quote(64, 0x00);
  quote[0] = 0x04;
  quote[2] = 0x02;
  quote[4] = 0x81;
  json::object a{{"intel_quote", to_hex(quote)},
                 {"signing_algo", ecdsa ? "ecdsa" : "ed25519"},
                 {"signing_address", ecdsa ? "0x" + to_hex(bytes(20, 0x33)) : to_hex(bytes(32, 0x33))},
                 {"signing_public_key", to_hex(bytes(ecdsa ? 64u : 32u, 0x34))},
                 {"tls_cert_fingerprint", to_hex(bytes(32, 0x22))},
                 {"request_nonce", to_hex(bytes(32, 0x11))},
                 {"event_log", nested(log, as_strings)},
                 {"info", nested(info, as_strings)}};
  if (!model.empty()) a["model_name"] = model;
  return a;
}

}  // namespace

void quote_input(const std::uint8_t* data, std::size_t size) {
  const auto q = tdx::parse_quote(byte_view(data, size));
  if (!q) return;
  // Touch every view so that an out-of-range span shows up under ASan.
  std::size_t sum = 0;
  for (byte_view v : {q->signed_region, q->signature, q->attestation_key, q->qe_report_bytes,
                      q->qe_report_signature, q->qe_auth_data}) {
    for (std::uint8_t b : v) sum += b;
  }
  for (char c : q->pck_chain_pem) sum += static_cast<unsigned char>(c);
  if (auto certs = crypto::parse_pem_certificates(q->pck_chain_pem); certs && !certs->empty()) {
    (void)tdx::parse_pck_extension(certs->front().get());
  }
  (void)sum;
}

void collateral_input(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)tdx::parse_tcb_info(text);
  (void)tdx::parse_qe_identity(text);
  (void)tdx::split_signed_response(text, "tcbInfo");
  (void)crypto::parse_crl(byte_view(data, size));
  if (auto c = tdx::parse_collateral_v3_json(text)) (void)tdx::prepare_collateral(*c, tdx::intel_sgx_root_ca());
}

void report_input(const std::uint8_t* data, std::size_t size) {
  const auto doc = attest::parse_report_document(text_of(data, size));
  if (!doc) {
    VP_FUZZ_ASSERT(doc.error().kind == attest::errc::malformed_report ||
                   doc.error().kind == attest::errc::unsupported_signing_algo);
    return;
  }
  check_document(*doc);
  for (const attest::near_attestation& a : doc->attestations) check_attestation_checks(a);
}

void event_log_input(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = text_of(data, size);
  check_key_provider(text);
  json::parse_options options;
  options.max_depth = attest::max_report_json_depth;
  json::error_code ec;
  const json::value v = json::parse(text, ec, {}, options);
  if (ec) return;
  if (const json::array* entries = v.if_array()) (void)checked_event_log(*entries);
}

void policy_input(const std::uint8_t* data, std::size_t size) {
  const auto p = policy::parse_policy(text_of(data, size));
  if (!p) {
    VP_FUZZ_ASSERT(p.error().message.starts_with("policy "));
    return;
  }
  VP_FUZZ_ASSERT(p->tcb_grace_period().count() >= 0 && p->tcb_grace_period().count() <= policy::max_grace_period_days);
  for (const std::string& id : p->denied_advisories()) VP_FUZZ_ASSERT(!id.empty());
  for (const auto role : {attest::attestation_role::model, attest::attestation_role::gateway}) {
    const policy::workload_allowlists& l = p->allowlists(role);
    const std::pair<const std::vector<bytes>*, std::size_t> sized[] = {
        {&l.mrseam, 48},        {&l.mrtd, 48},   {&l.rtmr0, 48},       {&l.rtmr1, 48}, {&l.rtmr2, 48},
        {&l.os_image_hash, 32}, {&l.app_id, 20}, {&l.compose_hash, 32}};
    for (const auto& [list, length] : sized) {
      for (const bytes& value : *list) VP_FUZZ_ASSERT(value.size() == length);
    }
    for (const bytes& id : l.key_provider_id) VP_FUZZ_ASSERT(!id.empty() && id.size() <= 4096);
  }

  // Evaluate the parsed policy on a fixed synthetic attestation (parsed once).
  static const std::optional<attest::near_report_document> fixture = [] {
    const std::string body = report_seeds().front();
    auto parsed = attest::parse_report_document(body);
    VP_FUZZ_ASSERT(parsed.has_value());
    return std::optional<attest::near_report_document>(std::move(*parsed));
  }();
  const attest::near_attestation& a = fixture->attestations.front();
  static const attest::attestation_verdict verdict = consistent_verdict(a, logs_of(a).chosen);
  const policy::factor_report r = policy::evaluate(*p, a, verdict, evaluation_time, a.model_name);
  check_factor_report(r);
  // The fixture is self-consistent: only allowlists and the policy's rules can fail it.
  for (std::string_view name : {"event_log_replay", "runtime_event_digests", "mrconfigid", "info_registers"}) {
    VP_FUZZ_ASSERT(status_of(r, name) == policy::factor_status::pass);
  }
}

void routing_input(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = text_of(data, size);
  check_endpoints(text, proxy::endpoints_limits{});
  proxy::endpoints_limits tight;
  tight.max_body = 4096;
  tight.max_endpoints = 4;
  tight.max_models = 8;
  check_endpoints(text, tight);

  if (const auto model = proxy::model_of_request(text)) {
    json::error_code ec;
    json::parse_options options;
    options.max_depth = proxy::max_request_json_depth;
    const json::value v = json::parse(text, ec, {}, options);
    const json::object* o = ec ? nullptr : v.if_object();
    const json::value* m = o != nullptr ? o->if_contains("model") : nullptr;
    VP_FUZZ_ASSERT(m != nullptr && m->is_string() && std::string_view(m->get_string()) == *model);
  }

  check_connect_to(text);
  check_host(text);

  std::vector<std::string_view> tokens;
  proxy::add_connection_tokens(text, tokens);
  for (const std::string_view t : tokens) {
    VP_FUZZ_ASSERT(!t.empty() && t.front() != ' ' && t.back() != ' ' && t.find(',') == std::string_view::npos &&
                   !proxy::is_hop_by_hop(t));
    VP_FUZZ_ASSERT(t.data() >= text.data() && t.data() + t.size() <= text.data() + text.size());
  }
  // A field the Connection header names never crosses the proxy, in either direction.
  for (const std::string_view t : tokens) {
    VP_FUZZ_ASSERT(!proxy::forward_request_field(t, tokens) && !proxy::forward_response_field(t, tokens));
  }
  if (proxy::is_hop_by_hop(text)) {
    VP_FUZZ_ASSERT(!proxy::forward_request_field(text, {}) && !proxy::forward_response_field(text, {}));
  }
  const std::string_view path = proxy::path_without_query(text);
  VP_FUZZ_ASSERT(text.starts_with(path) && path.find_first_of("?#") == std::string_view::npos);
}

std::vector<std::string> report_seeds() {
  using attest::signing_algorithm;
  using policy::runtime_digest_version;
  std::vector<std::string> out;
  // Direct form, everything in place (inference-proxy).
  out.push_back(json::serialize(
      seed_attestation(signing_algorithm::ed25519, runtime_digest_version::v1, false, "fuzz/model-7b")));
  // Direct form, ecdsa, v2 digests, nested values as JSON strings, the all_attestations
  // copy, explicit nulls and an unknown field.
  {
    json::object a = seed_attestation(signing_algorithm::ecdsa, runtime_digest_version::v2, true, "fuzz/model-70b");
    a["report_data"] = nullptr;
    a["nvidia_payload"] = "{\"arch\":\"HOPPER\",\"evidence_list\":[]}";
    a["all_attestations"] = json::array{a};
    out.push_back(json::serialize(a));
  }
  // Gateway form (cloud-api): strings for event_log, info and tcb_info, report_data, and
  // two model attestations.
  {
    json::object gw = seed_attestation(signing_algorithm::ecdsa, runtime_digest_version::v1, true, "");
    gw["report_data"] = to_hex(bytes(64, 0x55));
    json::array models{seed_attestation(signing_algorithm::ed25519, runtime_digest_version::v1, false, "fuzz/a"),
                       seed_attestation(signing_algorithm::ecdsa, runtime_digest_version::v2, false, "fuzz/b")};
    out.push_back(json::serialize(json::object{{"gateway_attestation", gw}, {"model_attestations", models}}));
  }
  // The required fields only.
  out.push_back(R"({"intel_quote":"00","signing_algo":"ecdsa","signing_address":"0x)" + to_hex(bytes(20, 0x01)) +
                R"("})");
  out.push_back(R"({"gateway_attestation":{},"model_attestations":[]})");
  return out;
}

std::vector<std::string> event_log_seeds() {
  return {json::serialize(seed_event_log(policy::runtime_digest_version::v1)),
          json::serialize(seed_event_log(policy::runtime_digest_version::v2)),
          "[]",
          R"([{"imr":3,"event_type":134217729,"digest":")" + to_hex(bytes(48, 0)) +
              R"(","event":"x","event_payload":"","version":null,"preimage":null}])",
          seed_key_provider(),
          R"({"name":"kms","id":"30"})"};
}

std::vector<std::string> policy_seeds() {
  const auto rtmr = replay_of(seed_event_log(policy::runtime_digest_version::v1));
  const json::object pins{{"mrseam", json::array{to_hex(bytes(48, 0))}},
                          {"mrtd", json::array{to_hex(bytes(48, 0xb2))}},
                          {"rtmr0", json::array{to_hex(rtmr[0])}},
                          {"rtmr1", json::array{to_hex(rtmr[1])}},
                          {"rtmr2", json::array{to_hex(rtmr[2])}},
                          {"os_image_hash", json::array{to_hex(seed_os_image_hash)}},
                          {"app_id", json::array{to_hex(seed_app_id)}},
                          {"key_provider_id", json::array{to_hex(seed_kms_id)}},
                          {"compose_hash", json::array{to_hex(crypto::sha256(as_bytes(seed_app_compose)))}}};
  return {std::string(policy::nearai_policy_json()),
          "{}",
          json::serialize(json::object{{"name", "pinning"}, {"model", pins}, {"gateway", pins}}),
          R"({"name":"lenient","description":"","tcb":{"grace_period_days":0,"denied_advisories":["INTEL-SA-00837"]},)"
          R"("td_attributes":{"require_sept_ve_disable":false}})"};
}

std::vector<std::string> routing_seeds() {
  return {R"({"endpoints":[{"domain":"glm-5.completions.near.ai","models":["zai-org/GLM-5-FP8"]},)"
          R"({"domain":"QWEN.completions.near.ai.","models":["Qwen/Qwen3","zai-org/GLM-5-FP8"],"extra":1}]})",
          R"({"model":"zai-org/GLM-5-FP8","messages":[{"role":"user","content":"hi"}],"stream":true})",
          "glm-5.completions.near.ai:443:127.0.0.1:8443",
          ":0:[::1]:8443",
          "GLM-5.Completions.NEAR.ai.",
          "close, X-Foo, keep-alive",
          "/v1/chat/completions?key=secret#frag"};
}

void write_seed_corpus(const std::vector<std::string>& seeds) {
  const char* dir = std::getenv("VP_FUZZ_SEED_DIR");
  if (dir == nullptr || *dir == '\0') return;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return;
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream out(std::filesystem::path(dir) / ("seed-" + std::to_string(i)), std::ios::binary);
    out.write(seeds[i].data(), static_cast<std::streamsize>(seeds[i].size()));
  }
}

}  // namespace vp::fuzz
