#include "policy/policy.hpp"

#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

#include "core/hex.hpp"
#include "core/text.hpp"
#include "core/time.hpp"
#include "tdx/tcb_info.hpp"

namespace vp::policy {

// ---------------------------------------------------------------------------------------
// Policy file

namespace json = boost::json;

namespace {

policy_error bad(std::string message) { return policy_error{"policy " + std::move(message)}; }

std::string kind_name(const json::value& v) { return std::string(json::to_string(v.kind())); }

using parse_result = boost::system::result<void, policy_error>;

// The key sets are closed: a typo ("mrdt") must be an error, not an allowlist that pins
// nothing.
parse_result only_keys(const json::object& o, const std::string& path, std::initializer_list<std::string_view> keys) {
  for (const auto& kv : o) {
    if (std::find(keys.begin(), keys.end(), kv.key()) == keys.end()) {
      std::string known;
      for (std::string_view k : keys) known += (known.empty() ? "" : ", ") + std::string(k);
      return bad(path + "/" + std::string(kv.key()) + ": unknown key (known here: " + known + ")");
    }
  }
  return {};
}

boost::system::result<const json::object*, policy_error> optional_object(const json::object& o,
                                                                         const std::string& path,
                                                                         std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return static_cast<const json::object*>(nullptr);
  const json::object* obj = v->if_object();
  if (obj == nullptr) return bad(path + "/" + std::string(key) + " must be an object, got " + kind_name(*v));
  return obj;
}

// Boost.JSON keeps the last of repeated keys and says nothing, so a policy with two
// "model" sections (or two "mrtd" lists) would silently pin only what the last one says
// while a person reviewing the file reads the first. This pass over the text with
// Boost.JSON's own parser only records the first key repeated within one object.
class repeated_key_finder {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  const std::optional<std::string>& repeated() const { return repeated_; }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t, json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    open_.emplace_back();
    return true;
  }
  bool on_object_end(std::size_t, json::error_code&) {
    open_.pop_back();
    return true;
  }
  bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code&) {
    key_.append(s.data(), s.size());
    if (!open_.empty() && !open_.back().insert(key_).second && !repeated_) repeated_ = key_;
    key_.clear();
    return true;
  }
  bool on_number_part(json::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
  bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
  bool on_double(double, json::string_view, json::error_code&) { return true; }
  bool on_bool(bool, json::error_code&) { return true; }
  bool on_null(json::error_code&) { return true; }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }

 private:
  std::vector<std::set<std::string>> open_;  // the keys of every object being read
  std::string key_;
  std::optional<std::string> repeated_;
};

struct allowlist_key {
  std::string_view key;
  std::vector<bytes> workload_allowlists::*member;
  std::size_t size;  ///< exact decoded length; 0: any length from 1 to max_any_size
};

constexpr std::size_t max_any_size = 4096;

constexpr allowlist_key allowlist_keys[] = {
    {"mrseam", &workload_allowlists::mrseam, 48},
    {"mrtd", &workload_allowlists::mrtd, 48},
    {"rtmr0", &workload_allowlists::rtmr0, 48},
    {"rtmr1", &workload_allowlists::rtmr1, 48},
    {"rtmr2", &workload_allowlists::rtmr2, 48},
    {"os_image_hash", &workload_allowlists::os_image_hash, 32},
    {"app_id", &workload_allowlists::app_id, 20},
    {"key_provider_id", &workload_allowlists::key_provider_id, 0},
    {"compose_hash", &workload_allowlists::compose_hash, 32},
};

parse_result parse_allowlists(const json::object& o, const std::string& path, workload_allowlists& out) {
  for (const auto& kv : o) {
    const std::string key_path = path + "/" + std::string(kv.key());
    const auto* spec = std::find_if(std::begin(allowlist_keys), std::end(allowlist_keys),
                                    [&](const allowlist_key& k) { return k.key == kv.key(); });
    if (spec == std::end(allowlist_keys)) {
      std::string known;
      for (const auto& k : allowlist_keys) known += (known.empty() ? "" : ", ") + std::string(k.key);
      return bad(key_path + ": unknown key (known here: " + known + ")");
    }
    const json::array* values = kv.value().if_array();
    if (values == nullptr) {
      return bad(key_path + " must be an array of hex strings, got " + kind_name(kv.value()));
    }
    // An empty list could mean "allow nothing" or "allow anything": refuse to guess.
    if (values->empty()) return bad(key_path + " is empty: list at least one value, or omit the key to pin nothing");
    std::vector<bytes>& list = out.*(spec->member);
    for (std::size_t i = 0; i < values->size(); ++i) {
      const std::string item_path = key_path + "/" + std::to_string(i);
      const json::string* text = (*values)[i].if_string();
      if (text == nullptr) return bad(item_path + " must be a hex string, got " + kind_name((*values)[i]));
      const std::size_t limit = spec->size != 0 ? spec->size : max_any_size;
      if (text->size() > 2 * limit) {
        return bad(item_path + " is " + std::to_string(text->size()) + " characters, expected " +
                   (spec->size != 0 ? std::to_string(2 * spec->size) : "at most " + std::to_string(2 * limit)) +
                   " hex digits");
      }
      auto decoded = from_hex(*text);
      if (!decoded || decoded->empty()) {
        return bad(item_path + " is not " + (spec->size != 0 ? "a " + std::to_string(2 * spec->size) + "-digit " : "") +
                   "hex string: \"" + std::string(text->subview(0, std::min<std::size_t>(text->size(), 40))) +
                   (text->size() > 40 ? "…\"" : "\""));
      }
      if (spec->size != 0 && decoded->size() != spec->size) {
        return bad(item_path + " is " + std::to_string(text->size()) + " hex digits, expected " +
                   std::to_string(2 * spec->size) + " (" + std::to_string(spec->size) + " bytes)");
      }
      list.push_back(std::move(*decoded));
    }
  }
  return {};
}

}  // namespace

struct policy_parser {
  static boost::system::result<workload_policy, policy_error> parse(std::string_view text) {
    if (text.size() > max_policy_size) {
      return bad("file is " + std::to_string(text.size()) + " bytes, over the limit of " +
                 std::to_string(max_policy_size));
    }
    json::parse_options options;
    options.max_depth = 8;
    json::error_code ec;
    const json::value root = json::parse(text, ec, {}, options);
    if (ec) return bad("is not JSON: " + ec.message());
    json::basic_parser<repeated_key_finder> keys(options);
    keys.write_some(false, text.data(), text.size(), ec);
    if (ec) return bad("is not JSON: " + ec.message());
    if (const auto& repeated = keys.handler().repeated()) {
      return bad("repeats the key \"" + *repeated + "\" in one object: only one of them would apply");
    }
    const json::object* top = root.if_object();
    if (top == nullptr) return bad("must be a JSON object, got " + kind_name(root));
    if (auto r = only_keys(*top, "", {"name", "description", "tcb", "td_attributes", "model", "gateway", "gpu"}); !r) {
      return r.error();
    }

    workload_policy p;
    for (std::string_view key : {"name", "description"}) {
      if (const json::value* v = top->if_contains(key)) {
        const json::string* s = v->if_string();
        if (s == nullptr) return bad("/" + std::string(key) + " must be a string, got " + kind_name(*v));
        if (key == "name") p.name_ = std::string(*s);
      }
    }

    auto tcb = optional_object(*top, "", "tcb");
    if (!tcb) return tcb.error();
    if (*tcb != nullptr) {
      if (auto r = only_keys(**tcb, "/tcb", {"grace_period_days", "denied_advisories"}); !r) return r.error();
      if (const json::value* v = (*tcb)->if_contains("grace_period_days")) {
        const std::int64_t* days = v->if_int64();
        if (days == nullptr || *days < 0 || *days > max_grace_period_days) {
          return bad("/tcb/grace_period_days must be an integer from 0 to " + std::to_string(max_grace_period_days) +
                     ", got " + (days != nullptr ? std::to_string(*days) : kind_name(*v)));
        }
        p.grace_period_ = std::chrono::days{*days};
      }
      if (const json::value* v = (*tcb)->if_contains("denied_advisories")) {
        const json::array* list = v->if_array();
        if (list == nullptr) return bad("/tcb/denied_advisories must be an array of strings, got " + kind_name(*v));
        for (std::size_t i = 0; i < list->size(); ++i) {
          const json::string* s = (*list)[i].if_string();
          if (s == nullptr || s->empty()) {
            return bad("/tcb/denied_advisories/" + std::to_string(i) + " must be a non-empty string such as "
                       "\"INTEL-SA-00837\"");
          }
          p.denied_advisories_.emplace_back(*s);
        }
      }
    }

    auto attributes = optional_object(*top, "", "td_attributes");
    if (!attributes) return attributes.error();
    if (*attributes != nullptr) {
      if (auto r = only_keys(**attributes, "/td_attributes", {"require_sept_ve_disable"}); !r) return r.error();
      if (const json::value* v = (*attributes)->if_contains("require_sept_ve_disable")) {
        const bool* b = v->if_bool();
        if (b == nullptr) return bad("/td_attributes/require_sept_ve_disable must be true or false, got " + kind_name(*v));
        p.require_sept_ve_disable_ = *b;
      }
    }

    for (auto [key, target] : {std::pair{"model", &p.model_}, std::pair{"gateway", &p.gateway_}}) {
      auto section = optional_object(*top, "", key);
      if (!section) return section.error();
      if (*section == nullptr) continue;
      if (auto r = parse_allowlists(**section, "/" + std::string(key), *target); !r) return r.error();
    }

    auto gpu = optional_object(*top, "", "gpu");
    if (!gpu) return gpu.error();
    if (*gpu != nullptr) {
      if (auto r = parse_gpu(**gpu, p.gpu_); !r) return r.error();
    }
    return p;
  }

  static parse_result parse_gpu(const json::object& o, gpu_policy& out) {
    if (auto r = only_keys(o, "/gpu", {"required", "nras", "hwmodels", "measurements", "accept_unchecked_revocation"});
        !r) {
      return r.error();
    }
    for (auto [key, target] : {std::pair{"required", &out.required},
                               std::pair{"accept_unchecked_revocation", &out.accept_unchecked_revocation}}) {
      if (const json::value* v = o.if_contains(key)) {
        const bool* b = v->if_bool();
        if (b == nullptr) return bad("/gpu/" + std::string(key) + " must be true or false, got " + kind_name(*v));
        *target = *b;
      }
    }
    if (const json::value* v = o.if_contains("nras")) {
      const json::string* s = v->if_string();
      bool known = false;
      for (const auto r : {nras_requirement::off, nras_requirement::optional, nras_requirement::required}) {
        if (s != nullptr && *s == to_string(r)) {
          out.nras = r;
          known = true;
        }
      }
      if (!known) return bad("/gpu/nras must be \"off\", \"optional\" or \"required\"");
    }
    if (const json::value* v = o.if_contains("hwmodels")) {
      const json::array* list = v->if_array();
      if (list == nullptr || list->empty()) return bad("/gpu/hwmodels must be a non-empty array of strings");
      for (std::size_t i = 0; i < list->size(); ++i) {
        const json::string* s = (*list)[i].if_string();
        if (s == nullptr || s->empty()) return bad("/gpu/hwmodels/" + std::to_string(i) + " must be a non-empty string");
        out.hwmodels.emplace_back(*s);
      }
    }
    if (const json::value* v = o.if_contains("measurements")) {
      const json::array* list = v->if_array();
      if (list == nullptr || list->empty()) return bad("/gpu/measurements must be a non-empty array of objects");
      for (std::size_t i = 0; i < list->size(); ++i) {
        const std::string path = "/gpu/measurements/" + std::to_string(i);
        const json::object* set = (*list)[i].if_object();
        if (set == nullptr) return bad(path + " must be an object");
        if (auto r = only_keys(*set, path, {"driver_version", "vbios_version", "measurement_record_sha256"}); !r) {
          return r.error();
        }
        gpu_measurement_set m;
        for (auto [key, target] : {std::pair{"driver_version", &m.driver_version},
                                   std::pair{"vbios_version", &m.vbios_version}}) {
          const json::value* field = set->if_contains(key);
          const json::string* s = field != nullptr ? field->if_string() : nullptr;
          if (s == nullptr || s->empty()) return bad(path + "/" + std::string(key) + " must be a non-empty string");
          *target = std::string(*s);
        }
        const json::value* digest = set->if_contains("measurement_record_sha256");
        const json::string* text = digest != nullptr ? digest->if_string() : nullptr;
        const auto decoded = text != nullptr ? from_hex(*text) : std::nullopt;
        if (!decoded || decoded->size() != 32) {
          return bad(path + "/measurement_record_sha256 must be 64 hex digits (SHA-256)");
        }
        std::copy(decoded->begin(), decoded->end(), m.measurement_record_sha256.begin());
        out.measurements.push_back(std::move(m));
      }
    }
    return {};
  }
};

std::string_view to_string(nras_requirement r) noexcept {
  switch (r) {
    case nras_requirement::off: return "off";
    case nras_requirement::optional: return "optional";
    case nras_requirement::required: return "required";
  }
  return "unknown";
}

void throw_exception_from_error(const policy_error& e, const boost::source_location&) {
  throw std::runtime_error(e.message);
}

boost::system::result<workload_policy, policy_error> parse_policy(std::string_view json_text) {
  return policy_parser::parse(json_text);
}

// ---------------------------------------------------------------------------------------
// The built-in policy. Every value was read from NEAR's production captures
// (../shared/testdata/nearai/*/expected.json, 2026-03-22 .. 2026-06-29); the README
// explains each one and how to update them.

namespace {

constexpr std::string_view nearai_json = R"json({
  "name": "nearai",
  "description": "NEAR AI private inference: dstack-nvidia-0.5.5 model CVMs and the dstack-0.5.4 cloud-api gateway under NEAR's KMS, as measured in NEAR's production reports of 2026-03-22 to 2026-06-29",
  "tcb": {"grace_period_days": 30},
  "td_attributes": {"require_sept_ve_disable": true},
  "model": {
    "mrtd": ["b24d3b24e9e3c16012376b52362ca09856c4adecb709d5fac33addf1c47e193da075b125b6c364115771390a5461e217"],
    "rtmr1": ["c0445b704e4c48139496ae337423ddb1dcee3a673fd5fb60a53d562f127d235f11de471a7b4ee12c9027c829786757dc"],
    "rtmr2": ["564622c7ddc55a53272cc9f0956d29b3f7e0dd18ede432720b71fd89e5b5d76cb0b99be7b7ff2a6a92b89b6b01643135"],
    "os_image_hash": ["9b69bb1698bacbb6985409a2c272bcb892e09cdcea63d5399c6768b67d3ff677"],
    "app_id": ["2c0a0c96cb6dbd659bf1446e2f3fce58172ff91b"],
    "key_provider_id": ["3059301306072a8648ce3d020106082a8648ce3d03010703420004228f800590a10442cba9d0e6adb2fa9f195eea9e75e23dd35990d52b59dda2415a63674c38adebde4ffd4d4b265bf818985933820c8053cee3ce29b5fb0fbcbc"]
  },
  "gateway": {
    "mrtd": ["f06dfda6dce1cf904d4e2bab1dc370634cf95cefa2ceb2de2eee127c9382698090d7a4a13e14c536ec6c9c3c8fa87077"],
    "rtmr0": ["fb14dc139f33d6fcf474bc8332cac001259fb31cfbcb6b34d4ceeb552a2c4466884a0cbde45ad98a05c5c060c23ad65a"],
    "rtmr1": ["a7b523278d4f914ee8df0ec80cd1c3d498cbf1152b0c5eaf65bad9425072874a3fcf891e8b01713d3d9937e3e0d26c15"],
    "rtmr2": ["24847f5c5a2360d030bc4f7b8577ce32e87c4d051452c937e91220cab69542daef83433947c492b9c201182fc9769bbe"],
    "os_image_hash": ["da9a3d5cc196a1a76d953fb27069be428ddf60a1ce10b0534c3cf968d3053fde"],
    "app_id": ["f550fdfb4eb8ad787c1bcd423f091cbb4a4431ae"],
    "key_provider_id": ["3059301306072a8648ce3d020106082a8648ce3d03010703420004228f800590a10442cba9d0e6adb2fa9f195eea9e75e23dd35990d52b59dda2415a63674c38adebde4ffd4d4b265bf818985933820c8053cee3ce29b5fb0fbcbc"]
  },
  "gpu": {
    "required": true,
    "nras": "required",
    "hwmodels": ["GH100 A01 GSP BROM"],
    "measurements": [
      {"driver_version": "570.172.08", "vbios_version": "96.00.CF.00.02",
       "measurement_record_sha256": "53cc764a223add58ec3bdee00c2a6a634c9e0f40254dc47493b753558207e44d"}
    ],
    "accept_unchecked_revocation": true
  }
}
)json";

}  // namespace

std::string_view nearai_policy_json() noexcept { return nearai_json; }

const workload_policy& nearai_policy() {
  static const workload_policy policy = [] {
    auto parsed = parse_policy(nearai_json);
    if (!parsed) {
      // A compiled-in constant: only a broken build gets here (a unit test parses it).
      std::cerr << "built-in nearai policy does not parse: " << parsed.error().message << '\n';
      std::abort();
    }
    return std::move(*parsed);
  }();
  return policy;
}

// ---------------------------------------------------------------------------------------
// Evaluation

namespace {

factor make_factor(std::string name, factor_status status, std::string detail) {
  return factor{std::move(name), status, std::move(detail)};
}

std::string date_of(unix_time t) { return format_rfc3339_utc(t).substr(0, 10); }

std::string describe_tcb(const tdx::verified_quote& q) {
  std::string s = std::string(tdx::to_string(q.status)) + " (platform " + std::string(tdx::to_string(q.platform_status));
  if (q.tdx_module_status) {
    s += ", TDX module " + (q.tdx_module_identity.empty() ? std::string() : q.tdx_module_identity + " ") +
         std::string(tdx::to_string(*q.tdx_module_status));
  }
  s += ", QE " + std::string(tdx::to_string(q.qe_status)) + ")";
  if (q.advisory_ids.empty()) {
    s += ", no advisories";
  } else {
    s += ", advisories ";
    for (std::size_t i = 0; i < q.advisory_ids.size(); ++i) s += (i == 0 ? "" : ", ") + q.advisory_ids[i];
  }
  return s;
}

factor tcb_status_factor(const workload_policy& policy, const tdx::verified_quote& q, unix_time now) {
  const std::string described = describe_tcb(q);
  switch (q.status) {
    case tdx::tcb_status::up_to_date:
    case tdx::tcb_status::sw_hardening_needed:
      return make_factor("tcb_status", factor_status::pass, described);
    case tdx::tcb_status::out_of_date:
    case tdx::tcb_status::configuration_needed:
    case tdx::tcb_status::configuration_and_sw_hardening_needed:
    case tdx::tcb_status::out_of_date_configuration_needed: {
      const unix_time since = q.newer_tcb_date.value_or(q.tcb_date);
      const auto days = std::chrono::floor<std::chrono::days>(now - since).count();
      const std::string since_text =
          (q.newer_tcb_date ? "Intel published the newer TCB level on " : "the matched TCB level is dated ") +
          date_of(since) + ", " + std::to_string(days) + " days before " + date_of(now);
      const std::string window = std::to_string(policy.tcb_grace_period().count()) + "-day grace window";
      // A zero-day window means "never", even at the very second Intel published the level.
      if (policy.tcb_grace_period().count() > 0 && now <= *tcb_acceptance_ends(policy, q)) {
        return make_factor("tcb_status", factor_status::warn,
                           described + "; accepted within the policy's " + window + ": " + since_text);
      }
      return make_factor("tcb_status", factor_status::fail,
                         described + "; " + since_text + ", beyond the policy's " + window);
    }
    case tdx::tcb_status::revoked: break;
  }
  return make_factor("tcb_status", factor_status::fail, described + "; never accepted");
}

}  // namespace

std::optional<factor> unpinned_role(const workload_policy& policy, attest::attestation_role role) {
  const attest::attestation_role other =
      role == attest::attestation_role::gateway ? attest::attestation_role::model : attest::attestation_role::gateway;
  if (policy.allowlists(role) != workload_allowlists{} || policy.allowlists(other) == workload_allowlists{}) {
    return std::nullopt;
  }
  const std::string role_name(attest::to_string(role));
  return make_factor(role_name + "_not_pinned", factor_status::fail,
                     "the policy pins " + std::string(attest::to_string(other)) + " CVMs but nothing for " + role_name +
                         " CVMs, and this attestation is judged as a " + role_name + " CVM (the backend chose the " +
                         "report's form); add a \"" + role_name + "\" section to the policy to accept it");
}

std::optional<unix_time> tcb_acceptance_ends(const workload_policy& policy, const tdx::verified_quote& q) {
  switch (q.status) {
    case tdx::tcb_status::out_of_date:
    case tdx::tcb_status::configuration_needed:
    case tdx::tcb_status::configuration_and_sw_hardening_needed:
    case tdx::tcb_status::out_of_date_configuration_needed:
      return q.newer_tcb_date.value_or(q.tcb_date) + policy.tcb_grace_period();
    default: return std::nullopt;
  }
}

namespace {

// Advisory IDs are compared ASCII case-insensitively: Intel writes "INTEL-SA-00837", and a
// deny list entry spelt "intel-sa-00837" must not silently deny nothing.
bool same_advisory(std::string_view a, std::string_view b) { return text::ascii_iequals(a, b); }

factor advisories_factor(const workload_policy& policy, const tdx::verified_quote& q) {
  std::string denied;
  for (const std::string& id : q.advisory_ids) {
    const auto& deny = policy.denied_advisories();
    if (std::any_of(deny.begin(), deny.end(), [&](const std::string& d) { return same_advisory(d, id); })) {
      denied += (denied.empty() ? "" : ", ") + id;
    }
  }
  if (!denied.empty()) {
    return make_factor("tcb_advisories", factor_status::fail, "advisories denied by the policy: " + denied);
  }
  if (policy.denied_advisories().empty()) {
    return make_factor("tcb_advisories", factor_status::skip,
                       "the policy denies no advisory (" + std::to_string(q.advisory_ids.size()) + " reported)");
  }
  return make_factor("tcb_advisories", factor_status::pass,
                     "none of the " + std::to_string(q.advisory_ids.size()) +
                         " reported advisories is among the policy's " +
                         std::to_string(policy.denied_advisories().size()) + " denied ones");
}

// The log to replay: the top-level event_log, else info.tcb_info.event_log. When both
// are present they must say the same thing, so that no reader can be shown a log other
// than the one replayed.
struct log_outcome {
  factor replay;
  factor digests;
  std::optional<std::vector<tdx_event>> verified;
};

log_outcome check_event_log(const attest::near_attestation& a, const tdx::td_report& td) {
  const attest::near_event_log* top = a.event_log ? &*a.event_log : nullptr;
  const attest::near_event_log* nested =
      a.info && a.info->tcb_info && a.info->tcb_info->event_log ? &*a.info->tcb_info->event_log : nullptr;
  const attest::near_event_log* log = top != nullptr ? top : nested;
  const std::string where = top != nullptr ? a.json_pointer + "/event_log" : a.json_pointer + "/info/tcb_info/event_log";
  const factor skipped = make_factor("runtime_event_digests", factor_status::skip, "no readable event log");
  if (log == nullptr) {
    return {make_factor("event_log_replay", factor_status::fail,
                        "the report has no event_log: RTMR0-3 cannot be explained"),
            skipped, std::nullopt};
  }
  auto events = parse_event_log(*log->entries, where);
  if (!events) return {make_factor("event_log_replay", factor_status::fail, events.error().message), skipped, std::nullopt};
  if (top != nullptr && nested != nullptr) {
    auto other = parse_event_log(*nested->entries, a.json_pointer + "/info/tcb_info/event_log");
    if (!other || *other != *events) {
      return {make_factor("event_log_replay", factor_status::fail,
                          "event_log and info.tcb_info.event_log differ" +
                              (other ? std::string() : ": " + other.error().message)),
              skipped, std::nullopt};
    }
  }

  const auto replayed = replay_rtmrs(*events);
  std::array<std::size_t, 4> per_register{};
  for (const tdx_event& e : *events) ++per_register[e.imr];
  std::string counts;
  for (std::size_t i = 0; i < 4; ++i) counts += (i == 0 ? "" : "/") + std::to_string(per_register[i]);
  factor replay = make_factor("event_log_replay", factor_status::pass,
                              std::to_string(events->size()) + " events (" + counts +
                                  " per RTMR0-3) replay to the quote's RTMR0-3");
  for (std::size_t i = 0; i < 4; ++i) {
    if (replayed[i] != td.rtmr[i]) {
      replay = make_factor("event_log_replay", factor_status::fail,
                           "RTMR" + std::to_string(i) + " replayed from " + std::to_string(per_register[i]) +
                               " events is " + to_hex(replayed[i]) + ", the quote says " + to_hex(td.rtmr[i]));
      break;
    }
  }

  const auto mismatches = check_runtime_digests(*events);
  const auto runtime_count = static_cast<std::size_t>(
      std::count_if(events->begin(), events->end(), [](const tdx_event& e) { return e.is_runtime(); }));
  factor digests = make_factor("runtime_event_digests", factor_status::pass,
                               std::to_string(runtime_count) + " runtime events recomputed from name and payload");
  if (!mismatches.empty()) {
    const runtime_digest_mismatch& m = mismatches.front();
    digests = make_factor(
        "runtime_event_digests", factor_status::fail,
        where + "/" + std::to_string(m.index) + " (" + text::quoted_excerpt(m.name) + "): " +
            (m.preimage_mismatch && m.logged == m.computed
                 ? std::string("the logged preimage is not the one its name and payload give")
                 : "logged digest " + to_hex(m.logged) + " but name and payload give " + to_hex(m.computed)) +
            (mismatches.size() > 1 ? " (" + std::to_string(mismatches.size()) + " mismatches)" : ""));
  }
  log_outcome out{std::move(replay), std::move(digests), std::nullopt};
  if (out.replay.status == factor_status::pass && out.digests.status == factor_status::pass) {
    out.verified = std::move(*events);
  }
  return out;
}

factor register_factor(std::string name, std::string_view label, const tdx::measurement& value,
                       const std::vector<bytes>& allowlist) {
  if (allowlist.empty()) {
    return make_factor(std::move(name), factor_status::skip,
                       std::string(label) + " " + to_hex(value) + " (not pinned by the policy)");
  }
  if (!allowlisted(allowlist, value)) {
    return make_factor(std::move(name), factor_status::fail,
                       std::string(label) + " " + to_hex(value) + " is not in the policy's allowlist (" +
                           std::to_string(allowlist.size()) + (allowlist.size() == 1 ? " value)" : " values)"));
  }
  return make_factor(std::move(name), factor_status::pass,
                     std::string(label) + " " + to_hex(value) + " is in the policy's allowlist");
}

// info.tcb_info repeats the registers; a report whose claims differ from the quote is
// lying somewhere, and a person reading it must not be misled.
factor info_registers_factor(const attest::near_attestation& a, const tdx::td_report& td) {
  if (!a.info || !a.info->tcb_info) return make_factor("info_registers", factor_status::skip, "no info.tcb_info");
  const attest::dstack_tcb_info& t = *a.info->tcb_info;
  std::size_t compared = 0;
  if (t.mrtd) {
    ++compared;
    if (*t.mrtd != td.mr_td) {
      return make_factor("info_registers", factor_status::fail,
                         "info.tcb_info.mrtd " + to_hex(*t.mrtd) + " differs from the quote's " + to_hex(td.mr_td));
    }
  }
  for (std::size_t i = 0; i < 4; ++i) {
    if (!t.rtmr[i]) continue;
    ++compared;
    if (*t.rtmr[i] != td.rtmr[i]) {
      return make_factor("info_registers", factor_status::fail,
                         "info.tcb_info.rtmr" + std::to_string(i) + " " + to_hex(*t.rtmr[i]) +
                             " differs from the quote's " + to_hex(td.rtmr[i]));
    }
  }
  if (compared == 0) return make_factor("info_registers", factor_status::skip, "info.tcb_info lists no registers");
  return make_factor("info_registers", factor_status::pass,
                     "the " + std::to_string(compared) + " registers info.tcb_info lists equal the quote's");
}

factor model_name_factor(const attest::near_attestation& a, std::optional<std::string_view> routed_model) {
  if (a.role == attest::attestation_role::gateway) {
    return make_factor("model_name", factor_status::skip, "the gateway's own attestation names no model");
  }
  // The backend chose this string and the policy's warnings are logged: bounded, printable.
  const std::string reported = a.model_name ? text::quoted_excerpt(*a.model_name) : "no model_name";
  if (!routed_model) {
    return make_factor("model_name", factor_status::skip,
                       "routed by backend domain, not by model; the report says " + reported + " (not quote-bound)");
  }
  if (!a.model_name || *a.model_name != *routed_model) {
    return make_factor("model_name", factor_status::warn,
                       "requested \"" + std::string(*routed_model) + "\" but the report says " + reported +
                           " (model_name is not bound by the quote)");
  }
  return make_factor("model_name", factor_status::pass, "the report serves " + reported + " (not quote-bound)");
}

}  // namespace

factor_report evaluate(const workload_policy& policy, const attest::near_attestation& attestation,
                       const attest::attestation_verdict& verdict, unix_time now,
                       std::optional<std::string_view> routed_model) {
  const tdx::verified_quote& q = verdict.quote;
  const tdx::td_report& td = q.td;
  const workload_allowlists& allow = policy.allowlists(attestation.role);
  factor_report r;
  r.factors.reserve(19);

  r.factors.push_back(tcb_status_factor(policy, q, now));
  r.factors.push_back(advisories_factor(policy, q));

  // The verifier already refuses debug TDs; checked again because the proxy's trust
  // must not hinge on one layer's defaults.
  if (td.debug()) {
    r.factors.push_back(make_factor("td_debug", factor_status::fail,
                                    "TD attributes " + to_hex(td.td_attributes) +
                                        " have the DEBUG bit set: the host can read the TD's memory"));
  } else {
    r.factors.push_back(
        make_factor("td_debug", factor_status::pass, "DEBUG bit clear (TD attributes " + to_hex(td.td_attributes) + ")"));
  }
  // Without SEPT_VE_DISABLE the host can inject #VE exceptions on EPT violations, a
  // known avenue for attacking the guest kernel.
  if (td.sept_ve_disable()) {
    r.factors.push_back(make_factor("sept_ve_disable", factor_status::pass,
                                    "SEPT_VE_DISABLE set (TD attributes " + to_hex(td.td_attributes) + ")"));
  } else if (policy.require_sept_ve_disable()) {
    r.factors.push_back(make_factor("sept_ve_disable", factor_status::fail,
                                    "SEPT_VE_DISABLE (bit 28) is clear in TD attributes " + to_hex(td.td_attributes) +
                                        " and the policy requires it"));
  } else {
    r.factors.push_back(make_factor("sept_ve_disable", factor_status::skip,
                                    "SEPT_VE_DISABLE is clear; the policy does not require it"));
  }

  log_outcome log = check_event_log(attestation, td);
  r.factors.push_back(std::move(log.replay));
  r.factors.push_back(std::move(log.digests));
  append_workload_factors(allow, attestation, td, log.verified ? &*log.verified : nullptr, r.factors);

  r.factors.push_back(register_factor("mrseam", "MRSEAM", td.mr_seam, allow.mrseam));
  r.factors.push_back(register_factor("mrtd", "MRTD", td.mr_td, allow.mrtd));
  r.factors.push_back(register_factor("rtmr0", "RTMR0", td.rtmr[0], allow.rtmr0));
  r.factors.push_back(register_factor("rtmr1", "RTMR1", td.rtmr[1], allow.rtmr1));
  r.factors.push_back(register_factor("rtmr2", "RTMR2", td.rtmr[2], allow.rtmr2));
  r.factors.push_back(info_registers_factor(attestation, td));
  r.factors.push_back(model_name_factor(attestation, routed_model));
  return r;
}

}  // namespace vp::policy
