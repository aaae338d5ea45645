#pragma once
// X.509 certificates and CRLs on OpenSSL 3: parsing in the encodings Intel serves,
// SPKI fingerprints, validity windows and chain building with CRL checks.
//
// Time is deliberately *not* checked by verify_chain: OpenSSL treats t == notAfter as
// expired, while RFC 5280 (and this project) treat the whole window as inclusive.
// Callers check validity windows themselves with the functions below.

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "crypto/ossl.hpp"

namespace vp::crypto {

/// Every certificate in a PEM text, in order. Parsing stops at the first NUL byte
/// (quotes carry a NUL-terminated chain). Returns nullopt if the text holds no
/// certificate or a block fails to decode.
std::optional<std::vector<x509_ptr>> parse_pem_certificates(std::string_view pem);

/// The DER of every CERTIFICATE block in a PEM text, without decoding them (cheap;
/// OpenSSL 3.0 decodes public keys slowly). Stops at the first NUL byte. nullopt if
/// there is none or a block is not a certificate or not base64.
std::optional<std::vector<bytes>> pem_certificate_ders(std::string_view pem);

/// One DER certificate that spans all of `der`; null otherwise.
x509_ptr parse_der_certificate(byte_view der);

/// A CRL given as DER, PEM or hex text of DER (the three encodings PCS/PCCS use).
x509_crl_ptr parse_crl(byte_view data);

bytes certificate_der(const X509* cert);
bytes crl_der(const X509_CRL* crl);

/// DER SubjectPublicKeyInfo of the certificate's key.
bytes spki_der(const X509* cert);
/// SHA-256 of the DER SubjectPublicKeyInfo: the TLS fingerprint NEAR attests to.
sha256_digest spki_sha256(const X509* cert);

/// An inclusive [from, until] window.
struct validity_window {
  unix_time from;
  unix_time until;
  bool contains(unix_time t) const { return from <= t && t <= until; }
};

/// [notBefore, notAfter]; nullopt if either time is unreadable.
std::optional<validity_window> certificate_validity(const X509* cert);
/// [thisUpdate, nextUpdate]; nullopt if either is missing or unreadable (a CRL
/// without nextUpdate has no defined freshness and is rejected).
std::optional<validity_window> crl_validity(const X509_CRL* crl);

std::optional<unix_time> asn1_time_to_unix(const ASN1_TIME* t);

/// Common name of a distinguished name ("" if none).
std::string common_name(const X509_NAME* name);
/// One-line RFC 2253 rendering, for messages.
std::string name_to_string(const X509_NAME* name);

/// True when the CRL carries both extensions Intel requires: CRL Number and
/// Authority Key Identifier.
bool crl_has_required_extensions(const X509_CRL* crl);

/// Outcome of OpenSSL path validation.
struct chain_verdict {
  int error = 0;    ///< X509_V_OK (0) or an X509_V_ERR_* code
  int depth = 0;    ///< depth of the certificate the error refers to
  std::string message;
  bool ok() const { return error == 0; }
};

/// Validates `leaf` up to `anchor` (the only trusted certificate) through
/// `intermediates`, checking every signature and, when `crls` is non-empty, the
/// revocation status of every certificate in the path (X509_V_FLAG_CRL_CHECK_ALL:
/// a certificate without an applicable, authentic CRL fails). Validity times are not
/// checked here (see the file comment).
chain_verdict verify_chain(X509* leaf, std::span<X509* const> intermediates, X509* anchor,
                           std::span<X509_CRL* const> crls);

/// Validates `leaf` against `issuer` alone, an intermediate the caller has already
/// validated up to its root (X509_V_FLAG_PARTIAL_CHAIN): the leaf's signature, and its
/// revocation status in `crl` (CRL_CHECK for the leaf only; the issuer's own status was
/// established when it was validated). Times are not checked.
chain_verdict verify_leaf(X509* leaf, X509* issuer, X509_CRL* crl);

/// The last OpenSSL error queue entry as text, and clears the queue.
std::string take_openssl_error();

}  // namespace vp::crypto
