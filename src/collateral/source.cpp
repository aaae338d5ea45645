#include "collateral/source.hpp"

#include "core/hex.hpp"
#include "core/time.hpp"

namespace vp::collateral {

std::string to_string(const platform_key& key) {
  return to_hex_upper(key.fmspc) + "/" + std::string(tdx::to_string(key.ca));
}

result<verified_collateral> accept(const tdx::collateral_v3& raw, const platform_key& key,
                                   const tdx::trust_anchor& anchor, unix_time now,
                                   std::uint32_t min_tcb_evaluation_data_number, const std::string& origin) {
  auto prepared = tdx::prepare_collateral(raw, anchor);
  if (!prepared) {
    const auto& e = prepared.error();
    // Unparseable input is "invalid"; parseable but unauthentic collateral is "rejected".
    const bool shape = e.kind == tdx::errc::malformed_collateral || e.kind == tdx::errc::unknown_tcb_status;
    return error{shape ? errc::invalid : errc::rejected,
                 origin + ": " + std::string(tdx::to_string(e.kind)) + ": " + e.message};
  }
  const tdx::collateral_summary summary = tdx::summarize(**prepared);
  const platform_key got{summary.fmspc, summary.pck_ca};
  if (got != key) {
    return error{errc::mismatch, origin + ": collateral is for " + to_string(got) + ", not " + to_string(key)};
  }
  // Expired collateral is never used for a verdict, however authentic.
  if (now > summary.valid_until) {
    return error{errc::expired, origin + ": collateral for " + to_string(key) + " expired at " +
                                    format_rfc3339_utc(summary.valid_until) + " (now " + format_rfc3339_utc(now) + ")"};
  }
  if (now < summary.valid_from) {
    return error{errc::expired, origin + ": collateral for " + to_string(key) + " is not valid before " +
                                    format_rfc3339_utc(summary.valid_from) + " (now " + format_rfc3339_utc(now) + ")"};
  }
  if (summary.tcb_evaluation_data_number < min_tcb_evaluation_data_number) {
    return error{errc::too_old, origin + ": collateral for " + to_string(key) + " has tcbEvaluationDataNumber " +
                                    std::to_string(summary.tcb_evaluation_data_number) + ", below the minimum " +
                                    std::to_string(min_tcb_evaluation_data_number)};
  }
  return verified_collateral{std::make_shared<const tdx::collateral_v3>(raw), *prepared, summary};
}

}  // namespace vp::collateral
