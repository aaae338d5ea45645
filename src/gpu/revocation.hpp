#pragma once
// Revocation of the GPU identity chains (docs/gpu-signatures-e2ee.md §1.5, check L14)
// from CRLs an operator provides: NVIDIA's CRLs cover the Provisioner ICA
// (l2-gh100.crl, issued by "NVIDIA GH100 Identity") and the GH100 Identity certificate
// (l1-root.crl, issued by the Device Identity CA). The per-device BROM certificate names
// no CRL (OCSP only), so with CRLs alone its status stays unchecked; the policy decides
// whether that is acceptable. A CRL counts only when it is signed by the certificate's
// issuer and current at the appraisal time: a stale or forged one proves nothing.
// Pure: the caller reads the files.

#include <span>
#include <string>
#include <vector>

#include "core/clock.hpp"
#include "crypto/ossl.hpp"
#include "gpu/evidence.hpp"

namespace vp::gpu {

enum class revocation_status {
  good,       ///< every certificate checked is on no current CRL of its issuer, and all were checked
  unchecked,  ///< none revoked, but at least one certificate had no current, authentic CRL
  revoked,    ///< a certificate is on its issuer's current CRL
};
std::string_view to_string(revocation_status s) noexcept;

struct revocation_result {
  revocation_status status = revocation_status::unchecked;
  /// Which certificates were checked and how ("BROM unchecked (no CRL), Provisioner ICA
  /// good, GH100 Identity good").
  std::string detail;
};

/// The status of certificates 1..3 of `gpu`'s chain (BROM, Provisioner ICA, GH100
/// Identity; the leaf's key signed fresh evidence, the root is pinned) against `crls` as
/// of `now`.
revocation_result check_revocation(const verified_gpu& gpu, std::span<X509_CRL* const> crls, unix_time now);

}  // namespace vp::gpu
