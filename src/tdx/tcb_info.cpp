#include "tdx/tcb_info.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>
#include <limits>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "core/hex.hpp"
#include "core/text.hpp"
#include "core/time.hpp"

namespace vp::tdx {

std::string_view to_string(tcb_status s) noexcept {
  switch (s) {
    case tcb_status::up_to_date: return "UpToDate";
    case tcb_status::sw_hardening_needed: return "SWHardeningNeeded";
    case tcb_status::configuration_needed: return "ConfigurationNeeded";
    case tcb_status::configuration_and_sw_hardening_needed: return "ConfigurationAndSWHardeningNeeded";
    case tcb_status::out_of_date: return "OutOfDate";
    case tcb_status::out_of_date_configuration_needed: return "OutOfDateConfigurationNeeded";
    case tcb_status::revoked: return "Revoked";
  }
  return "Unknown";
}

std::optional<tcb_status> parse_tcb_status(std::string_view s) noexcept {
  // Exact, case-sensitive spellings: Intel's TcbStatus.h compares with std::string ==.
  static constexpr std::pair<std::string_view, tcb_status> known[] = {
      {"UpToDate", tcb_status::up_to_date},
      {"SWHardeningNeeded", tcb_status::sw_hardening_needed},
      {"ConfigurationNeeded", tcb_status::configuration_needed},
      {"ConfigurationAndSWHardeningNeeded", tcb_status::configuration_and_sw_hardening_needed},
      {"OutOfDate", tcb_status::out_of_date},
      {"OutOfDateConfigurationNeeded", tcb_status::out_of_date_configuration_needed},
      {"Revoked", tcb_status::revoked},
  };
  for (const auto& [name, status] : known) {
    if (name == s) return status;
  }
  return std::nullopt;
}

namespace {

namespace json = boost::json;

// Untrusted text goes into error messages: keep it short and printable.
std::string printable(std::string_view s) { return text::quoted_excerpt(s, 64); }

std::string_view kind_name(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64: return "an integer";
    case json::kind::double_: return "a floating-point number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "an unknown JSON value";
}

error malformed(const std::string& path, std::string_view detail) {
  return make_error(errc::malformed_collateral, path + ": " + std::string(detail));
}

std::string member_path(const std::string& parent, std::string_view key) {
  return parent + "." + std::string(key);
}

std::string index_path(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

result<const json::value*> require(const json::object& o, const std::string& parent, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return malformed(member_path(parent, key), "missing");
  return v;
}

result<const json::object*> get_object(const json::object& o, const std::string& parent, std::string_view key) {
  auto v = require(o, parent, key);
  if (!v) return v.error();
  const json::object* obj = (*v)->if_object();
  if (obj == nullptr) {
    return malformed(member_path(parent, key), "expected an object, got " + std::string(kind_name(**v)));
  }
  return obj;
}

result<const json::array*> get_array(const json::object& o, const std::string& parent, std::string_view key) {
  auto v = require(o, parent, key);
  if (!v) return v.error();
  const json::array* arr = (*v)->if_array();
  if (arr == nullptr) {
    return malformed(member_path(parent, key), "expected an array, got " + std::string(kind_name(**v)));
  }
  return arr;
}

/// A non-empty array: Intel rejects empty tcbLevels / tdxModuleIdentities.
result<const json::array*> get_nonempty_array(const json::object& o, const std::string& parent,
                                              std::string_view key) {
  auto arr = get_array(o, parent, key);
  if (!arr) return arr.error();
  if ((*arr)->empty()) return malformed(member_path(parent, key), "must not be empty");
  return arr;
}

result<std::string_view> get_string(const json::object& o, const std::string& parent, std::string_view key) {
  auto v = require(o, parent, key);
  if (!v) return v.error();
  const json::string* s = (*v)->if_string();
  if (s == nullptr) {
    return malformed(member_path(parent, key), "expected a string, got " + std::string(kind_name(**v)));
  }
  return std::string_view(*s);
}

/// An integer in [0, max]. Floating-point numbers are rejected even when integral
/// (Intel's parser requires rapidjson IsUint/IsInt).
result<std::uint64_t> get_uint(const json::object& o, const std::string& parent, std::string_view key,
                               std::uint64_t max) {
  auto v = require(o, parent, key);
  if (!v) return v.error();
  const std::string path = member_path(parent, key);
  std::uint64_t n = 0;
  if (const auto* i = (*v)->if_int64()) {
    if (*i < 0) return malformed(path, std::to_string(*i) + " is negative (allowed 0.." + std::to_string(max) + ")");
    n = static_cast<std::uint64_t>(*i);
  } else if (const auto* u = (*v)->if_uint64()) {
    n = *u;
  } else {
    return malformed(path, "expected an integer, got " + std::string(kind_name(**v)));
  }
  if (n > max) return malformed(path, std::to_string(n) + " is out of range 0.." + std::to_string(max));
  return n;
}

template <std::size_t N>
result<std::array<std::uint8_t, N>> get_hex(const json::object& o, const std::string& parent,
                                            std::string_view key) {
  auto s = get_string(o, parent, key);
  if (!s) return s.error();
  const std::string path = member_path(parent, key);
  if (s->size() != 2 * N) {
    return malformed(path, "expected " + std::to_string(2 * N) + " hex digits, got " + std::to_string(s->size()) +
                               " characters " + printable(*s));
  }
  // Either case: Intel writes FMSPC upper-case, Google's TCB info has it lower-case.
  auto decoded = from_hex(*s);
  if (!decoded || decoded->size() != N) return malformed(path, "not hex: " + printable(*s));
  std::array<std::uint8_t, N> out{};
  std::copy(decoded->begin(), decoded->end(), out.begin());
  return out;
}

result<unix_time> get_date(const json::object& o, const std::string& parent, std::string_view key) {
  auto s = get_string(o, parent, key);
  if (!s) return s.error();
  auto t = parse_rfc3339_utc(*s);
  if (!t) return malformed(member_path(parent, key), "not an RFC 3339 UTC date: " + printable(*s));
  return *t;
}

result<tcb_status> get_status(const json::object& o, const std::string& parent, std::string_view key) {
  auto s = get_string(o, parent, key);
  if (!s) return s.error();
  auto status = parse_tcb_status(*s);
  if (!status) {
    // Intel: STATUS_TCB_UNRECOGNIZED_STATUS, fatal. Never map an unknown status to a
    // default: that is how verifiers have failed open before.
    return make_error(errc::unknown_tcb_status,
                      member_path(parent, key) + ": " + printable(*s) + " is not a TCB status Intel defines");
  }
  return *status;
}

/// advisoryIDs is optional; when present it must be an array of strings.
result<std::vector<std::string>> get_advisory_ids(const json::object& o, const std::string& parent) {
  std::vector<std::string> out;
  const json::value* v = o.if_contains("advisoryIDs");
  if (v == nullptr) return out;
  const std::string path = member_path(parent, "advisoryIDs");
  const json::array* arr = v->if_array();
  if (arr == nullptr) return malformed(path, "expected an array, got " + std::string(kind_name(*v)));
  out.reserve(arr->size());
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const json::string* s = (*arr)[i].if_string();
    if (s == nullptr) {
      return malformed(index_path(path, i), "expected a string, got " + std::string(kind_name((*arr)[i])));
    }
    out.emplace_back(*s);
  }
  return out;
}

result<const json::object*> as_object(const json::value& v, const std::string& path) {
  const json::object* obj = v.if_object();
  if (obj == nullptr) return malformed(path, "expected an object, got " + std::string(kind_name(v)));
  return obj;
}

result<json::value> parse_json(std::string_view text, const std::string& what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) {
    return make_error(errc::malformed_collateral, what + " is not valid JSON (" + ec.message() + ")");
  }
  return v;
}

/// Exactly 16 {svn, category?, type?} entries (Intel TcbLevel::setTcbComponents;
/// dcap-qvl GHSA-6q6c-vvf9-fj3w was a silent truncation of a short array).
result<std::array<std::uint8_t, 16>> get_components(const json::object& tcb, const std::string& parent,
                                                    std::string_view key) {
  auto arr = get_array(tcb, parent, key);
  if (!arr) return arr.error();
  const std::string path = member_path(parent, key);
  if ((*arr)->size() != 16) {
    return malformed(path, "has " + std::to_string((*arr)->size()) + " entries, expected exactly 16");
  }
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < 16; ++i) {
    const std::string item_path = index_path(path, i);
    auto comp = as_object((**arr)[i], item_path);
    if (!comp) return comp.error();
    auto svn = get_uint(**comp, item_path, "svn", 255);
    if (!svn) return svn.error();
    out[i] = static_cast<std::uint8_t>(*svn);
    for (std::string_view optional_text : {"category", "type"}) {
      const json::value* t = (*comp)->if_contains(optional_text);
      if (t != nullptr && !t->is_string()) {
        return malformed(member_path(item_path, optional_text),
                         "expected a string, got " + std::string(kind_name(*t)));
      }
    }
  }
  return out;
}

/// tcbDate, tcbStatus and advisoryIDs: the outcome part every kind of TCB level
/// (platform, TDX module, QE) shares.
template <class Level>
result<void> parse_level_outcome(const json::object& o, const std::string& path, Level& level) {
  auto date = get_date(o, path, "tcbDate");
  if (!date) return date.error();
  level.tcb_date = *date;
  auto status = get_status(o, path, "tcbStatus");
  if (!status) return status.error();
  level.status = *status;
  auto advisories = get_advisory_ids(o, path);
  if (!advisories) return advisories.error();
  level.advisory_ids = std::move(*advisories);
  return {};
}

result<tcb_level> parse_platform_level(const json::value& v, const std::string& path) {
  auto obj = as_object(v, path);
  if (!obj) return obj.error();
  auto tcb = get_object(**obj, path, "tcb");
  if (!tcb) return tcb.error();
  const std::string tcb_path = member_path(path, "tcb");

  tcb_level level;
  auto sgx = get_components(**tcb, tcb_path, "sgxtcbcomponents");
  if (!sgx) return sgx.error();
  level.sgx_components = *sgx;
  auto pce = get_uint(**tcb, tcb_path, "pcesvn", std::numeric_limits<std::uint16_t>::max());
  if (!pce) return pce.error();
  level.pce_svn = static_cast<std::uint16_t>(*pce);
  auto tdx = get_components(**tcb, tcb_path, "tdxtcbcomponents");
  if (!tdx) return tdx.error();
  level.tdx_components = *tdx;

  if (auto r = parse_level_outcome(**obj, path, level); !r) return r.error();
  return level;
}

result<tdx_module_level> parse_module_level(const json::value& v, const std::string& path) {
  auto obj = as_object(v, path);
  if (!obj) return obj.error();
  auto tcb = get_object(**obj, path, "tcb");
  if (!tcb) return tcb.error();
  tdx_module_level level;
  // TEE_TCB_SVN[0], which this is compared with, is one byte.
  auto isv_svn = get_uint(**tcb, member_path(path, "tcb"), "isvsvn", 255);
  if (!isv_svn) return isv_svn.error();
  level.isv_svn = static_cast<std::uint8_t>(*isv_svn);
  if (auto r = parse_level_outcome(**obj, path, level); !r) return r.error();
  return level;
}

/// mrsigner / attributes / attributesMask, shared by tdxModule and its identities.
result<tdx_module_identity> parse_module_common(const json::object& o, const std::string& path) {
  tdx_module_identity m;
  auto mr_signer = get_hex<48>(o, path, "mrsigner");
  if (!mr_signer) return mr_signer.error();
  m.mr_signer = *mr_signer;
  auto attributes = get_hex<8>(o, path, "attributes");
  if (!attributes) return attributes.error();
  m.attributes = *attributes;
  auto mask = get_hex<8>(o, path, "attributesMask");
  if (!mask) return mask.error();
  m.attributes_mask = *mask;
  return m;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

result<tdx_module_identity> parse_module_identity(const json::value& v, const std::string& path) {
  auto obj = as_object(v, path);
  if (!obj) return obj.error();
  auto id = get_string(**obj, path, "id");
  if (!id) return id.error();
  if (id->empty()) return malformed(member_path(path, "id"), "must not be empty");
  auto m = parse_module_common(**obj, path);
  if (!m) return m.error();
  m->id = std::string(*id);

  auto levels = get_nonempty_array(**obj, path, "tcbLevels");
  if (!levels) return levels.error();
  const std::string levels_path = member_path(path, "tcbLevels");
  std::set<std::uint8_t> seen;
  m->levels.reserve((*levels)->size());
  for (std::size_t i = 0; i < (*levels)->size(); ++i) {
    auto level = parse_module_level((**levels)[i], index_path(levels_path, i));
    if (!level) return level.error();
    // Intel keeps module levels in a set keyed by isvsvn and rejects duplicates
    // (TdxModuleIdentity: "Detected duplicated TDX Module Identity TCB levels").
    if (!seen.insert(level->isv_svn).second) {
      return malformed(index_path(levels_path, i),
                       "duplicate module TCB level isvsvn " + std::to_string(level->isv_svn));
    }
    m->levels.push_back(std::move(*level));
  }
  return m;
}

using level_key = std::tuple<std::array<std::uint8_t, 16>, std::uint16_t, std::array<std::uint8_t, 16>>;

level_key svn_key(const tcb_level& l) { return {l.sgx_components, l.pce_svn, l.tdx_components}; }

}  // namespace

result<tcb_info> parse_tcb_info(std::string_view text) {
  auto doc = parse_json(text, "tcbInfo");
  if (!doc) return doc.error();
  const std::string root = "tcbInfo";
  auto top = as_object(*doc, root);
  if (!top) return top.error();
  const json::object& o = **top;

  tcb_info info;
  auto id = get_string(o, root, "id");
  if (!id) return id.error();
  if (*id != "TDX") return malformed(root + ".id", printable(*id) + " is not \"TDX\" (only TDX TCB info is accepted)");
  info.id = std::string(*id);
  auto version = get_uint(o, root, "version", std::numeric_limits<std::uint32_t>::max());
  if (!version) return version.error();
  if (*version != 3) return malformed(root + ".version", std::to_string(*version) + " is not 3");
  info.version = 3;

  auto issue = get_date(o, root, "issueDate");
  if (!issue) return issue.error();
  info.issue_date = *issue;
  auto next = get_date(o, root, "nextUpdate");
  if (!next) return next.error();
  info.next_update = *next;
  auto fmspc = get_hex<6>(o, root, "fmspc");
  if (!fmspc) return fmspc.error();
  info.fmspc = *fmspc;
  auto pce_id = get_hex<2>(o, root, "pceId");
  if (!pce_id) return pce_id.error();
  info.pce_id = *pce_id;
  auto tcb_type = get_uint(o, root, "tcbType", std::numeric_limits<std::uint32_t>::max());
  if (!tcb_type) return tcb_type.error();
  // Intel 4.1.2.7.4: only TCB type 0 (component-wise comparison) is defined.
  if (*tcb_type != 0) return malformed(root + ".tcbType", std::to_string(*tcb_type) + " is not 0");
  info.tcb_type = 0;
  auto eval = get_uint(o, root, "tcbEvaluationDataNumber", std::numeric_limits<std::uint32_t>::max());
  if (!eval) return eval.error();
  info.tcb_evaluation_data_number = static_cast<std::uint32_t>(*eval);

  auto module = get_object(o, root, "tdxModule");
  if (!module) return module.error();
  auto base = parse_module_common(**module, root + ".tdxModule");
  if (!base) return base.error();
  info.tdx_module = std::move(*base);

  // Absent in 2023 TDX TCB info; when present Intel requires a non-empty array.
  if (o.contains("tdxModuleIdentities")) {
    auto identities = get_nonempty_array(o, root, "tdxModuleIdentities");
    if (!identities) return identities.error();
    const std::string ids_path = root + ".tdxModuleIdentities";
    std::set<std::string> seen;
    for (std::size_t i = 0; i < (*identities)->size(); ++i) {
      auto identity = parse_module_identity((**identities)[i], index_path(ids_path, i));
      if (!identity) return identity.error();
      // Identities are looked up case-insensitively; two that collide would make the
      // lookup depend on order.
      if (!seen.insert(upper(identity->id)).second) {
        return malformed(index_path(ids_path, i), "duplicate TDX module identity id " + printable(identity->id));
      }
      info.tdx_module_identities.push_back(std::move(*identity));
    }
  }

  auto levels = get_nonempty_array(o, root, "tcbLevels");
  if (!levels) return levels.error();
  const std::string levels_path = root + ".tcbLevels";
  info.levels.reserve((*levels)->size());
  std::map<level_key, std::size_t> seen;  // SVNs → index; the parse runs before the signature check
  for (std::size_t i = 0; i < (*levels)->size(); ++i) {
    auto level = parse_platform_level((**levels)[i], index_path(levels_path, i));
    if (!level) return level.error();
    // Intel stores levels in a std::set ordered by the SVNs and rejects duplicates
    // ("Detected duplicated TCB levels"): two levels with equal SVNs and different
    // statuses would otherwise be resolved by JSON order.
    const auto [it, inserted] = seen.emplace(svn_key(*level), i);
    if (!inserted) {
      return malformed(index_path(levels_path, i),
                       "duplicate TCB level (same SVNs as " + index_path(levels_path, it->second) + ")");
    }
    info.levels.push_back(std::move(*level));
  }
  return info;
}

result<qe_identity> parse_qe_identity(std::string_view text) {
  auto doc = parse_json(text, "enclaveIdentity");
  if (!doc) return doc.error();
  const std::string root = "enclaveIdentity";
  auto top = as_object(*doc, root);
  if (!top) return top.error();
  const json::object& o = **top;

  qe_identity qe;
  auto id = get_string(o, root, "id");
  if (!id) return id.error();
  if (*id != "TD_QE") {
    return malformed(root + ".id", printable(*id) + " is not \"TD_QE\" (only the TDX quoting enclave is accepted)");
  }
  qe.id = std::string(*id);
  auto version = get_uint(o, root, "version", std::numeric_limits<std::uint32_t>::max());
  if (!version) return version.error();
  if (*version != 2) return malformed(root + ".version", std::to_string(*version) + " is not 2");
  qe.version = 2;

  auto issue = get_date(o, root, "issueDate");
  if (!issue) return issue.error();
  qe.issue_date = *issue;
  auto next = get_date(o, root, "nextUpdate");
  if (!next) return next.error();
  qe.next_update = *next;
  auto eval = get_uint(o, root, "tcbEvaluationDataNumber", std::numeric_limits<std::uint32_t>::max());
  if (!eval) return eval.error();
  qe.tcb_evaluation_data_number = static_cast<std::uint32_t>(*eval);

  // MISCSELECT is a little-endian u32 in the report; the hex gives its bytes in
  // memory order (Intel EnclaveReportVerifier::vectorToUint32 swaps).
  auto le32 = [](const std::array<std::uint8_t, 4>& b) {
    return static_cast<std::uint32_t>(b[0]) | (static_cast<std::uint32_t>(b[1]) << 8) |
           (static_cast<std::uint32_t>(b[2]) << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  };
  auto misc = get_hex<4>(o, root, "miscselect");
  if (!misc) return misc.error();
  qe.misc_select = le32(*misc);
  auto misc_mask = get_hex<4>(o, root, "miscselectMask");
  if (!misc_mask) return misc_mask.error();
  qe.misc_select_mask = le32(*misc_mask);
  auto attributes = get_hex<16>(o, root, "attributes");
  if (!attributes) return attributes.error();
  qe.attributes = *attributes;
  auto attributes_mask = get_hex<16>(o, root, "attributesMask");
  if (!attributes_mask) return attributes_mask.error();
  qe.attributes_mask = *attributes_mask;
  auto mr_signer = get_hex<32>(o, root, "mrsigner");
  if (!mr_signer) return mr_signer.error();
  qe.mr_signer = *mr_signer;
  auto prod_id = get_uint(o, root, "isvprodid", std::numeric_limits<std::uint16_t>::max());
  if (!prod_id) return prod_id.error();
  qe.isv_prod_id = static_cast<std::uint16_t>(*prod_id);

  auto levels = get_nonempty_array(o, root, "tcbLevels");
  if (!levels) return levels.error();
  const std::string levels_path = root + ".tcbLevels";
  qe.levels.reserve((*levels)->size());
  for (std::size_t i = 0; i < (*levels)->size(); ++i) {
    const std::string path = index_path(levels_path, i);
    auto level_obj = as_object((**levels)[i], path);
    if (!level_obj) return level_obj.error();
    auto tcb = get_object(**level_obj, path, "tcb");
    if (!tcb) return tcb.error();
    qe_tcb_level level;
    auto isv_svn = get_uint(**tcb, member_path(path, "tcb"), "isvsvn", std::numeric_limits<std::uint16_t>::max());
    if (!isv_svn) return isv_svn.error();
    level.isv_svn = static_cast<std::uint16_t>(*isv_svn);
    if (auto r = parse_level_outcome(**level_obj, path, level); !r) return r.error();
    qe.levels.push_back(std::move(level));
  }
  return qe;
}

}  // namespace vp::tdx
