#include "tdx/verifier.hpp"

#include <openssl/x509v3.h>

#include <algorithm>
#include <string>

#include "core/hex.hpp"
#include "core/time.hpp"
#include "crypto/digest.hpp"
#include "crypto/ecdsa.hpp"
#include "crypto/x509.hpp"
#include "tdx/tcb_evaluation.hpp"

namespace vp::tdx {

using crypto::x509_crl_ptr;
using crypto::x509_ptr;

class prepared_collateral {
 public:
  std::vector<x509_ptr> tcb_info_chain;
  std::vector<x509_ptr> qe_identity_chain;
  std::vector<x509_ptr> pck_crl_chain;
  x509_crl_ptr root_ca_crl;
  x509_crl_ptr pck_crl;
  std::string tcb_info_text;
  bytes tcb_info_signature;
  std::string qe_identity_text;
  bytes qe_identity_signature;
  tcb_info tcb;
  qe_identity qe;
};

namespace {

error fail(errc kind, std::string message) { return make_error(kind, std::move(message)); }

std::string when(unix_time t) { return format_rfc3339_utc(t) + " (" + std::to_string(to_unix_seconds(t)) + ")"; }

std::string describe(const X509* cert) {
  return "'" + crypto::common_name(X509_get_subject_name(cert)) + "'";
}

result<std::vector<x509_ptr>> parse_chain(std::string_view pem, std::string_view what, errc malformed_kind) {
  auto certs = crypto::parse_pem_certificates(pem);
  if (!certs) return fail(malformed_kind, std::string(what) + " is not a PEM certificate chain");
  return std::move(*certs);
}

bool cn_contains(const X509* cert, std::string_view needle) {
  return crypto::common_name(X509_get_subject_name(cert)).find(needle) != std::string::npos;
}

/// Tracks the earliest expiry of everything a verdict rests on (Intel QvE's
/// "earliest expiration date").
class expiry_tracker {
 public:
  void add(unix_time t) { earliest_ = std::min(earliest_, t); }
  unix_time earliest() const { return earliest_; }

 private:
  unix_time earliest_ = unix_time::max();
};

// RFC 5280 validity is inclusive at both ends; OpenSSL's verifier treats t == notAfter
// as expired, which is why times are checked here rather than by X509_verify_cert.
result<void> check_certificate_time(const X509* cert, unix_time at, std::string_view chain, expiry_tracker& expiry) {
  const auto window = crypto::certificate_validity(cert);
  if (!window) return fail(errc::untrusted_chain, std::string(chain) + ": unreadable validity of " + describe(cert));
  expiry.add(window->until);
  if (at > window->until) {
    return fail(errc::certificate_expired, std::string(chain) + ": certificate " + describe(cert) + " expired at " +
                                               when(window->until) + ", verification time " + when(at));
  }
  if (at < window->from) {
    return fail(errc::certificate_not_yet_valid, std::string(chain) + ": certificate " + describe(cert) +
                                                     " is valid only from " + when(window->from) +
                                                     ", verification time " + when(at));
  }
  return {};
}

result<void> check_chain_times(const std::vector<x509_ptr>& chain, unix_time at, std::string_view name,
                               expiry_tracker& expiry) {
  for (const auto& cert : chain) {
    if (auto r = check_certificate_time(cert.get(), at, name, expiry); !r) return r;
  }
  return {};
}

result<void> check_collateral_window(unix_time from, unix_time until, unix_time at, std::string_view what,
                                     std::string_view from_name, expiry_tracker& expiry) {
  expiry.add(until);
  if (at > until) {
    return fail(errc::collateral_expired, std::string(what) + " expired: nextUpdate " + when(until) +
                                              ", verification time " + when(at));
  }
  if (at < from) {
    return fail(errc::collateral_not_yet_valid, std::string(what) + " is not valid yet: " + std::string(from_name) +
                                                    " " + when(from) + ", verification time " + when(at));
  }
  return {};
}

/// A CRL Intel would accept: issued by `issuer` (name and signature), carrying CRL
/// Number and AKI, and current at `at` (§2.4).
result<void> check_crl(const X509_CRL* crl, const X509* issuer, unix_time at, std::string_view what,
                       expiry_tracker& expiry) {
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) {
    return fail(errc::untrusted_chain, std::string(what) + " is issued by '" +
                                           crypto::name_to_string(X509_CRL_get_issuer(crl)) + "', expected " +
                                           describe(issuer));
  }
  if (!crypto::crl_has_required_extensions(crl)) {
    return fail(errc::malformed_collateral, std::string(what) + " lacks the CRL Number or Authority Key Identifier extension");
  }
  if (X509_CRL_verify(const_cast<X509_CRL*>(crl), X509_get0_pubkey(issuer)) != 1) {
    crypto::take_openssl_error();
    return fail(errc::untrusted_chain, std::string(what) + " signature does not verify with the key of " + describe(issuer));
  }
  const auto window = crypto::crl_validity(crl);
  if (!window) return fail(errc::malformed_collateral, std::string(what) + " has no readable thisUpdate/nextUpdate");
  return check_collateral_window(window->from, window->until, at, what, "thisUpdate", expiry);
}

/// Maps an OpenSSL path-validation failure onto the verifier's kinds.
error chain_error(const crypto::chain_verdict& v, std::string_view chain, const std::vector<X509*>& path) {
  std::string subject = "certificate at depth " + std::to_string(v.depth);
  if (v.depth >= 0 && static_cast<std::size_t>(v.depth) < path.size()) subject = describe(path[static_cast<std::size_t>(v.depth)]);
  const errc kind = v.error == X509_V_ERR_CERT_REVOKED ? errc::certificate_revoked : errc::untrusted_chain;
  return fail(kind, std::string(chain) + ": " + subject + ": " + v.message);
}

/// Validates `chain` (leaf first, pinned root last) with OpenSSL, every certificate
/// checked against `crls` (CRL_CHECK_ALL), the root compared byte for byte with the anchor.
result<void> check_chain(const std::vector<x509_ptr>& chain, std::size_t expected_length, const trust_anchor& anchor,
                         std::span<X509_CRL* const> crls, std::string_view name) {
  if (chain.size() != expected_length) {
    return fail(errc::untrusted_chain, std::string(name) + " has " + std::to_string(chain.size()) +
                                           " certificates, expected " + std::to_string(expected_length));
  }
  // Intel pins the root; a chain that merely ends in a certificate with the same name
  // (or even the same key) is not accepted.
  if (crypto::certificate_der(chain.back().get()) != anchor.der) {
    return fail(errc::untrusted_chain, std::string(name) + " ends in " + describe(chain.back().get()) +
                                           ", which is not the trusted root certificate");
  }
  std::vector<X509*> intermediates;
  for (std::size_t i = 1; i + 1 < chain.size(); ++i) intermediates.push_back(chain[i].get());
  const auto verdict = crypto::verify_chain(chain.front().get(), intermediates, anchor.certificate.get(), crls);
  if (!verdict.ok()) {
    std::vector<X509*> path;
    for (const auto& c : chain) path.push_back(c.get());
    return chain_error(verdict, name, path);
  }
  return {};
}

result<void> check_signed_json(std::string_view text, byte_view signature, const std::vector<x509_ptr>& chain,
                               std::string_view what) {
  crypto::evp_pkey_ptr key{X509_get_pubkey(chain.front().get())};
  if (!crypto::verify_p256_sha256_raw(key.get(), as_bytes(text), signature)) {
    return fail(errc::invalid_signature, std::string(what) + " signature does not verify with the key of " +
                                             describe(chain.front().get()));
  }
  return {};
}

std::string svn_list(byte_view v) {
  std::string out = "[";
  for (std::size_t i = 0; i < v.size(); ++i) out += (i ? "," : "") + std::to_string(v[i]);
  return out + "]";
}

}  // namespace

result<std::shared_ptr<const trust_anchor>> load_trust_anchor(byte_view pem_or_der) {
  x509_ptr cert = crypto::parse_der_certificate(pem_or_der);
  if (!cert) {
    auto certs = crypto::parse_pem_certificates(as_chars(pem_or_der));
    if (!certs || certs->size() != 1) {
      return fail(errc::malformed_collateral, "trust anchor is not exactly one PEM or DER certificate");
    }
    cert = std::move(certs->front());
  }
  auto anchor = std::make_shared<trust_anchor>();
  anchor->der = crypto::certificate_der(cert.get());
  anchor->der_sha256 = crypto::sha256(anchor->der);
  anchor->certificate = std::move(cert);
  return std::shared_ptr<const trust_anchor>(std::move(anchor));
}

result<std::shared_ptr<const prepared_collateral>> prepare_collateral(const collateral_v3& raw) {
  auto p = std::make_shared<prepared_collateral>();
  auto tcb_chain = parse_chain(raw.tcb_info_issuer_chain, "TCB info issuer chain", errc::malformed_collateral);
  if (!tcb_chain) return tcb_chain.error();
  auto qe_chain = parse_chain(raw.qe_identity_issuer_chain, "QE identity issuer chain", errc::malformed_collateral);
  if (!qe_chain) return qe_chain.error();
  auto crl_chain = parse_chain(raw.pck_crl_issuer_chain, "PCK CRL issuer chain", errc::malformed_collateral);
  if (!crl_chain) return crl_chain.error();
  p->tcb_info_chain = std::move(*tcb_chain);
  p->qe_identity_chain = std::move(*qe_chain);
  p->pck_crl_chain = std::move(*crl_chain);

  p->root_ca_crl = crypto::parse_crl(raw.root_ca_crl);
  if (!p->root_ca_crl) return fail(errc::malformed_collateral, "root CA CRL does not parse (DER, PEM or hex expected)");
  p->pck_crl = crypto::parse_crl(raw.pck_crl);
  if (!p->pck_crl) return fail(errc::malformed_collateral, "PCK CRL does not parse (DER, PEM or hex expected)");

  if (raw.tcb_info_signature.size() != 64) return fail(errc::malformed_collateral, "TCB info signature is not 64 bytes (r‖s)");
  if (raw.qe_identity_signature.size() != 64) return fail(errc::malformed_collateral, "QE identity signature is not 64 bytes (r‖s)");
  auto tcb = parse_tcb_info(raw.tcb_info);
  if (!tcb) return tcb.error();
  auto qe = parse_qe_identity(raw.qe_identity);
  if (!qe) return qe.error();
  p->tcb = std::move(*tcb);
  p->qe = std::move(*qe);
  p->tcb_info_text = raw.tcb_info;
  p->tcb_info_signature = raw.tcb_info_signature;
  p->qe_identity_text = raw.qe_identity;
  p->qe_identity_signature = raw.qe_identity_signature;
  return std::shared_ptr<const prepared_collateral>(std::move(p));
}

result<verified_quote> verify_quote(byte_view quote_bytes, const collateral_v3& collateral, const trust_anchor& anchor,
                                    unix_time at) {
  // A quote this verifier cannot handle (an SGX quote, say) is reported as such before
  // collateral of another shape is even looked at.
  if (auto parsed = parse_quote(quote_bytes); !parsed) return parsed.error();
  auto prepared = prepare_collateral(collateral);
  if (!prepared) return prepared.error();
  return verify_quote(quote_bytes, **prepared, anchor, at);
}

// The order follows docs/tdx-dcap-verification.md §2.2: structure first, then every
// certificate, CRL and signature, then identities and TCB levels. Every check runs
// on every call; nothing is cached between verifications.
result<verified_quote> verify_quote(byte_view quote_bytes, const prepared_collateral& c, const trust_anchor& anchor,
                                    unix_time at) {
  auto parsed = parse_quote(quote_bytes);
  if (!parsed) return parsed.error();
  const quote& q = *parsed;
  expiry_tracker expiry;

  // S1: both CRLs authentic and current. The root CRL is checked against the pinned
  // anchor; the PCK CRL against the intermediate that issued the quote's PCK leaf.
  auto pck_chain = parse_chain(q.pck_chain_pem, "PCK certificate chain in the quote", errc::malformed_quote);
  if (!pck_chain) return pck_chain.error();
  const auto& pck = *pck_chain;
  if (pck.size() != 3) {
    return fail(errc::untrusted_chain,
                "PCK certificate chain in the quote has " + std::to_string(pck.size()) + " certificates, expected 3");
  }
  // Intel's CN checks (PckCertVerifier): leaf, intermediate CA, SGX root.
  if (!cn_contains(pck[0].get(), "SGX PCK Certificate") || !cn_contains(pck[1].get(), "CA") ||
      !cn_contains(pck[2].get(), "SGX Root CA")) {
    return fail(errc::untrusted_chain, "PCK chain subjects " + describe(pck[0].get()) + ", " + describe(pck[1].get()) +
                                           ", " + describe(pck[2].get()) + " are not a PCK leaf, a PCK CA and the SGX root");
  }
  if (auto r = check_crl(c.root_ca_crl.get(), anchor.certificate.get(), at, "root CA CRL", expiry); !r) return r.error();
  if (auto r = check_crl(c.pck_crl.get(), pck[1].get(), at, "PCK CRL", expiry); !r) return r.error();
  X509_CRL* const all_crls[] = {c.root_ca_crl.get(), c.pck_crl.get()};
  X509_CRL* const root_crl_only[] = {c.root_ca_crl.get()};

  // S2/S3: PCK chain to the pinned root, nothing revoked, every certificate current.
  if (auto r = check_chain(pck, 3, anchor, all_crls, "PCK certificate chain"); !r) return r.error();
  if (auto r = check_chain_times(pck, at, "PCK certificate chain", expiry); !r) return r.error();
  // The PCK CRL issuer chain shipped with the collateral must itself be Intel's.
  if (auto r = check_chain(c.pck_crl_chain, 2, anchor, root_crl_only, "PCK CRL issuer chain"); !r) return r.error();
  if (auto r = check_chain_times(c.pck_crl_chain, at, "PCK CRL issuer chain", expiry); !r) return r.error();

  // S4/S5: TCB info and QE identity: signing chain, signature over the exact bytes, window.
  if (!cn_contains(c.tcb_info_chain.front().get(), "SGX TCB Signing")) {
    return fail(errc::untrusted_chain, "TCB info is signed by " + describe(c.tcb_info_chain.front().get()) +
                                           ", not an SGX TCB Signing certificate");
  }
  if (!cn_contains(c.qe_identity_chain.front().get(), "SGX TCB Signing")) {
    return fail(errc::untrusted_chain, "QE identity is signed by " + describe(c.qe_identity_chain.front().get()) +
                                           ", not an SGX TCB Signing certificate");
  }
  if (auto r = check_chain(c.tcb_info_chain, 2, anchor, root_crl_only, "TCB info issuer chain"); !r) return r.error();
  if (auto r = check_chain_times(c.tcb_info_chain, at, "TCB info issuer chain", expiry); !r) return r.error();
  if (auto r = check_signed_json(c.tcb_info_text, c.tcb_info_signature, c.tcb_info_chain, "TCB info"); !r) return r.error();
  if (auto r = check_collateral_window(c.tcb.issue_date, c.tcb.next_update, at, "TCB info", "issueDate", expiry); !r) {
    return r.error();
  }
  if (auto r = check_chain(c.qe_identity_chain, 2, anchor, root_crl_only, "QE identity issuer chain"); !r) return r.error();
  if (auto r = check_chain_times(c.qe_identity_chain, at, "QE identity issuer chain", expiry); !r) return r.error();
  if (auto r = check_signed_json(c.qe_identity_text, c.qe_identity_signature, c.qe_identity_chain, "QE identity"); !r) {
    return r.error();
  }
  if (auto r = check_collateral_window(c.qe.issue_date, c.qe.next_update, at, "QE identity", "issueDate", expiry); !r) {
    return r.error();
  }

  // S6: the platform's identity from the PCK leaf must be the one the TCB info describes.
  auto ext = parse_pck_extension(pck[0].get());
  if (!ext) return ext.error();
  const std::string issuer_cn = crypto::common_name(X509_get_subject_name(pck[1].get()));
  const bool names_platform = issuer_cn.find("Platform") != std::string::npos;
  const bool names_processor = issuer_cn.find("Processor") != std::string::npos;
  if ((names_platform && ext->ca != pck_ca_type::platform) || (names_processor && ext->ca != pck_ca_type::processor)) {
    return fail(errc::untrusted_chain, "PCK leaf issued by '" + issuer_cn + "' carries a " +
                                           std::string(to_string(ext->ca)) + "-CA SGX extension");
  }
  if (ext->fmspc != c.tcb.fmspc) {
    return fail(errc::fmspc_mismatch, "PCK certificate FMSPC " + to_hex_upper(ext->fmspc) + " != TCB info FMSPC " +
                                          to_hex_upper(c.tcb.fmspc));
  }
  if (ext->pce_id != c.tcb.pce_id) {
    return fail(errc::pceid_mismatch, "PCK certificate PCE-ID " + to_hex_upper(ext->pce_id) +
                                          " != TCB info PCE-ID " + to_hex_upper(c.tcb.pce_id));
  }

  // S7: the QE report is signed by the PCK leaf key.
  crypto::evp_pkey_ptr pck_key{X509_get_pubkey(pck[0].get())};
  if (!crypto::verify_p256_sha256_raw(pck_key.get(), q.qe_report_bytes, q.qe_report_signature)) {
    return fail(errc::invalid_signature, "QE report signature does not verify with the PCK certificate key");
  }
  // S8: the QE vouches for the attestation key: REPORTDATA = SHA-256(key ‖ auth data) ‖ 0^32.
  // Intel compares only the first half; Go also requires the zero half, and so do we.
  const auto expected_binding = crypto::sha256({q.attestation_key, q.qe_auth_data});
  const byte_view report_data(q.qe_report.report_data);
  const bool upper_zero = std::all_of(report_data.begin() + 32, report_data.end(), [](std::uint8_t b) { return b == 0; });
  if (!equal_bytes(report_data.first(32), expected_binding) || !upper_zero) {
    return fail(errc::qe_report_binding, "QE report data " + to_hex(report_data) +
                                             " != SHA-256(attestation key ‖ QE auth data) ‖ zeros (" +
                                             to_hex(expected_binding) + ")");
  }

  // S10: the quote signature by the attestation key over header ‖ body.
  crypto::evp_pkey_ptr attestation_key = crypto::p256_public_key_from_xy(q.attestation_key);
  if (!attestation_key) return fail(errc::malformed_quote, "attestation key is not a point on P-256");
  if (!crypto::verify_p256_sha256_raw(attestation_key.get(), q.signed_region, q.signature)) {
    return fail(errc::invalid_signature, "quote signature does not verify with the attestation key");
  }

  // A debug TD's memory and registers are readable by the host: no secret is safe in it.
  if (q.td.debug()) {
    return fail(errc::debug_td, "TD attributes " + to_hex(q.td.td_attributes) + " have the DEBUG bit set");
  }

  // S9, S11-S16: QE identity, TDX module identity, platform TCB level, status.
  auto tcb = evaluate_tcb(c.tcb, c.qe, *ext, q);
  if (!tcb) {
    auto e = tcb.error();
    if (e.kind == errc::no_matching_tcb_level) {
      e.message += " (PCK SGX components " + svn_list(ext->sgx_tcb_components) + ", PCESVN " +
                   std::to_string(ext->pce_svn) + ", TEE_TCB_SVN " + svn_list(q.td.tee_tcb_svn) + ")";
    }
    return e;
  }

  verified_quote v;
  v.quote_version = q.header.version;
  v.tee_type = q.header.tee_type;
  v.body_type = q.body_type;
  v.fmspc = ext->fmspc;
  v.pce_id = ext->pce_id;
  v.pck_ca = ext->ca;
  v.td = q.td;
  v.status = tcb->status;
  v.platform_status = tcb->platform_status;
  v.tdx_module_status = tcb->module_status;
  v.tdx_module_identity = tcb->module_identity_id;
  v.qe_status = tcb->qe_status;
  v.advisory_ids = tcb->advisory_ids;
  v.tcb_date = tcb->tcb_date;
  v.tcb_evaluation_data_number = std::min(c.tcb.tcb_evaluation_data_number, c.qe.tcb_evaluation_data_number);
  v.relaunch_advised = tcb->relaunch_advised;
  v.collateral_expires_at = expiry.earliest();
  return v;
}

}  // namespace vp::tdx
