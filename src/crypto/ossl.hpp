#pragma once
// Owning handles for OpenSSL objects, so that no error path leaks.

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>

namespace vp::crypto {

template <auto Free>
struct ossl_deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using x509_ptr = std::unique_ptr<X509, ossl_deleter<X509_free>>;
using x509_crl_ptr = std::unique_ptr<X509_CRL, ossl_deleter<X509_CRL_free>>;
using x509_store_ptr = std::unique_ptr<X509_STORE, ossl_deleter<X509_STORE_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, ossl_deleter<X509_STORE_CTX_free>>;
using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, ossl_deleter<EVP_PKEY_free>>;
using evp_pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, ossl_deleter<EVP_PKEY_CTX_free>>;
using evp_md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, ossl_deleter<EVP_MD_CTX_free>>;
using bio_ptr = std::unique_ptr<BIO, ossl_deleter<BIO_free>>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, ossl_deleter<ECDSA_SIG_free>>;
using bignum_ptr = std::unique_ptr<BIGNUM, ossl_deleter<BN_free>>;
using asn1_object_ptr = std::unique_ptr<ASN1_OBJECT, ossl_deleter<ASN1_OBJECT_free>>;

}  // namespace vp::crypto
