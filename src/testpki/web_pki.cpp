#include "testpki/web_pki.hpp"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <ctime>
#include <stdexcept>

namespace vp::test {
namespace {

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("web_pki: OpenSSL failed: ") + what);
}

void set_time(ASN1_TIME* field, unix_time t) {
  check(::ASN1_TIME_set(field, static_cast<std::time_t>(to_unix_seconds(t))) != nullptr, "ASN1_TIME_set");
}

void add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  check(::X509_NAME_add_entry_by_txt(name, field, MBSTRING_ASC, reinterpret_cast<const unsigned char*>(value.c_str()),
                                     -1, -1, 0) == 1,
        "X509_NAME_add_entry_by_txt");
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = ::X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  const int added = ::X509_add_ext(cert, ext, -1);
  ::X509_EXTENSION_free(ext);
  check(added == 1, "X509_add_ext");
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  check(size > 0 && data != nullptr, "BIO_get_mem_data");
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

crypto::x509_ptr issue_web_certificate(EVP_PKEY* subject_key, const web_certificate_spec& spec, X509* issuer,
                                       EVP_PKEY* issuer_key) {
  crypto::x509_ptr cert(::X509_new());
  check(cert != nullptr, "X509_new");
  check(::X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_set_version");
  std::uint64_t serial = 0;
  check(::RAND_bytes(reinterpret_cast<unsigned char*>(&serial), sizeof serial) == 1, "RAND_bytes");
  check(::ASN1_INTEGER_set_uint64(::X509_get_serialNumber(cert.get()), serial >> 1) == 1, "serial");
  set_time(::X509_getm_notBefore(cert.get()), spec.not_before);
  set_time(::X509_getm_notAfter(cert.get()), spec.not_after);
  X509_NAME* name = ::X509_get_subject_name(cert.get());
  if (!spec.organization.empty()) add_name_entry(name, "O", spec.organization);
  add_name_entry(name, "CN", spec.common_name);
  check(::X509_set_issuer_name(cert.get(), issuer != nullptr ? ::X509_get_subject_name(issuer) : name) == 1,
        "issuer");
  check(::X509_set_pubkey(cert.get(), subject_key) == 1, "X509_set_pubkey");

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  ::X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  add_extension(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  if (spec.is_ca) {
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    add_extension(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
    std::string san;
    for (const auto& n : spec.subject_alt_names) san += (san.empty() ? "" : ",") + n;
    if (!san.empty()) add_extension(cert.get(), &ctx, NID_subject_alt_name, san);
  }
  check(::X509_sign(cert.get(), issuer_key, ::EVP_sha256()) > 0, "X509_sign");
  return cert;
}

std::string certificate_pem(X509* cert) {
  crypto::bio_ptr bio(::BIO_new(::BIO_s_mem()));
  check(bio && ::PEM_write_bio_X509(bio.get(), cert) == 1, "PEM_write_bio_X509");
  return bio_text(bio.get());
}

std::string private_key_pem(EVP_PKEY* key) {
  crypto::bio_ptr bio(::BIO_new(::BIO_s_mem()));
  check(bio && ::PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "PEM_write_bio_PrivateKey");
  return bio_text(bio.get());
}

}  // namespace vp::test
