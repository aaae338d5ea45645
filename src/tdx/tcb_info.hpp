#pragma once
// Intel TCB info (tcbInfo v3, id "TDX") and QE identity (enclaveIdentity v2, id
// "TD_QE") parsed from the exact signed JSON text (docs/tdx-dcap-verification.md §3.2,
// §3.3). Parsing is shape-checking only: signatures and times are checked by the
// verifier.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "tdx/error.hpp"

namespace vp::tdx {

/// TCB statuses Intel defines (TcbStatus.h VALID_TCB_INFO_STATUSES). Ordered by
/// severity, as dcap-qvl orders them; Intel's combination rules are in tcb_evaluation.
enum class tcb_status {
  up_to_date,
  sw_hardening_needed,
  configuration_needed,
  configuration_and_sw_hardening_needed,
  out_of_date,
  out_of_date_configuration_needed,
  revoked,
};

/// Intel's spelling ("UpToDate", "SWHardeningNeeded", …).
std::string_view to_string(tcb_status s) noexcept;
/// Inverse of to_string; nullopt for anything Intel does not define.
std::optional<tcb_status> parse_tcb_status(std::string_view s) noexcept;

/// One entry of tcbInfo.tcbLevels.
struct tcb_level {
  std::array<std::uint8_t, 16> sgx_components{};
  std::uint16_t pce_svn = 0;
  std::array<std::uint8_t, 16> tdx_components{};
  unix_time tcb_date{};
  tcb_status status = tcb_status::up_to_date;
  std::vector<std::string> advisory_ids;
};

struct tdx_module_level {
  std::uint8_t isv_svn = 0;
  unix_time tcb_date{};
  tcb_status status = tcb_status::up_to_date;
  std::vector<std::string> advisory_ids;
};

/// tcbInfo.tdxModule (base values) or one of tcbInfo.tdxModuleIdentities.
struct tdx_module_identity {
  std::string id;  ///< "" for the base tdxModule, else e.g. "TDX_01"
  std::array<std::uint8_t, 48> mr_signer{};
  std::array<std::uint8_t, 8> attributes{};
  std::array<std::uint8_t, 8> attributes_mask{};
  std::vector<tdx_module_level> levels;  ///< JSON order; matching uses Intel's isvsvn-descending order
};

struct tcb_info {
  std::string id;  ///< "TDX"
  int version = 0;  ///< 3
  unix_time issue_date{};
  unix_time next_update{};
  std::array<std::uint8_t, 6> fmspc{};
  std::array<std::uint8_t, 2> pce_id{};
  int tcb_type = 0;
  std::uint32_t tcb_evaluation_data_number = 0;
  tdx_module_identity tdx_module;
  std::vector<tdx_module_identity> tdx_module_identities;  ///< may be empty (2023 data)
  std::vector<tcb_level> levels;  ///< JSON order; evaluation sorts them as Intel does
};

struct qe_tcb_level {
  std::uint16_t isv_svn = 0;
  unix_time tcb_date{};
  tcb_status status = tcb_status::up_to_date;
  std::vector<std::string> advisory_ids;
};

struct qe_identity {
  std::string id;  ///< "TD_QE"
  int version = 0;  ///< 2
  unix_time issue_date{};
  unix_time next_update{};
  std::uint32_t tcb_evaluation_data_number = 0;
  std::uint32_t misc_select = 0;
  std::uint32_t misc_select_mask = 0;
  std::array<std::uint8_t, 16> attributes{};
  std::array<std::uint8_t, 16> attributes_mask{};
  std::array<std::uint8_t, 32> mr_signer{};
  std::uint16_t isv_prod_id = 0;
  std::vector<qe_tcb_level> levels;  ///< JSON order
};

/// Parses the text of a `tcbInfo` object. Requires id "TDX", version 3, exactly 16 SGX
/// and 16 TDX components per level, SVNs within u8 / PCESVN within u16, RFC 3339 UTC
/// dates. Errors: malformed_collateral; unknown_tcb_status for a status string Intel
/// does not define.
result<tcb_info> parse_tcb_info(std::string_view json);

/// Parses the text of an `enclaveIdentity` object. Requires id "TD_QE", version 2.
/// Errors as parse_tcb_info.
result<qe_identity> parse_qe_identity(std::string_view json);

}  // namespace vp::tdx
