#include "tdx/verifier.hpp"

#include <openssl/x509v3.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string>

#include "core/hex.hpp"
#include "core/text.hpp"
#include "core/time.hpp"
#include "crypto/digest.hpp"
#include "crypto/ecdsa.hpp"
#include "crypto/x509.hpp"
#include "tdx/tcb_evaluation.hpp"

namespace vp::tdx {

using crypto::x509_crl_ptr;
using crypto::x509_ptr;

/// A time-bounded item the verdict rests on; its window is re-checked at every
/// verification because cached collateral can expire between two quotes.
struct timed_item {
  enum class kind { certificate, collateral };
  kind type;
  std::string name;       ///< e.g. "TCB info issuer chain: certificate 'Intel SGX TCB Signing'"
  std::string from_name;  ///< "notBefore", "issueDate", "thisUpdate"
  unix_time from;
  unix_time until;
};

/// A PCK chain from a quote that passed every time-independent check against one
/// prepared collateral: parsed, chained to the anchor, unrevoked by its CRLs, its SGX
/// extension decoded. Quotes from the same machine carry the same chain, and OpenSSL
/// 3.0 spends most of a verification decoding and validating it.
struct authenticated_pck_chain {
  std::vector<x509_ptr> certificates;  ///< leaf, CA, root
  pck_extension extension;
  std::vector<timed_item> windows;     ///< still checked at every verification
};

class prepared_collateral {
 public:
  /// Looks up or authenticates the chain `pem`; failures are not cached.
  result<std::shared_ptr<const authenticated_pck_chain>> pck_chain(std::string_view pem,
                                                                    const trust_anchor& anchor) const;

  bytes anchor_der;  ///< the anchor everything below was authenticated against
  std::vector<x509_ptr> pck_crl_chain;
  bytes pck_crl_ca_der;  ///< DER of pck_crl_chain[0], the PCK CA authenticated with the collateral
  x509_crl_ptr root_ca_crl;
  x509_crl_ptr pck_crl;
  tcb_info tcb;
  qe_identity qe;
  std::vector<timed_item> windows;

 private:
  static constexpr std::size_t max_cached_chains = 256;  // bounds memory; machines, not quotes
  mutable std::mutex mutex_;
  mutable std::map<sha256_digest, std::shared_ptr<const authenticated_pck_chain>> chains_;
};

namespace {

error fail(errc kind, std::string message) { return make_error(kind, std::move(message)); }

std::string when(unix_time t) { return format_rfc3339_utc(t) + " (" + std::to_string(to_unix_seconds(t)) + ")"; }

// Certificates of a chain not yet verified are anyone's: their names are quoted bounded.
std::string describe(const X509* cert) {
  return "'" + text::printable_excerpt(crypto::common_name(X509_get_subject_name(cert)), 64) + "'";
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
result<void> check_window(const timed_item& item, unix_time at, expiry_tracker& expiry) {
  expiry.add(item.until);
  const bool cert = item.type == timed_item::kind::certificate;
  if (at > item.until) {
    return fail(cert ? errc::certificate_expired : errc::collateral_expired,
                item.name + (cert ? " expired at " : " expired: nextUpdate ") + when(item.until) +
                    ", verification time " + when(at));
  }
  if (at < item.from) {
    return fail(cert ? errc::certificate_not_yet_valid : errc::collateral_not_yet_valid,
                item.name + " is not valid yet: " + item.from_name + " " + when(item.from) +
                    ", verification time " + when(at));
  }
  return {};
}

result<void> add_certificate_windows(const std::vector<x509_ptr>& chain, std::string_view chain_name,
                                     std::vector<timed_item>& out) {
  for (const auto& cert : chain) {
    const auto window = crypto::certificate_validity(cert.get());
    if (!window) return fail(errc::untrusted_chain, std::string(chain_name) + ": unreadable validity of " + describe(cert.get()));
    out.push_back({timed_item::kind::certificate, std::string(chain_name) + ": certificate " + describe(cert.get()),
                   "notBefore", window->from, window->until});
  }
  return {};
}

/// A CRL Intel would accept: issued by `issuer` (name and signature) and carrying CRL
/// Number and AKI (§2.4). Its window is checked per verification.
result<void> authenticate_crl(const X509_CRL* crl, const X509* issuer, std::string_view what,
                              std::vector<timed_item>& windows) {
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
  windows.push_back({timed_item::kind::collateral, std::string(what), "thisUpdate", window->from, window->until});
  return {};
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

// The grace window for OutOfDate / ConfigurationNeeded runs from the moment Intel
// published a TCB level the platform does not meet, not from the (much older) date of the
// level it matched: a platform is "late" only since a fix exists. Every component that is
// not UpToDate contributes the oldest of its newer levels' dates.
std::optional<unix_time> newer_tcb_date(const tcb_info& info, const qe_identity& identity, const quote& q,
                                        const tcb_evaluation& ev) {
  std::optional<unix_time> earliest;
  const auto consider_newer = [&](unix_time matched, unix_time candidate) {
    if (candidate > matched && (!earliest || candidate < *earliest)) earliest = candidate;
  };
  if (ev.platform_status != tcb_status::up_to_date) {
    for (const auto& level : info.levels) consider_newer(ev.tcb_date, level.tcb_date);
  }
  if (ev.module_status && *ev.module_status != tcb_status::up_to_date) {
    auto module = match_tdx_module(info, q.td);
    if (module && module->level) {
      const auto* id = &info.tdx_module;
      for (const auto& candidate : info.tdx_module_identities) {
        if (candidate.id == module->identity_id) id = &candidate;
      }
      for (const auto& level : id->levels) consider_newer(module->level->tcb_date, level.tcb_date);
    }
  }
  if (ev.qe_status != tcb_status::up_to_date) {
    if (auto qe = match_qe_identity(identity, q.qe_report)) {
      for (const auto& level : identity.levels) consider_newer(qe->level.tcb_date, level.tcb_date);
    }
  }
  return earliest;
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

result<std::shared_ptr<const authenticated_pck_chain>> prepared_collateral::pck_chain(std::string_view pem,
                                                                                   const trust_anchor& anchor) const {
  const sha256_digest key = crypto::sha256(as_bytes(pem));
  {
    std::lock_guard lock(mutex_);
    if (const auto it = chains_.find(key); it != chains_.end()) return it->second;
  }
  // Split the PEM without decoding: the CA and root certificates are normally
  // byte-identical to ones already authenticated, and are then reused as they are.
  auto ders = crypto::pem_certificate_ders(pem);
  if (!ders) return fail(errc::malformed_quote, "PCK certificate chain in the quote is not a PEM certificate chain");
  auto entry = std::make_shared<authenticated_pck_chain>();
  for (const bytes& der : *ders) {
    X509* known = der == anchor.der ? anchor.certificate.get()
                  : der == pck_crl_ca_der ? pck_crl_chain.front().get()
                                          : nullptr;
    if (known != nullptr && X509_up_ref(known) == 1) {
      entry->certificates.emplace_back(known);
      continue;
    }
    x509_ptr cert = crypto::parse_der_certificate(der);
    if (!cert) return fail(errc::malformed_quote, "PCK certificate chain in the quote holds an undecodable certificate");
    entry->certificates.push_back(std::move(cert));
  }
  const auto& pck = entry->certificates;
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
  // Root pinning first, so that a quote from a foreign PKI is named as such.
  if ((*ders)[2] != anchor.der) {
    return fail(errc::untrusted_chain, "PCK certificate chain ends in " + describe(pck[2].get()) +
                                           ", which is not the trusted root certificate");
  }
  // The PCK CRL must come from the CA that issued this leaf (Platform vs Processor):
  // a CRL of the other CA says nothing about this certificate.
  if (X509_NAME_cmp(X509_CRL_get_issuer(pck_crl.get()), X509_get_subject_name(pck[1].get())) != 0) {
    return fail(errc::untrusted_chain, "PCK CRL is issued by '" +
                                           crypto::name_to_string(X509_CRL_get_issuer(pck_crl.get())) +
                                           "', not by " + describe(pck[1].get()) + " which issued the PCK certificate");
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(pck[1].get()), X509_get0_pubkey(pck_crl_chain.front().get())) != 1) {
    return fail(errc::untrusted_chain, "the quote's " + describe(pck[1].get()) +
                                           " has another key than the CA that signed the PCK CRL");
  }
  if ((*ders)[1] == pck_crl_ca_der) {
    // The CA is the one prepare_collateral validated to the anchor and checked against
    // the root CA CRL; only the leaf remains: its signature and the PCK CRL.
    const auto verdict = crypto::verify_leaf(pck[0].get(), pck[1].get(), pck_crl.get());
    if (!verdict.ok()) return chain_error(verdict, "PCK certificate chain", {pck[0].get(), pck[1].get()});
  } else {
    X509_CRL* const all_crls[] = {root_ca_crl.get(), pck_crl.get()};
    if (auto r = check_chain(pck, 3, anchor, all_crls, "PCK certificate chain"); !r) return r.error();
  }
  if (auto r = add_certificate_windows(pck, "PCK certificate chain", entry->windows); !r) return r.error();

  auto ext = parse_pck_extension(pck[0].get());
  if (!ext) return ext.error();
  const std::string issuer_cn = crypto::common_name(X509_get_subject_name(pck[1].get()));
  const bool names_platform = issuer_cn.find("Platform") != std::string::npos;
  const bool names_processor = issuer_cn.find("Processor") != std::string::npos;
  if ((names_platform && ext->ca != pck_ca_type::platform) || (names_processor && ext->ca != pck_ca_type::processor)) {
    return fail(errc::untrusted_chain, "PCK leaf issued by '" + text::printable_excerpt(issuer_cn, 64) + "' carries a " +
                                           std::string(to_string(ext->ca)) + "-CA SGX extension");
  }
  entry->extension = *ext;

  std::lock_guard lock(mutex_);
  if (chains_.size() >= max_cached_chains) chains_.clear();
  chains_.emplace(key, entry);
  return std::shared_ptr<const authenticated_pck_chain>(std::move(entry));
}

result<std::shared_ptr<const prepared_collateral>> prepare_collateral(const collateral_v3& raw,
                                                                      const trust_anchor& anchor) {
  auto p = std::make_shared<prepared_collateral>();
  p->anchor_der = anchor.der;
  auto tcb_chain = parse_chain(raw.tcb_info_issuer_chain, "TCB info issuer chain", errc::malformed_collateral);
  if (!tcb_chain) return tcb_chain.error();
  auto qe_chain = parse_chain(raw.qe_identity_issuer_chain, "QE identity issuer chain", errc::malformed_collateral);
  if (!qe_chain) return qe_chain.error();
  auto crl_chain = parse_chain(raw.pck_crl_issuer_chain, "PCK CRL issuer chain", errc::malformed_collateral);
  if (!crl_chain) return crl_chain.error();
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

  // S1: both CRLs authentic. The root CRL is checked against the pinned anchor; the PCK
  // CRL against the CA at the head of its issuer chain (which verify_quote requires to
  // be the issuer of the quote's PCK leaf).
  if (auto r = authenticate_crl(p->root_ca_crl.get(), anchor.certificate.get(), "root CA CRL", p->windows); !r) {
    return r.error();
  }
  X509_CRL* const root_crl_only[] = {p->root_ca_crl.get()};
  if (auto r = check_chain(p->pck_crl_chain, 2, anchor, root_crl_only, "PCK CRL issuer chain"); !r) return r.error();
  p->pck_crl_ca_der = crypto::certificate_der(p->pck_crl_chain.front().get());
  if (auto r = authenticate_crl(p->pck_crl.get(), p->pck_crl_chain.front().get(), "PCK CRL", p->windows); !r) {
    return r.error();
  }

  // S4/S5: TCB info and QE identity: an SGX TCB Signing certificate chained to the
  // anchor, unrevoked, whose key signed the exact bytes served.
  struct signed_item {
    const char* name;
    const char* chain_name;
    const std::vector<x509_ptr>& chain;
    std::string_view text;
    byte_view signature;
  };
  const signed_item items[] = {
      {"TCB info", "TCB info issuer chain", *tcb_chain, raw.tcb_info, raw.tcb_info_signature},
      {"QE identity", "QE identity issuer chain", *qe_chain, raw.qe_identity, raw.qe_identity_signature},
  };
  for (const auto& item : items) {
    if (!cn_contains(item.chain.front().get(), "SGX TCB Signing")) {
      return fail(errc::untrusted_chain, std::string(item.name) + " is signed by " + describe(item.chain.front().get()) +
                                             ", not an SGX TCB Signing certificate");
    }
    if (auto r = check_chain(item.chain, 2, anchor, root_crl_only, item.chain_name); !r) return r.error();
    if (auto r = check_signed_json(item.text, item.signature, item.chain, item.name); !r) return r.error();
    if (auto r = add_certificate_windows(item.chain, item.chain_name, p->windows); !r) return r.error();
  }
  if (auto r = add_certificate_windows(p->pck_crl_chain, "PCK CRL issuer chain", p->windows); !r) return r.error();
  p->windows.push_back({timed_item::kind::collateral, "TCB info", "issueDate", p->tcb.issue_date, p->tcb.next_update});
  p->windows.push_back({timed_item::kind::collateral, "QE identity", "issueDate", p->qe.issue_date, p->qe.next_update});
  return std::shared_ptr<const prepared_collateral>(std::move(p));
}

collateral_summary summarize(const prepared_collateral& c) {
  collateral_summary s;
  s.fmspc = c.tcb.fmspc;
  const std::string issuer = crypto::common_name(X509_get_subject_name(c.pck_crl_chain.front().get()));
  s.pck_ca = issuer.find("Processor") != std::string::npos ? pck_ca_type::processor : pck_ca_type::platform;
  s.valid_from = unix_time::min();
  s.valid_until = unix_time::max();
  for (const auto& item : c.windows) {
    s.valid_from = std::max(s.valid_from, item.from);
    s.valid_until = std::min(s.valid_until, item.until);
  }
  s.tcb_evaluation_data_number = std::min(c.tcb.tcb_evaluation_data_number, c.qe.tcb_evaluation_data_number);
  return s;
}

result<platform_id> identify_platform(byte_view quote_bytes) {
  auto q = parse_quote(quote_bytes);
  if (!q) return q.error();
  auto chain = parse_chain(q->pck_chain_pem, "PCK certificate chain in the quote", errc::malformed_quote);
  if (!chain) return chain.error();
  auto ext = parse_pck_extension(chain->front().get());
  if (!ext) return ext.error();
  return platform_id{ext->fmspc, ext->ca};
}

result<verified_quote> verify_quote(byte_view quote_bytes, const collateral_v3& collateral, const trust_anchor& anchor,
                                    unix_time at) {
  // A quote this verifier cannot handle (an SGX quote, say) is reported as such before
  // collateral of another shape is even looked at.
  if (auto parsed = parse_quote(quote_bytes); !parsed) return parsed.error();
  auto prepared = prepare_collateral(collateral, anchor);
  if (!prepared) return prepared.error();
  return verify_quote(quote_bytes, **prepared, anchor, at);
}

// The order follows docs/tdx-dcap-verification.md §2.2: structure first, then every
// certificate, CRL and signature, then identities and TCB levels.
result<verified_quote> verify_quote(byte_view quote_bytes, const prepared_collateral& c, const trust_anchor& anchor,
                                    unix_time at) {
  auto parsed = parse_quote(quote_bytes);
  if (!parsed) return parsed.error();
  const quote& q = *parsed;
  if (c.anchor_der != anchor.der) {
    return fail(errc::untrusted_chain, "collateral was authenticated against another trust anchor");
  }

  // Every window the collateral rests on, at this verification's time.
  expiry_tracker expiry;
  for (const auto& item : c.windows) {
    if (auto r = check_window(item, at, expiry); !r) return r.error();
  }

  // S2/S3/S6: the quote's PCK chain to the pinned root, nothing in it revoked by either
  // CRL, its SGX extension decoded; then every certificate current at `at`.
  auto chain = c.pck_chain(q.pck_chain_pem, anchor);
  if (!chain) return chain.error();
  for (const auto& item : (*chain)->windows) {
    if (auto r = check_window(item, at, expiry); !r) return r.error();
  }
  const pck_extension* ext = &(*chain)->extension;
  const X509* pck_leaf = (*chain)->certificates.front().get();

  // The platform's identity from the PCK leaf must be the one the TCB info describes.
  if (ext->fmspc != c.tcb.fmspc) {
    return fail(errc::fmspc_mismatch, "PCK certificate FMSPC " + to_hex_upper(ext->fmspc) + " != TCB info FMSPC " +
                                          to_hex_upper(c.tcb.fmspc));
  }
  if (ext->pce_id != c.tcb.pce_id) {
    return fail(errc::pceid_mismatch, "PCK certificate PCE-ID " + to_hex_upper(ext->pce_id) +
                                          " != TCB info PCE-ID " + to_hex_upper(c.tcb.pce_id));
  }

  // S7: the QE report is signed by the PCK leaf key.
  if (!crypto::verify_p256_sha256_raw(X509_get0_pubkey(pck_leaf), q.qe_report_bytes, q.qe_report_signature)) {
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
  if (!tcb) return tcb.error();

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
  if (tcb->status != tcb_status::up_to_date) v.newer_tcb_date = newer_tcb_date(c.tcb, c.qe, q, *tcb);
  v.tcb_evaluation_data_number = std::min(c.tcb.tcb_evaluation_data_number, c.qe.tcb_evaluation_data_number);
  v.relaunch_advised = tcb->relaunch_advised;
  v.collateral_expires_at = expiry.earliest();
  return v;
}

}  // namespace vp::tdx
