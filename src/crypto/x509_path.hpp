#pragma once
// X.509 path validation whose signature pass the caller provides (X509_STORE_CTX_set_verify(3)),
// for callers that verify the same certificate links many times in one go and keep the
// results (gpu/evidence.cpp: 8 chains sharing their 3 CA certificates, §1.3 of
// docs/gpu-signatures-e2ee.md). Everything else is crypto::verify_chain's.

#include <functional>
#include <span>

#include "crypto/x509.hpp"

namespace vp::crypto {

/// Whether `subject` carries a valid signature by the key of `issuer` (X509_verify).
using signature_check = std::function<bool(X509* subject, X509* issuer)>;

/// verify_chain without CRLs, with the signature of every link of the built path
/// (including the anchor's over the last intermediate) checked by `signed_by` instead of
/// by OpenSSL's own pass, for callers that have verified those same signatures already
/// (a memo of X509_verify results): the rest of path validation is OpenSSL's, unchanged.
/// As in OpenSSL, the issuer of each link must also be allowed to sign certificates
/// (keyUsage, RFC 5280 §6.1.4 (n)) and have a decodable key; the anchor's self-signature
/// is not checked. A path of the leaf alone is refused (nothing signed it).
chain_verdict verify_chain(X509* leaf, std::span<X509* const> intermediates, X509* anchor,
                           const signature_check& signed_by);

}  // namespace vp::crypto
