#pragma once
// TCB level matching and Intel's status combination (docs/tdx-dcap-verification.md
// §2.10, §2.12–§2.14, §2.16, §2.17). Pure functions over parsed collateral and quote
// fields; every rule follows Intel's QVL where dcap-qvl differs.

#include <optional>
#include <string>
#include <vector>

#include "tdx/pck_extension.hpp"
#include "tdx/quote.hpp"
#include "tdx/tcb_info.hpp"

namespace vp::tdx {

/// The platform TCB level that matched (§2.13).
struct platform_match {
  tcb_level level;  ///< copy of the first matching level in Intel's sorted order
};

/// Sorts levels as Intel does (descending by SGX components, PCESVN, TDX components;
/// equal levels collapsed) and returns the first level where every PCK SGX component,
/// the PCESVN and the TEE_TCB_SVN components (indices 2..15 when TEE_TCB_SVN[1] > 0,
/// else 0..15) are >= the level's. Errors: no_matching_tcb_level.
result<platform_match> match_platform_tcb_level(const tcb_info& info, const pck_extension& pck,
                                                const td_report& td);

/// The TDX module identity check and module TCB level (§2.12).
struct module_match {
  std::string identity_id;            ///< "TDX_01" etc.; "" when TEE_TCB_SVN[1] == 0
  std::optional<tdx_module_level> level;  ///< absent when TEE_TCB_SVN[1] == 0
};

/// Selects tdxModule / tdxModuleIdentities["TDX_<hex(TEE_TCB_SVN[1])>"], requires
/// MRSIGNERSEAM == its mrsigner and SEAMATTRIBUTES all zero and equal to its attributes
/// (Intel's literal rule), then picks the first module level in Intel's order (QVL keeps
/// them in a set sorted by isvsvn descending, i.e. the highest isvsvn) with
/// isvsvn <= TEE_TCB_SVN[0]. Errors: tdx_module_mismatch (identity missing, MRSIGNERSEAM
/// or SEAMATTRIBUTES wrong), no_matching_tcb_level (no module level), unknown_tcb_status
/// (matched level's status is not UpToDate/OutOfDate/Revoked, Intel's module statuses).
result<module_match> match_tdx_module(const tcb_info& info, const td_report& td);

/// The QE identity check and QE TCB level (§2.10).
struct qe_match {
  qe_tcb_level level;
};

/// (MISCSELECT & mask) == miscselect, (ATTRIBUTES & mask) == attributes, MRSIGNER and
/// ISVPRODID equal, then the first QE level (JSON order) with isvsvn <= ISVSVN.
/// Errors: qe_identity_mismatch, no_matching_tcb_level.
result<qe_match> match_qe_identity(const qe_identity& identity, const enclave_report& qe_report);

/// Intel's convergence of the platform status with the TDX module status (§2.14 step 1).
tcb_status converge_with_module(tcb_status platform, std::optional<tcb_status> module);
/// Intel's convergence of the TDX status with the QE status (§2.14 step 3).
tcb_status converge_with_qe(tcb_status tdx, tcb_status qe);

/// The combined outcome.
struct tcb_evaluation {
  tcb_status status = tcb_status::up_to_date;  ///< final (Intel convergence)
  tcb_status platform_status = tcb_status::up_to_date;
  std::optional<tcb_status> module_status;
  tcb_status qe_status = tcb_status::up_to_date;
  std::string module_identity_id;
  std::vector<std::string> advisory_ids;  ///< platform ∪ module ∪ QE, order kept, de-duplicated
  unix_time tcb_date{};                   ///< tcbDate of the matched platform level
  bool relaunch_advised = false;          ///< Intel TD_RELAUNCH_ADVISED (v5 + TD 1.5 only, §2.16)
};

/// Runs the three matches and combines them. A Revoked final status is an error
/// (tcb_revoked) naming each component status; other statuses are returned for policy.
result<tcb_evaluation> evaluate_tcb(const tcb_info& info, const qe_identity& identity,
                                    const pck_extension& pck, const quote& q);

}  // namespace vp::tdx
