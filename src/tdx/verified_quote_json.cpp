#include "tdx/verified_quote_json.hpp"

#include <boost/json/array.hpp>

#include <cstdio>

#include "core/hex.hpp"
#include "core/time.hpp"

namespace vp::tdx {
namespace {

boost::json::object td_json(const td_report& td) {
  boost::json::object o;
  o["tee_tcb_svn"] = to_hex(td.tee_tcb_svn);
  o["mr_seam"] = to_hex(td.mr_seam);
  o["mr_signer_seam"] = to_hex(td.mr_signer_seam);
  o["seam_attributes"] = to_hex(td.seam_attributes);
  o["td_attributes"] = to_hex(td.td_attributes);
  o["debug"] = td.debug();
  o["sept_ve_disable"] = td.sept_ve_disable();
  o["xfam"] = to_hex(td.xfam);
  o["mr_td"] = to_hex(td.mr_td);
  o["mr_config_id"] = to_hex(td.mr_config_id);
  o["mr_owner"] = to_hex(td.mr_owner);
  o["mr_owner_config"] = to_hex(td.mr_owner_config);
  for (std::size_t i = 0; i < td.rtmr.size(); ++i) o["rtmr" + std::to_string(i)] = to_hex(td.rtmr[i]);
  o["report_data"] = to_hex(td.report_data);
  if (td.tee_tcb_svn_2) o["tee_tcb_svn_2"] = to_hex(*td.tee_tcb_svn_2);
  if (td.mr_service_td) o["mr_service_td"] = to_hex(*td.mr_service_td);
  return o;
}

}  // namespace

boost::json::object to_json(const verified_quote& v) {
  boost::json::object o;
  o["ok"] = true;
  o["tcb_status"] = to_string(v.status);
  boost::json::array advisories;
  for (const auto& id : v.advisory_ids) advisories.emplace_back(id);
  o["advisory_ids"] = std::move(advisories);
  o["quote_version"] = v.quote_version;
  char tee[16];
  std::snprintf(tee, sizeof tee, "0x%08x", v.tee_type);
  o["tee_type"] = tee;
  o["body_type"] = v.body_type;
  o["fmspc"] = to_hex_upper(v.fmspc);
  o["pce_id"] = to_hex_upper(v.pce_id);
  o["pck_ca"] = to_string(v.pck_ca);
  o["platform_tcb_status"] = to_string(v.platform_status);
  boost::json::object module;
  module["identity"] = v.tdx_module_identity;
  if (v.tdx_module_status) {
    module["tcb_status"] = to_string(*v.tdx_module_status);
  } else {
    module["tcb_status"] = nullptr;
  }
  o["tdx_module"] = std::move(module);
  o["qe_tcb_status"] = to_string(v.qe_status);
  o["tcb_date"] = format_rfc3339_utc(v.tcb_date);
  o["tcb_evaluation_data_number"] = v.tcb_evaluation_data_number;
  o["relaunch_advised"] = v.relaunch_advised;
  o["td"] = td_json(v.td);
  o["collateral_expires_at"] = to_unix_seconds(v.collateral_expires_at);
  o["collateral_expires_at_iso"] = format_rfc3339_utc(v.collateral_expires_at);
  return o;
}

boost::json::object to_json(const error& e) {
  boost::json::object o;
  o["ok"] = false;
  o["error"] = to_string(e.kind);
  o["message"] = e.message;
  return o;
}

}  // namespace vp::tdx
