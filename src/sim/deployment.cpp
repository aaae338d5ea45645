#include "sim/deployment.hpp"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <stdexcept>
#include <utility>

#include "core/hex.hpp"
#include "crypto/x509.hpp"

namespace vp::sim {
namespace {

using namespace std::chrono_literals;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("verified-proxy-sim: OpenSSL failed: ") + what);
}

void set_time(ASN1_TIME* field, unix_time t) {
  check(::ASN1_TIME_set(field, static_cast<time_t>(to_unix_seconds(t))) != nullptr, "ASN1_TIME_set");
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = ::X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  const int added = ::X509_add_ext(cert, ext, -1);
  ::X509_EXTENSION_free(ext);
  check(added == 1, "X509_add_ext");
}

/// A web-PKI-style certificate: a self-signed CA when `issuer` is null, else a TLS
/// server leaf for `dns_name`.
crypto::x509_ptr issue_web_certificate(EVP_PKEY* subject_key, const std::string& common_name, X509* issuer,
                                       EVP_PKEY* issuer_key, unix_time not_before, unix_time not_after,
                                       const std::string& dns_name) {
  crypto::x509_ptr cert(::X509_new());
  check(cert != nullptr, "X509_new");
  check(::X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  std::uint64_t serial = 0;
  check(::RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial) == 1, "RAND_bytes");
  check(::ASN1_INTEGER_set_uint64(::X509_get_serialNumber(cert.get()), serial >> 1) == 1, "serial");
  set_time(::X509_getm_notBefore(cert.get()), not_before);
  set_time(::X509_getm_notAfter(cert.get()), not_after);
  X509_NAME* name = ::X509_get_subject_name(cert.get());
  check(::X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>("verified-proxy-sim"), -1, -1, 0) == 1,
        "subject O");
  check(::X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                     reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1, 0) == 1,
        "subject CN");
  check(::X509_set_issuer_name(cert.get(), issuer != nullptr ? ::X509_get_subject_name(issuer) : name) == 1,
        "issuer");
  check(::X509_set_pubkey(cert.get(), subject_key) == 1, "X509_set_pubkey");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  ::X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  if (issuer == nullptr) {
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
    add_extension(cert.get(), &ctx, NID_subject_alt_name, "DNS:" + dns_name);
  }
  check(::X509_sign(cert.get(), issuer_key, ::EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::string pem_of(X509* cert) {
  crypto::bio_ptr bio(::BIO_new(::BIO_s_mem()));
  check(bio && ::PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return bio_text(bio.get());
}

std::string pem_of(EVP_PKEY* key) {
  crypto::bio_ptr bio(::BIO_new(::BIO_s_mem()));
  check(bio && ::PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}

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
  web_ca_->cert = issue_web_certificate(web_ca_->key.get(), "verified-proxy-sim web CA", nullptr, web_ca_->key.get(),
                                        now - std::chrono::days(1), now + std::chrono::days(3650), "");
  web_ca_->pem = pem_of(web_ca_->cert.get());
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
  auto leaf = issue_web_certificate(key.get(), std::string(domain), web_ca_->cert.get(), web_ca_->key.get(),
                                    now - std::chrono::hours(1), now + std::chrono::days(90), std::string(domain));
  tls_identity id;
  id.cert_pem = pem_of(leaf.get()) + web_ca_->pem;
  id.key_pem = pem_of(key.get());
  id.spki_sha256 = crypto::spki_sha256(leaf.get());
  return id;
}

bytes deployment::mint_quote(const std::array<tdx::measurement, 4>& rtmrs,
                             const std::array<std::uint8_t, 64>& report_data, const backend_faults& faults) const {
  test::quote_spec q;
  q.td = td_template_;
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
