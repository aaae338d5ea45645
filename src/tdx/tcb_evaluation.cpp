#include "tdx/tcb_evaluation.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iterator>

#include "core/hex.hpp"
#include "core/time.hpp"

namespace vp::tdx {
namespace {

template <std::size_t N>
std::string svn_list(const std::array<std::uint8_t, N>& svns) {
  std::string out = "[";
  for (std::size_t i = 0; i < N; ++i) {
    if (i != 0) out += ",";
    out += std::to_string(svns[i]);
  }
  out += "]";
  return out;
}

std::string hex_u32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

std::string hex_u8(std::uint8_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", static_cast<unsigned>(v));
  return buf;
}

std::string status_name(tcb_status s) { return std::string(to_string(s)); }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

/// "TDX_" + two upper-case hex digits, as Intel names module identities (§2.12).
std::string module_identity_name(std::uint8_t version) {
  const std::uint8_t b[1] = {version};
  return "TDX_" + to_hex_upper(b);
}

const tdx_module_identity* find_module_identity(const tcb_info& info, std::string_view wanted) {
  // Intel upper-cases the collateral's id before comparing (findTdxModuleIdentity).
  const std::string key = upper(wanted);
  for (const auto& identity : info.tdx_module_identities) {
    if (upper(identity.id) == key) return &identity;
  }
  return nullptr;
}

std::string identity_ids(const tcb_info& info) {
  if (info.tdx_module_identities.empty()) return "none (tcbInfo has no tdxModuleIdentities)";
  std::string out;
  for (const auto& identity : info.tdx_module_identities) {
    if (!out.empty()) out += ", ";
    out += identity.id;
  }
  return out;
}

/// Intel's module level choice: the identity's levels live in a std::set ordered by
/// isvsvn descending (AttestationParsers TdxModuleIdentity / TdxModuleTcbLevel::
/// operator>), and the first with isvsvn <= TEE_TCB_SVN[0] wins, i.e. the highest such
/// isvsvn. Among equal isvsvn (rejected by the parser) the first in JSON order wins, as
/// with std::set insertion.
const tdx_module_level* select_module_level(const tdx_module_identity& identity, std::uint8_t isv_svn) {
  const tdx_module_level* best = nullptr;
  for (const auto& level : identity.levels) {
    if (level.isv_svn <= isv_svn && (best == nullptr || level.isv_svn > best->isv_svn)) best = &level;
  }
  return best;
}

const tdx_module_level* highest_module_level(const tdx_module_identity& identity) {
  const tdx_module_level* best = nullptr;
  for (const auto& level : identity.levels) {
    if (best == nullptr || level.isv_svn > best->isv_svn) best = &level;
  }
  return best;
}

// Intel TcbLevel::operator>: SGX components lexicographically, then PCESVN, then (TDX
// v3) the TDX components.
bool intel_greater(const tcb_level& a, const tcb_level& b) {
  if (a.sgx_components != b.sgx_components) return a.sgx_components > b.sgx_components;
  if (a.pce_svn != b.pce_svn) return a.pce_svn > b.pce_svn;
  return a.tdx_components > b.tdx_components;
}

bool same_svns(const tcb_level& a, const tcb_level& b) {
  return a.sgx_components == b.sgx_components && a.pce_svn == b.pce_svn && a.tdx_components == b.tdx_components;
}

/// The levels in Intel's std::set<TcbLevel, std::greater> order: descending, equal
/// levels collapsed to the first inserted (JSON order).
std::vector<const tcb_level*> intel_order(const tcb_info& info) {
  std::vector<const tcb_level*> out;
  out.reserve(info.levels.size());
  for (const auto& level : info.levels) out.push_back(&level);
  std::stable_sort(out.begin(), out.end(), [](const tcb_level* a, const tcb_level* b) { return intel_greater(*a, *b); });
  out.erase(std::unique(out.begin(), out.end(), [](const tcb_level* a, const tcb_level* b) { return same_svns(*a, *b); }),
            out.end());
  return out;
}

bool sgx_meets(const tcb_level& level, const pck_extension& pck) {
  for (std::size_t i = 0; i < 16; ++i) {
    if (pck.sgx_tcb_components[i] < level.sgx_components[i]) return false;
  }
  return pck.pce_svn >= level.pce_svn;
}

/// When TEE_TCB_SVN[1] > 0 the module SVNs (indices 0 and 1) are judged by the module
/// identity, not by the platform level (QVL isTdxTcbHigherOrEqual; MigTD #1048).
std::size_t tdx_first_index(const td_report& td) { return td.tee_tcb_svn[1] > 0 ? 2 : 0; }

bool tdx_meets(const tcb_level& level, const td_report& td) {
  for (std::size_t i = tdx_first_index(td); i < 16; ++i) {
    if (td.tee_tcb_svn[i] < level.tdx_components[i]) return false;
  }
  return true;
}

/// QVL matchTcbLevels: the first level (Intel order) meeting SGX + PCESVN is the SGX
/// level (used for relaunch advice); the first also meeting TEE_TCB_SVN is the TDX level.
struct level_walk {
  std::vector<const tcb_level*> ordered;
  const tcb_level* sgx_level = nullptr;
  const tcb_level* tdx_level = nullptr;
};

level_walk walk_levels(const tcb_info& info, const pck_extension& pck, const td_report& td) {
  level_walk w;
  w.ordered = intel_order(info);
  for (const tcb_level* level : w.ordered) {
    if (!sgx_meets(*level, pck)) continue;
    if (w.sgx_level == nullptr) w.sgx_level = level;
    if (tdx_meets(*level, td)) {
      w.tdx_level = level;
      break;
    }
  }
  return w;
}

std::string shortfalls(const tcb_level& level, const pck_extension& pck, const td_report& td) {
  std::string out;
  auto add = [&out](const std::string& what, unsigned have, unsigned need) {
    if (!out.empty()) out += ", ";
    out += what + " " + std::to_string(have) + " < " + std::to_string(need);
  };
  for (std::size_t i = 0; i < 16; ++i) {
    if (pck.sgx_tcb_components[i] < level.sgx_components[i]) {
      add("SGX component[" + std::to_string(i) + "]", pck.sgx_tcb_components[i], level.sgx_components[i]);
    }
  }
  if (pck.pce_svn < level.pce_svn) add("PCESVN", pck.pce_svn, level.pce_svn);
  for (std::size_t i = tdx_first_index(td); i < 16; ++i) {
    if (td.tee_tcb_svn[i] < level.tdx_components[i]) {
      add("TEE_TCB_SVN[" + std::to_string(i) + "]", td.tee_tcb_svn[i], level.tdx_components[i]);
    }
  }
  return out;
}

error no_platform_level(const level_walk& w, const pck_extension& pck, const td_report& td) {
  std::string msg = "no TCB level matches: PCK SGX components " + svn_list(pck.sgx_tcb_components) + " PCESVN " +
                    std::to_string(pck.pce_svn) + " TEE_TCB_SVN " + svn_list(td.tee_tcb_svn);
  if (tdx_first_index(td) == 2) {
    msg += " (TDX components compared from index 2: TEE_TCB_SVN[1] = " + std::to_string(td.tee_tcb_svn[1]) +
           " > 0 selects a module identity)";
  }
  if (w.ordered.empty()) return make_error(errc::no_matching_tcb_level, msg + "; tcbInfo has no TCB levels");
  if (w.sgx_level != nullptr) {
    msg += "; SGX components and PCESVN meet the level dated " + format_rfc3339_utc(w.sgx_level->tcb_date) + " (" +
           status_name(w.sgx_level->status) + ") but TEE_TCB_SVN is below it and every lower level";
  }
  const tcb_level& lowest = *w.ordered.back();
  msg += "; lowest level requires SGX components " + svn_list(lowest.sgx_components) + " PCESVN " +
         std::to_string(lowest.pce_svn) + " TDX components " + svn_list(lowest.tdx_components) + " (below it: " +
         shortfalls(lowest, pck, td) + ")";
  return make_error(errc::no_matching_tcb_level, msg);
}

bool is_module_status(tcb_status s) {
  // Intel VALID_MODULE_TCB_STATUSES.
  return s == tcb_status::up_to_date || s == tcb_status::out_of_date || s == tcb_status::revoked;
}

/// Intel's OutOfDate rule, shared by the module and the QE convergence (QVL
/// convergeTcbStatusWithTdxModuleStatus / convergeTcbStatusWithQeTcbStatus).
tcb_status apply_out_of_date(tcb_status s) {
  switch (s) {
    case tcb_status::up_to_date:
    case tcb_status::sw_hardening_needed: return tcb_status::out_of_date;
    case tcb_status::configuration_needed:
    case tcb_status::configuration_and_sw_hardening_needed: return tcb_status::out_of_date_configuration_needed;
    case tcb_status::out_of_date:
    case tcb_status::out_of_date_configuration_needed:
    case tcb_status::revoked: return s;
  }
  return tcb_status::revoked;  // unreachable; fail closed
}

/// QVL TDRelaunchCheck.cpp checkForRelaunch (v5, TD report 1.5 only, §2.16). Returns
/// whether a relaunch is advised; errors where Intel returns a fatal status. Intel's
/// TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED has no flag of its own here: the status kept
/// beside the flag says whether the TDX level needs configuration (an SGX-only level's
/// configuration need, which Intel also folds in, is not reported separately).
result<bool> relaunch_advised(const tcb_info& info, const level_walk& w, const std::array<std::uint8_t, 16>& svn2,
                              tcb_status sgx_status, tcb_status tdx_status, std::optional<tcb_status> module_status,
                              tcb_status qe_status) {
  // Intel maps every QE status but UpToDate and Revoked to "OutOfDate" (§2.10).
  if (qe_status != tcb_status::up_to_date) return false;
  if (sgx_status != tcb_status::up_to_date && sgx_status != tcb_status::sw_hardening_needed &&
      sgx_status != tcb_status::configuration_needed &&
      sgx_status != tcb_status::configuration_and_sw_hardening_needed) {
    return false;
  }
  if (tdx_status != tcb_status::out_of_date && tdx_status != tcb_status::out_of_date_configuration_needed) {
    return false;
  }
  if (module_status != tcb_status::out_of_date) return false;
  if (w.ordered.empty()) return make_error(errc::no_matching_tcb_level, "relaunch check: tcbInfo has no TCB levels");
  const tcb_level& latest = *w.ordered.front();
  if (svn2[1] == 0) return svn2[0] >= latest.tdx_components[0] && svn2[2] >= latest.tdx_components[2];

  const std::string wanted = module_identity_name(svn2[1]);
  const tdx_module_identity* identity = find_module_identity(info, wanted);
  if (identity == nullptr) {
    return make_error(errc::tdx_module_mismatch, "relaunch check: TEE_TCB_SVN_2[1] = " + hex_u8(svn2[1]) +
                                                     " requires TDX module identity " + wanted +
                                                     ", tcbInfo has " + identity_ids(info));
  }
  const tdx_module_level* top = highest_module_level(*identity);
  if (top == nullptr) {
    return make_error(errc::no_matching_tcb_level,
                      "relaunch check: TDX module identity " + identity->id + " has no TCB levels");
  }
  return svn2[0] >= top->isv_svn && svn2[2] >= latest.tdx_components[2];
}

void append_unique(std::vector<std::string>& out, const std::vector<std::string>& more) {
  for (const auto& id : more) {
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
}

std::string describe_statuses(const tcb_level& platform, const module_match& module, const qe_match& qe) {
  std::string msg = "platform level " + status_name(platform.status) + " (tcbDate " +
                    format_rfc3339_utc(platform.tcb_date) + "), TDX module ";
  if (module.level) {
    msg += module.identity_id + " level " + status_name(module.level->status) + " (isvsvn " +
           std::to_string(module.level->isv_svn) + ")";
  } else {
    msg += "not rated (TEE_TCB_SVN[1] = 0)";
  }
  msg += ", QE level " + status_name(qe.level.status) + " (isvsvn " + std::to_string(qe.level.isv_svn) + ")";
  return msg;
}

}  // namespace

result<platform_match> match_platform_tcb_level(const tcb_info& info, const pck_extension& pck,
                                                const td_report& td) {
  const level_walk w = walk_levels(info, pck, td);
  if (w.tdx_level == nullptr) return no_platform_level(w, pck, td);
  return platform_match{*w.tdx_level};
}

result<module_match> match_tdx_module(const tcb_info& info, const td_report& td) {
  const std::uint8_t version = td.tee_tcb_svn[1];
  const std::uint8_t isv_svn = td.tee_tcb_svn[0];

  // Expected values start from tdxModule and are overridden by the identity that
  // TEE_TCB_SVN[1] names (QVL QuoteVerifier 4.1.2.4.11).
  const tdx_module_identity* expected = &info.tdx_module;
  std::string source = "tcbInfo.tdxModule";
  module_match out;
  if (version > 0) {
    const std::string wanted = module_identity_name(version);
    expected = find_module_identity(info, wanted);
    if (expected == nullptr) {
      return make_error(errc::tdx_module_mismatch, "TEE_TCB_SVN[1] = " + hex_u8(version) +
                                                       " requires TDX module identity " + wanted +
                                                       ", tcbInfo has " + identity_ids(info));
    }
    source = "TDX module identity " + expected->id;
    out.identity_id = wanted;
  }

  if (td.mr_signer_seam != expected->mr_signer) {
    return make_error(errc::tdx_module_mismatch, "MRSIGNERSEAM " + to_hex(td.mr_signer_seam) + " != mrsigner " +
                                                     to_hex(expected->mr_signer) + " of " + source);
  }
  // Intel's literal rule: every byte zero *and* equal to the expected attributes; the
  // mask is not applied (quoteSeamAttributes[i] != 0 || != tdxModuleAttributes[i]).
  for (std::size_t i = 0; i < td.seam_attributes.size(); ++i) {
    if (td.seam_attributes[i] != 0 || td.seam_attributes[i] != expected->attributes[i]) {
      return make_error(errc::tdx_module_mismatch, "SEAMATTRIBUTES " + to_hex(td.seam_attributes) +
                                                       " must be all zero and equal attributes " +
                                                       to_hex(expected->attributes) + " of " + source);
    }
  }

  if (version == 0) return out;  // TDX 1.0 module: rated by the platform level alone.

  const tdx_module_level* level = select_module_level(*expected, isv_svn);
  if (level == nullptr) {
    std::string lowest = "none";
    if (!expected->levels.empty()) {
      const auto it = std::min_element(expected->levels.begin(), expected->levels.end(),
                                       [](const auto& a, const auto& b) { return a.isv_svn < b.isv_svn; });
      lowest = std::to_string(it->isv_svn);
    }
    return make_error(errc::no_matching_tcb_level, "TDX module SVN TEE_TCB_SVN[0] = " + std::to_string(isv_svn) +
                                                       " is below every TCB level of " + source +
                                                       " (lowest isvsvn " + lowest + ")");
  }
  if (!is_module_status(level->status)) {
    // Intel stringToTcbStatus(..., VALID_MODULE_TCB_STATUSES) → UNRECOGNIZED_STATUS.
    return make_error(errc::unknown_tcb_status, "TCB level isvsvn " + std::to_string(level->isv_svn) + " of " + source +
                                                    " has status " + status_name(level->status) +
                                                    ", which Intel does not define for TDX modules");
  }
  out.level = *level;
  return out;
}

result<qe_match> match_qe_identity(const qe_identity& identity, const enclave_report& qe_report) {
  // QVL 4.1.2.4.14: a TDX quote's QE must be judged by the TD_QE identity.
  if (identity.id != "TD_QE") {
    return make_error(errc::qe_identity_mismatch, "QE identity id is \"" + identity.id + "\", expected \"TD_QE\"");
  }
  const std::uint32_t misc = qe_report.misc_select & identity.misc_select_mask;
  if (misc != identity.misc_select) {
    return make_error(errc::qe_identity_mismatch, "QE MISCSELECT " + hex_u32(qe_report.misc_select) +
                                                      " & miscselectMask " + hex_u32(identity.misc_select_mask) +
                                                      " = " + hex_u32(misc) + " != miscselect " +
                                                      hex_u32(identity.misc_select));
  }
  std::array<std::uint8_t, 16> masked{};
  for (std::size_t i = 0; i < masked.size(); ++i) {
    masked[i] = static_cast<std::uint8_t>(qe_report.attributes[i] & identity.attributes_mask[i]);
  }
  if (masked != identity.attributes) {
    return make_error(errc::qe_identity_mismatch, "QE ATTRIBUTES " + to_hex(qe_report.attributes) +
                                                      " & attributesMask " + to_hex(identity.attributes_mask) +
                                                      " = " + to_hex(masked) + " != attributes " +
                                                      to_hex(identity.attributes));
  }
  if (qe_report.mr_signer != identity.mr_signer) {
    return make_error(errc::qe_identity_mismatch, "QE MRSIGNER " + to_hex(qe_report.mr_signer) + " != mrsigner " +
                                                      to_hex(identity.mr_signer));
  }
  if (qe_report.isv_prod_id != identity.isv_prod_id) {
    return make_error(errc::qe_identity_mismatch, "QE ISVPRODID " + std::to_string(qe_report.isv_prod_id) +
                                                      " != isvprodid " + std::to_string(identity.isv_prod_id));
  }
  // Intel EnclaveIdentityV2::getTcbStatus: JSON order, no sorting.
  for (const auto& level : identity.levels) {
    if (level.isv_svn <= qe_report.isv_svn) return qe_match{level};
  }
  std::string levels;
  for (const auto& level : identity.levels) {
    if (!levels.empty()) levels += ",";
    levels += std::to_string(level.isv_svn);
  }
  return make_error(errc::no_matching_tcb_level, "QE ISVSVN " + std::to_string(qe_report.isv_svn) +
                                                     " is below every QE identity TCB level (isvsvn [" + levels +
                                                     "])");
}

tcb_status converge_with_module(tcb_status platform, std::optional<tcb_status> module) {
  if (!module || *module == tcb_status::up_to_date) return platform;
  if (*module == tcb_status::revoked) return tcb_status::revoked;
  // OutOfDate. Statuses Intel does not define for modules never get here from
  // match_tdx_module; should a caller pass one, it is treated as OutOfDate rather than
  // ignored (Intel would have failed with UNRECOGNIZED_STATUS).
  return apply_out_of_date(platform);
}

tcb_status converge_with_qe(tcb_status tdx, tcb_status qe) {
  if (qe == tcb_status::up_to_date) return tdx;
  if (qe == tcb_status::revoked) return tcb_status::revoked;
  // EnclaveReportVerifier reports every other QE level status as ISVSVN_OUT_OF_DATE.
  // Unlike dcap-qvl's severity maximum, OutOfDate + ConfigurationNeeded gives
  // OutOfDateConfigurationNeeded, and SWHardeningNeeded is dropped.
  return apply_out_of_date(tdx);
}

result<tcb_evaluation> evaluate_tcb(const tcb_info& info, const qe_identity& identity, const pck_extension& pck,
                                    const quote& q) {
  // FMSPC / PCE-ID equality is the verifier's step (S6), before any of this.
  auto module = match_tdx_module(info, q.td);
  if (!module) return module.error();
  auto qe = match_qe_identity(identity, q.qe_report);
  if (!qe) return qe.error();
  const level_walk w = walk_levels(info, pck, q.td);
  if (w.tdx_level == nullptr) return no_platform_level(w, pck, q.td);
  const tcb_level& platform = *w.tdx_level;

  tcb_evaluation ev;
  ev.platform_status = platform.status;
  ev.module_identity_id = module->identity_id;
  if (module->level) ev.module_status = module->level->status;
  ev.qe_status = qe->level.status;
  ev.tcb_date = platform.tcb_date;

  tcb_status status = converge_with_module(platform.status, ev.module_status);
  if (status == tcb_status::revoked) {
    return make_error(errc::tcb_revoked, "TCB is Revoked: " + describe_statuses(platform, *module, *qe));
  }

  if (q.body_type == body_type_td15 && q.td.tee_tcb_svn_2) {
    // sgxTcbLevel (SGX + PCESVN only) always exists when the TDX level does.
    auto advised = relaunch_advised(info, w, *q.td.tee_tcb_svn_2, w.sgx_level->status, status, ev.module_status,
                                    ev.qe_status);
    if (!advised) return advised.error();
    ev.relaunch_advised = *advised;
  }

  status = converge_with_qe(status, ev.qe_status);
  if (status == tcb_status::revoked) {
    return make_error(errc::tcb_revoked, "TCB is Revoked: " + describe_statuses(platform, *module, *qe));
  }
  ev.status = status;

  append_unique(ev.advisory_ids, platform.advisory_ids);
  if (module->level) append_unique(ev.advisory_ids, module->level->advisory_ids);
  append_unique(ev.advisory_ids, qe->level.advisory_ids);
  return ev;
}

}  // namespace vp::tdx
