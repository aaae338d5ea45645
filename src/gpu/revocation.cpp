#include "gpu/revocation.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>

#include "crypto/x509.hpp"

namespace vp::gpu {

std::string_view to_string(revocation_status s) noexcept {
  switch (s) {
    case revocation_status::good: return "good";
    case revocation_status::unchecked: return "unchecked";
    case revocation_status::revoked: return "revoked";
  }
  return "unknown";
}

namespace {

/// A CRL of `issuer` that is authentic and current at `now`, or nullptr.
X509_CRL* current_crl_of(X509* issuer, std::span<X509_CRL* const> crls, unix_time now) {
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  for (X509_CRL* crl : crls) {
    if (key == nullptr || X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0) continue;
    const auto window = crypto::crl_validity(crl);
    const bool authentic = X509_CRL_verify(crl, key) == 1;
    ERR_clear_error();
    if (authentic && window && window->contains(now)) return crl;
  }
  return nullptr;
}

}  // namespace

revocation_result check_revocation(const verified_gpu& gpu, std::span<X509_CRL* const> crls, unix_time now) {
  revocation_result out;
  if (gpu.chain_der.size() != 5) {
    out.detail = "the chain is not the 5 certificates verified";
    return out;
  }
  std::vector<crypto::x509_ptr> chain;
  for (const auto& der : gpu.chain_der) chain.push_back(crypto::parse_der_certificate(der));
  bool all_checked = true;
  for (std::size_t i = 1; i <= 3; ++i) {
    X509* cert = chain[i].get();
    X509* issuer = chain[i + 1].get();
    if (cert == nullptr || issuer == nullptr) return {revocation_status::unchecked, "a certificate does not decode"};
    const std::string name = crypto::common_name(X509_get_subject_name(cert));
    std::string state;
    if (X509_CRL* crl = current_crl_of(issuer, crls, now)) {
      X509_REVOKED* entry = nullptr;
      if (X509_CRL_get0_by_cert(crl, &entry, cert) == 1) {
        out.status = revocation_status::revoked;
        out.detail = "\"" + name + "\" is revoked by its issuer's CRL";
        return out;
      }
      state = "good";
    } else {
      all_checked = false;
      state = "unchecked (no current CRL of \"" + crypto::common_name(X509_get_subject_name(issuer)) + "\")";
    }
    out.detail += (out.detail.empty() ? "" : ", ") + ("\"" + name + "\" " + state);
  }
  out.status = all_checked ? revocation_status::good : revocation_status::unchecked;
  return out;
}

}  // namespace vp::gpu
