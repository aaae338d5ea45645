#include "sim/deployment.hpp"

#include <chrono>
#include <stdexcept>
#include <utility>

#include <openssl/objects.h>
#include <openssl/x509.h>

#include "core/hex.hpp"
#include "crypto/digest.hpp"
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

deployment::deployment(unix_time now, std::optional<std::chrono::days> up_to_date_tcb_level_age, std::size_t gpus)
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

  workload_ = make_workload_identity(gpus);
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
  return mint_quote(mr_td, td_template_.mr_config_id, rtmrs, report_data, faults);
}

bytes deployment::mint_quote(const tdx::measurement& mr_td, const tdx::measurement& mr_config_id,
                             const std::array<tdx::measurement, 4>& rtmrs, const std::array<std::uint8_t, 64>& report_data,
                             const backend_faults& faults) const {
  test::quote_spec q;
  q.td = td_template_;
  q.td.mr_config_id = mr_config_id;
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

const test::nvidia_test_pki& deployment::gpu_pki() const {
  std::call_once(gpu_pki_once_, [this] { gpu_pki_ = std::make_unique<test::nvidia_test_pki>(); });
  return *gpu_pki_;
}

const test::fake_nras_signer& deployment::nras_signer() const {
  // One fake NVIDIA for the process: its RSA intermediate takes ~0.1 s to generate, and
  // every simulator of a test run would otherwise pay it again.
  static const test::fake_nras_signer shared;
  return shared;
}

const gpu_pins& deployment::gpu_pinned() const {
  std::call_once(pins_once_, [this] {
    // Read back from what the PKI mints for a healthy GPU, so that the policy pins exactly
    // what the reports carry (§1.7) even when the PKI's defaults change.
    const test::gpu_spec healthy;
    const test::nvidia_test_pki& pki = gpu_pki();
    const bytes evidence = pki.evidence(healthy, test::gpu_nonce{}, 0);
    // §1.2: the 37-byte GET_MEASUREMENTS request, then MEASUREMENTS: version, code, param1,
    // param2, NumberOfBlocks, MeasurementRecordLength (u24 little-endian), the record.
    constexpr std::size_t length_at = 37 + 5;
    if (evidence.size() < length_at + 3) throw std::runtime_error("verified-proxy-sim: minted GPU evidence too short");
    const std::size_t length = std::size_t{evidence[length_at]} | (std::size_t{evidence[length_at + 1]} << 8) |
                               (std::size_t{evidence[length_at + 2]} << 16);
    if (evidence.size() < length_at + 3 + length) {
      throw std::runtime_error("verified-proxy-sim: minted GPU evidence shorter than its measurement record");
    }
    pins_.measurement_record_sha256_hex = to_hex(crypto::sha256(byte_view(evidence).subspan(length_at + 3, length)));
    pins_.driver_version = healthy.driver_version;
    pins_.vbios_version = test::format_vbios_version(healthy.vbios);

    // The BROM certificate is the second of the chain (§1.3: leaf, BROM, Provisioner ICA,
    // Identity, root); its CN is the hardware model the policy accepts.
    const auto chain = crypto::parse_pem_certificates(pki.certificate_chain_pem(healthy, 0));
    if (!chain || chain->size() < 2) throw std::runtime_error("verified-proxy-sim: minted GPU chain has no BROM");
    char cn[256] = {};
    const int n = ::X509_NAME_get_text_by_NID(::X509_get_subject_name((*chain)[1].get()), NID_commonName, cn,
                                              static_cast<int>(sizeof cn));
    if (n <= 0) throw std::runtime_error("verified-proxy-sim: minted BROM certificate has no CN");
    pins_.hwmodel.assign(cn, static_cast<std::size_t>(n));
  });
  return pins_;
}

}  // namespace vp::sim
