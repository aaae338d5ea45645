#pragma once
// Throwaway web-PKI certificates (a CA and TLS server leaves) for the tests' HTTPS servers
// and the simulator's backends. Same rules as test_pki: test-only trust, keys generated on
// the fly, OpenSSL failures throw std::runtime_error.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <string>
#include <vector>

#include "core/clock.hpp"
#include "crypto/ossl.hpp"

namespace vp::test {

struct web_certificate_spec {
  std::string common_name;
  std::string organization;  ///< "" = no O attribute
  unix_time not_before{};
  unix_time not_after{};
  /// A CA (keyCertSign) instead of a TLS server leaf (digitalSignature, serverAuth).
  bool is_ca = false;
  /// Leaf SANs in OpenSSL's syntax ("DNS:example.com", "IP:127.0.0.1"); ignored for a CA.
  std::vector<std::string> subject_alt_names;
};

/// Issues a v3 certificate for `subject_key` with a random serial; self-signed when
/// `issuer` is null (then `issuer_key` must be the subject's key).
crypto::x509_ptr issue_web_certificate(EVP_PKEY* subject_key, const web_certificate_spec& spec, X509* issuer,
                                       EVP_PKEY* issuer_key);

/// PEM text of a certificate / of an unencrypted private key.
std::string certificate_pem(X509* cert);
std::string private_key_pem(EVP_PKEY* key);

}  // namespace vp::test
