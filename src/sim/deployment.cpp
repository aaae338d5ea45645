#include "sim/deployment.hpp"

#include <chrono>
#include <stdexcept>
#include <utility>

#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "testpki/web_pki.hpp"

namespace vp::sim {
namespace {

using namespace std::chrono_literals;

std::string as_string(const bytes& b) { return std::string(as_chars(b)); }

/// Intel's PCS body shape: the signed object's exact text, then the hex signature.
std::string signed_body(std::string_view key, const std::string& text, const bytes& signature) {
  return "{\"" + std::string(key) + "\":" + text + ",\"signature\":\"" + to_hex(signature) + "\"}";
}

}  // namespace

struct deployment::web_ca {
  crypto::evp_pkey_ptr key;
  crypto::x509_ptr cert;
  std::string pem;
};

deployment::deployment(unix_time now, std::optional<std::chrono::days> up_to_date_tcb_level_age)
    : web_ca_(std::make_unique<web_ca>()) {
  root_ca_pem_ = pki_.root_pem();

  // Collateral valid around `now`, so that a proxy using the system clock accepts it.
  const unix_time issued = now - std::chrono::days(1);
  const unix_time next_update = now + std::chrono::days(30);
  test::collateral_spec spec;
  spec.tcb_info.issue_date = issued;
  spec.tcb_info.next_update = next_update;
  spec.qe_identity.issue_date = issued;
  spec.qe_identity.next_update = next_update;
  spec.root_ca_crl.this_update = issued;
  spec.root_ca_crl.next_update = next_update;
  spec.pck_crl.this_update = issued;
  spec.pck_crl.next_update = next_update;
  spec.pck_crl.revoked_serials = {revoked_pck_serial};
  if (up_to_date_tcb_level_age) {
    // The first level is the UpToDate one (test_pki's tcb_info_spec): a recent tcbDate
    // puts an OutOfDate platform inside a policy's grace window.
    spec.tcb_info.levels.front().tcb_date = std::chrono::floor<std::chrono::days>(now - *up_to_date_tcb_level_age);
  }
  const tdx::collateral_v3 c = pki_.collateral(spec);

  pccs_.fmspc_hex = to_hex_upper(test::default_fmspc);
  pccs_.tcb_info = signed_body("tcbInfo", c.tcb_info, c.tcb_info_signature);
  pccs_.tcb_info_issuer_chain = c.tcb_info_issuer_chain;
  pccs_.qe_identity = signed_body("enclaveIdentity", c.qe_identity, c.qe_identity_signature);
  pccs_.qe_identity_issuer_chain = c.qe_identity_issuer_chain;
  pccs_.pck_crl_platform = as_string(c.pck_crl);
  pccs_.pck_crl_platform_issuer_chain = c.pck_crl_issuer_chain;
  test::crl_spec processor_crl = spec.pck_crl;
  processor_crl.revoked_serials.clear();
  pccs_.pck_crl_processor = as_string(pki_.issue_crl(test::pki_cert::processor_ca, processor_crl));
  pccs_.pck_crl_processor_issuer_chain = pki_.pck_crl_issuer_chain_pem(tdx::pck_ca_type::processor);
  pccs_.root_ca_crl = as_string(c.root_ca_crl);

  web_ca_->key = test::generate_p256_key();
  test::web_certificate_spec ca;
  ca.common_name = "verified-proxy-sim web CA";
  ca.organization = "verified-proxy-sim";
  ca.not_before = now - std::chrono::days(1);
  ca.not_after = now + std::chrono::days(3650);
  ca.is_ca = true;
  web_ca_->cert = test::issue_web_certificate(web_ca_->key.get(), ca, nullptr, web_ca_->key.get());
  web_ca_->pem = test::certificate_pem(web_ca_->cert.get());
  upstream_ca_pem_ = web_ca_->pem;

  workload_ = make_workload_identity();
  td_template_ = test::default_td_report();
  td_template_.mr_td = workload_.mr_td;
  td_template_.mr_config_id = workload_.mr_config_id;
}

deployment::~deployment() = default;

tls_identity deployment::issue_tls_identity(std::string_view domain) const {
  const auto now = std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  auto key = test::generate_p256_key();
  test::web_certificate_spec spec;
  spec.common_name = std::string(domain);
  spec.organization = "verified-proxy-sim";
  spec.not_before = now - std::chrono::hours(1);
  spec.not_after = now + std::chrono::days(90);
  spec.subject_alt_names = {"DNS:" + std::string(domain)};
  auto leaf = test::issue_web_certificate(key.get(), spec, web_ca_->cert.get(), web_ca_->key.get());
  tls_identity id;
  id.cert_pem = test::certificate_pem(leaf.get()) + web_ca_->pem;
  id.key_pem = test::private_key_pem(key.get());
  id.spki_sha256 = crypto::spki_sha256(leaf.get());
  return id;
}

bytes deployment::mint_quote(const tdx::measurement& mr_td, const std::array<tdx::measurement, 4>& rtmrs,
                             const std::array<std::uint8_t, 64>& report_data, const backend_faults& faults) const {
  test::quote_spec q;
  q.td = td_template_;
  q.td.mr_td = mr_td;
  q.td.rtmr = rtmrs;
  q.td.report_data = report_data;
  if (faults.debug_td) q.td.td_attributes[0] |= 0x01;  // TUD.DEBUG
  if (faults.revoked_pck) q.pck.cert.serial = revoked_pck_serial;
  // The UpToDate level asks for PCESVN 11, the OutOfDate one for 5 (test_pki's
  // tcb_info_spec): 10 lands on OutOfDate with every component still matching.
  if (faults.out_of_date_tcb) q.pck.sgx.pce_svn = 10;
  return (faults.untrusted_root ? foreign_pki_ : pki_).mint(q);
}

}  // namespace vp::sim
