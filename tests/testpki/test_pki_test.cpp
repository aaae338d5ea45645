// Self-test of the synthetic PKI and quote minter, checked with plain OpenSSL and
// Boost.JSON only (not with the project's verifier), so that the tampering matrix built
// on it starts from inputs that are known to be valid.

#include "testpki/test_pki.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "crypto/ecdsa.hpp"
#include "support/testdata.hpp"
#include "tdx/verifier.hpp"

namespace vp::test {
namespace {

using crypto::x509_crl_ptr;
using crypto::x509_ptr;

const test_pki& shared_pki() {
  static const test_pki pki;
  return pki;
}

// ---------------------------------------------------------------------------------------
// Plain-OpenSSL helpers

x509_ptr cert_from_der(const bytes& der) {
  const unsigned char* p = der.data();
  x509_ptr cert{d2i_X509(nullptr, &p, static_cast<long>(der.size()))};
  EXPECT_TRUE(cert);
  EXPECT_EQ(p, der.data() + der.size());
  return cert;
}

x509_crl_ptr crl_from_der(const bytes& der) {
  const unsigned char* p = der.data();
  x509_crl_ptr crl{d2i_X509_CRL(nullptr, &p, static_cast<long>(der.size()))};
  EXPECT_TRUE(crl);
  return crl;
}

std::vector<x509_ptr> certs_from_pem(std::string_view pem) {
  std::vector<x509_ptr> out;
  crypto::bio_ptr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  while (X509* c = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(c);
  ERR_clear_error();
  return out;
}

bytes der_of(X509* cert) {
  const int len = i2d_X509(cert, nullptr);
  bytes out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  i2d_X509(cert, &p);
  return out;
}

std::string cn_of(const X509_NAME* name) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(const_cast<X509_NAME*>(name), NID_commonName, buf, sizeof buf);
  return buf;
}

/// OpenSSL path validation with `root` as the only anchor, CRL checks for the whole path
/// when CRLs are given, strict X.509 rules and the validity time `at`.
int verify_path(X509* leaf, const std::vector<X509*>& untrusted, X509* root, const std::vector<X509_CRL*>& crls,
                unix_time at) {
  crypto::x509_store_ptr store{X509_STORE_new()};
  X509_STORE_add_cert(store.get(), root);
  STACK_OF(X509)* chain = sk_X509_new_null();
  for (X509* c : untrusted) sk_X509_push(chain, c);
  STACK_OF(X509_CRL)* crl_stack = sk_X509_CRL_new_null();
  for (X509_CRL* c : crls) sk_X509_CRL_push(crl_stack, c);
  crypto::x509_store_ctx_ptr ctx{X509_STORE_CTX_new()};
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, chain);
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  unsigned long flags = X509_V_FLAG_X509_STRICT | X509_V_FLAG_CHECK_SS_SIGNATURE | X509_V_FLAG_USE_CHECK_TIME;
  if (!crls.empty()) {
    flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    X509_STORE_CTX_set0_crls(ctx.get(), crl_stack);
  }
  X509_VERIFY_PARAM_set_flags(param, flags);
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(to_unix_seconds(at)));
  const int rc = X509_verify_cert(ctx.get());
  const int err = rc == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
  ctx.reset();
  sk_X509_free(chain);
  sk_X509_CRL_free(crl_stack);
  ERR_clear_error();
  return err;
}

std::uint16_t rd16(const bytes& b, std::size_t off) {
  return static_cast<std::uint16_t>(b.at(off) | (b.at(off + 1) << 8));
}

std::uint32_t rd32(const bytes& b, std::size_t off) {
  return static_cast<std::uint32_t>(b.at(off)) | (static_cast<std::uint32_t>(b.at(off + 1)) << 8) |
         (static_cast<std::uint32_t>(b.at(off + 2)) << 16) | (static_cast<std::uint32_t>(b.at(off + 3)) << 24);
}

byte_view slice(const bytes& b, std::size_t off, std::size_t len) {
  EXPECT_LE(off + len, b.size());
  return byte_view{b}.subspan(off, len);
}

/// The quote pieces, located from the declared lengths as a verifier would (§1.4).
struct parsed_quote {
  std::size_t signed_size = 0;
  byte_view signature, attestation_key, qe_report, qe_report_signature, qe_auth_data;
  std::uint16_t cert_type = 0, inner_type = 0;
  std::string_view chain;  // including the NUL
  std::size_t end = 0;     // end of the signature data
};

parsed_quote parse(const bytes& q) {
  parsed_quote p;
  const std::uint16_t version = rd16(q, 0);
  std::size_t body = 48;
  std::size_t body_size = vp::tdx::td_report10_size;
  if (version == 5) {
    body = 54;
    body_size = rd32(q, 50);
  }
  p.signed_size = body + body_size;
  const std::size_t sig_len = rd32(q, p.signed_size);
  const std::size_t s = p.signed_size + 4;
  p.end = s + sig_len;
  p.signature = slice(q, s, 64);
  p.attestation_key = slice(q, s + 64, 64);
  p.cert_type = rd16(q, s + 128);
  const std::size_t cert_size = rd32(q, s + 130);
  EXPECT_EQ(s + 134 + cert_size, p.end);
  const std::size_t c = s + 134;
  p.qe_report = slice(q, c, 384);
  p.qe_report_signature = slice(q, c + 384, 64);
  const std::size_t auth_len = rd16(q, c + 448);
  p.qe_auth_data = slice(q, c + 450, auth_len);
  p.inner_type = rd16(q, c + 450 + auth_len);
  const std::size_t chain_len = rd32(q, c + 452 + auth_len);
  p.chain = as_chars(slice(q, c + 456 + auth_len, chain_len));
  EXPECT_EQ(c + 456 + auth_len + chain_len, p.end);
  return p;
}

bool quote_signature_ok(const bytes& q, const parsed_quote& p) {
  const auto key = crypto::p256_public_key_from_xy(p.attestation_key);
  return key && crypto::verify_p256_sha256_raw(key.get(), slice(q, 0, p.signed_size), p.signature);
}

bool qe_report_signature_ok(const parsed_quote& p) {
  const auto certs = certs_from_pem(p.chain.substr(0, p.chain.find('\0')));
  if (certs.empty()) return false;
  return crypto::verify_p256_sha256_raw(X509_get0_pubkey(certs[0].get()), p.qe_report, p.qe_report_signature);
}

bool binding_ok(const parsed_quote& p) {
  const sha256_digest h = crypto::sha256({p.attestation_key, p.qe_auth_data});
  const byte_view rd = p.qe_report.subspan(320, 64);
  return std::equal(h.begin(), h.end(), rd.begin()) &&
         std::all_of(rd.begin() + 32, rd.end(), [](std::uint8_t b) { return b == 0; });
}

/// The SGX extension of a certificate, decoded with d2i_ASN1_SEQUENCE_ANY.
struct sequence_deleter {
  void operator()(ASN1_SEQUENCE_ANY* s) const { sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free); }
};
using sequence_ptr = std::unique_ptr<ASN1_SEQUENCE_ANY, sequence_deleter>;

sequence_ptr decode_sequence(const unsigned char* data, long len) {
  const unsigned char* p = data;
  sequence_ptr seq{d2i_ASN1_SEQUENCE_ANY(nullptr, &p, len)};
  EXPECT_TRUE(seq);
  EXPECT_EQ(p, data + len) << "trailing bytes after SEQUENCE";
  return seq;
}

sequence_ptr decode_sequence(const ASN1_TYPE* t) {
  EXPECT_EQ(ASN1_TYPE_get(t), V_ASN1_SEQUENCE);
  return decode_sequence(t->value.sequence->data, t->value.sequence->length);
}

std::string oid_text(const ASN1_TYPE* t) {
  EXPECT_EQ(ASN1_TYPE_get(t), V_ASN1_OBJECT);
  char buf[128] = {};
  OBJ_obj2txt(buf, sizeof buf, t->value.object, 1);
  return buf;
}

bytes octets(const ASN1_TYPE* t) {
  EXPECT_EQ(ASN1_TYPE_get(t), V_ASN1_OCTET_STRING);
  const ASN1_OCTET_STRING* s = t->value.octet_string;
  return bytes(s->data, s->data + s->length);
}

long integer(const ASN1_TYPE* t) {
  EXPECT_EQ(ASN1_TYPE_get(t), V_ASN1_INTEGER);
  return ASN1_INTEGER_get(t->value.integer);
}

/// One SGX extension entry: SEQUENCE { OID, value }.
struct sgx_entry {
  std::string oid;
  sequence_ptr pair;  // keeps the value alive
  const ASN1_TYPE* value() const { return sk_ASN1_TYPE_value(pair.get(), 1); }
};

std::vector<sgx_entry> entries_of(const unsigned char* der, long len) {
  std::vector<sgx_entry> out;
  const sequence_ptr seq = decode_sequence(der, len);
  for (int i = 0; seq && i < sk_ASN1_TYPE_num(seq.get()); ++i) {
    sequence_ptr pair = decode_sequence(sk_ASN1_TYPE_value(seq.get(), i));
    EXPECT_EQ(sk_ASN1_TYPE_num(pair.get()), 2);
    std::string oid = oid_text(sk_ASN1_TYPE_value(pair.get(), 0));
    out.push_back({std::move(oid), std::move(pair)});
  }
  return out;
}

std::vector<sgx_entry> entries_of(const ASN1_TYPE* seq_type) {
  EXPECT_EQ(ASN1_TYPE_get(seq_type), V_ASN1_SEQUENCE);
  return entries_of(seq_type->value.sequence->data, seq_type->value.sequence->length);
}

/// The top-level entries of a certificate's SGX extension.
std::vector<sgx_entry> sgx_entries(X509* cert, bool* critical = nullptr) {
  const crypto::asn1_object_ptr oid{OBJ_txt2obj("1.2.840.113741.1.13.1", 1)};
  const int idx = X509_get_ext_by_OBJ(cert, oid.get(), -1);
  EXPECT_GE(idx, 0);
  if (idx < 0) return {};
  X509_EXTENSION* ext = X509_get_ext(cert, idx);
  if (critical != nullptr) *critical = X509_EXTENSION_get_critical(ext) != 0;
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(ext);
  return entries_of(data->data, data->length);
}

/// Structure of a JSON value: object keys in order with their value shapes, the shape of
/// an array's first element, and scalar kinds.
std::string shape(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::object: {
      std::string s = "{";
      for (const auto& kv : v.get_object()) s += std::string(kv.key()) + ":" + shape(kv.value()) + ",";
      return s + "}";
    }
    case boost::json::kind::array:
      return v.get_array().empty() ? "[]" : "[" + shape(v.get_array().front()) + "]";
    case boost::json::kind::string: return "s";
    case boost::json::kind::int64:
    case boost::json::kind::uint64: return "n";
    case boost::json::kind::bool_: return "b";
    default: return "?";
  }
}

boost::json::value parse_json(std::string_view text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message() << " in " << text;
  return v;
}

std::vector<std::string> keys_of(const boost::json::value& v) {
  std::vector<std::string> out;
  if (const auto* o = v.if_object()) {
    for (const auto& kv : *o) out.emplace_back(kv.key());
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Certificates

TEST(TestPki, CertificatesLookLikeIntels) {
  const test_pki& pki = shared_pki();
  X509* root = pki.certificate(pki_cert::root);
  X509* platform = pki.certificate(pki_cert::platform_ca);
  X509* processor = pki.certificate(pki_cert::processor_ca);
  X509* tcb = pki.certificate(pki_cert::tcb_signing);
  const x509_ptr leaf = cert_from_der(pki.issue_pck_leaf_der({}));

  // CNs contain what Intel's QVL checks.
  EXPECT_EQ(cn_of(X509_get_subject_name(root)), "Test SGX Root CA");
  EXPECT_NE(cn_of(X509_get_subject_name(root)).find("SGX Root CA"), std::string::npos);
  EXPECT_EQ(cn_of(X509_get_subject_name(platform)), "Test SGX PCK Platform CA");
  EXPECT_EQ(cn_of(X509_get_subject_name(processor)), "Test SGX PCK Processor CA");
  EXPECT_NE(cn_of(X509_get_subject_name(leaf.get())).find("SGX PCK Certificate"), std::string::npos);
  EXPECT_NE(cn_of(X509_get_subject_name(tcb)).find("SGX TCB Signing"), std::string::npos);

  // Basic constraints: root pathlen 1, intermediates 0, leaves no CA.
  EXPECT_EQ(X509_check_issued(root, root), X509_V_OK);
  EXPECT_GT(X509_check_ca(root), 0);
  EXPECT_EQ(X509_get_pathlen(root), 1);
  EXPECT_GT(X509_check_ca(platform), 0);
  EXPECT_EQ(X509_get_pathlen(platform), 0);
  EXPECT_EQ(X509_get_pathlen(processor), 0);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_EQ(X509_check_ca(tcb), 0);
  EXPECT_EQ(X509_get_key_usage(leaf.get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION));
  EXPECT_EQ(X509_get_key_usage(root), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN | KU_CRL_SIGN));

  // AKI of each certificate is the SKI of its issuer.
  const auto aki_matches = [](X509* child, X509* parent) {
    const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(child);
    const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(parent);
    return aki != nullptr && ski != nullptr && ASN1_OCTET_STRING_cmp(aki, ski) == 0;
  };
  EXPECT_TRUE(aki_matches(root, root));
  EXPECT_TRUE(aki_matches(platform, root));
  EXPECT_TRUE(aki_matches(processor, root));
  EXPECT_TRUE(aki_matches(tcb, root));
  EXPECT_TRUE(aki_matches(leaf.get(), platform));
  EXPECT_FALSE(aki_matches(leaf.get(), processor));

  for (X509* c : {root, platform, processor, tcb, leaf.get()}) {
    EXPECT_EQ(X509_get_signature_nid(c), NID_ecdsa_with_SHA256);
    char group[64] = {};
    EXPECT_EQ(EVP_PKEY_get_group_name(X509_get0_pubkey(c), group, sizeof group, nullptr), 1);
    EXPECT_STREQ(group, "prime256v1");
    EXPECT_EQ(X509_get_version(c), X509_VERSION_3);
  }
  EXPECT_EQ(pki.root_der(), der_of(root));
  EXPECT_EQ(certs_from_pem(pki.root_pem()).size(), 1u);
}

TEST(TestPki, PckChainVerifiesToTestRootWithBothCrls) {
  const test_pki& pki = shared_pki();
  for (const auto ca : {tdx::pck_ca_type::platform, tdx::pck_ca_type::processor}) {
    SCOPED_TRACE(ca == tdx::pck_ca_type::platform ? "platform" : "processor");
    pck_leaf_spec leaf_spec;
    leaf_spec.issuer = ca;
    const auto chain = certs_from_pem(pki.pck_chain_pem(leaf_spec));
    ASSERT_EQ(chain.size(), 3u);
    EXPECT_EQ(der_of(chain[2].get()), pki.root_der());

    collateral_spec cs;
    cs.pck_crl_issuer = ca;
    const auto c = pki.collateral(cs);
    const x509_crl_ptr root_crl = crl_from_der(c.root_ca_crl);
    const x509_crl_ptr pck_crl = crl_from_der(c.pck_crl);
    X509* intermediate = chain[1].get();
    X509* root = pki.certificate(pki_cert::root);

    EXPECT_EQ(verify_path(chain[0].get(), {intermediate}, root, {root_crl.get(), pck_crl.get()}, default_time),
              X509_V_OK);
    // The CRLs are effective: without the PCK CRL, and past its nextUpdate, OpenSSL fails.
    EXPECT_EQ(verify_path(chain[0].get(), {intermediate}, root, {root_crl.get()}, default_time),
              X509_V_ERR_UNABLE_TO_GET_CRL);
    EXPECT_EQ(verify_path(chain[0].get(), {intermediate}, root, {root_crl.get(), pck_crl.get()},
                          cs.pck_crl.next_update + std::chrono::seconds{1}),
              X509_V_ERR_CRL_HAS_EXPIRED);

    // A revoked leaf serial and a revoked intermediate are caught.
    collateral_spec revoked = cs;
    revoked.pck_crl.revoked_serials = {7, leaf_spec.cert.serial, 9};
    const x509_crl_ptr pck_crl_revoking = crl_from_der(pki.collateral(revoked).pck_crl);
    EXPECT_EQ(verify_path(chain[0].get(), {intermediate}, root, {root_crl.get(), pck_crl_revoking.get()},
                          default_time),
              X509_V_ERR_CERT_REVOKED);
    revoked = cs;
    revoked.root_ca_crl.revoked_serials = {ca == tdx::pck_ca_type::platform ? pki.spec().platform_ca.serial
                                                                             : pki.spec().processor_ca.serial};
    const x509_crl_ptr root_crl_revoking = crl_from_der(pki.collateral(revoked).root_ca_crl);
    EXPECT_EQ(verify_path(chain[0].get(), {intermediate}, root, {root_crl_revoking.get(), pck_crl.get()},
                          default_time),
              X509_V_ERR_CERT_REVOKED);
  }
}

TEST(TestPki, ChainFromAnotherPkiDoesNotVerifyToThisRoot) {
  const test_pki& pki = shared_pki();
  const test_pki other;
  const auto chain = certs_from_pem(other.pck_chain_pem({}));
  ASSERT_EQ(chain.size(), 3u);
  // Same names, different keys: only the anchor tells them apart.
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(chain[2].get()),
                          X509_get_subject_name(pki.certificate(pki_cert::root))),
            0);
  EXPECT_NE(verify_path(chain[0].get(), {chain[1].get()}, pki.certificate(pki_cert::root), {}, default_time),
            X509_V_OK);
  EXPECT_EQ(verify_path(chain[0].get(), {chain[1].get()}, other.certificate(pki_cert::root), {}, default_time),
            X509_V_OK);
}

TEST(TestPki, ReissueKeepsKeysButChangesCertificates) {
  const test_pki& pki = shared_pki();
  pki_spec spec = pki.spec();
  spec.root.not_after = utc_date(2048, 1, 1);
  const test_pki again = pki.reissue(spec);
  EXPECT_NE(again.root_der(), pki.root_der());
  EXPECT_EQ(again.public_xy(pki_key::root), pki.public_xy(pki_key::root));
  EXPECT_EQ(again.public_xy(pki_key::pck_leaf), pki.public_xy(pki_key::pck_leaf));
  // The old root still validates the re-issued intermediate: same key, same name.
  EXPECT_EQ(verify_path(again.certificate(pki_cert::platform_ca), {}, pki.certificate(pki_cert::root), {},
                        default_time),
            X509_V_OK);
}

TEST(TestPki, TcbSigningChainVerifiesWithRootCrl) {
  const test_pki& pki = shared_pki();
  const auto c = pki.collateral();
  for (const std::string& pem : {c.tcb_info_issuer_chain, c.qe_identity_issuer_chain}) {
    const auto chain = certs_from_pem(pem);
    ASSERT_EQ(chain.size(), 2u);
    EXPECT_EQ(der_of(chain[1].get()), pki.root_der());
    const x509_crl_ptr root_crl = crl_from_der(c.root_ca_crl);
    EXPECT_EQ(verify_path(chain[0].get(), {}, pki.certificate(pki_cert::root), {root_crl.get()}, default_time),
              X509_V_OK);
  }
  const auto pck_issuers = certs_from_pem(c.pck_crl_issuer_chain);
  ASSERT_EQ(pck_issuers.size(), 2u);
  EXPECT_EQ(der_of(pck_issuers[0].get()), pki.der(pki_cert::platform_ca));
}

// ---------------------------------------------------------------------------------------
// CRLs

TEST(TestPki, CrlsCarryIntelsRequiredExtensionsAndSpecifiedFields) {
  const test_pki& pki = shared_pki();
  crl_spec spec{utc_date(2025, 12, 1), utc_date(2026, 2, 1), {0x4001, 0x123456789}, 42, true, true, false};
  const x509_crl_ptr crl = crl_from_der(pki.issue_crl(pki_cert::processor_ca, spec));
  X509* issuer = pki.certificate(pki_cert::processor_ca);

  EXPECT_EQ(X509_CRL_get_version(crl.get()), X509_CRL_VERSION_2);
  EXPECT_EQ(X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(issuer)), 0);
  EXPECT_EQ(X509_CRL_verify(crl.get(), X509_get0_pubkey(issuer)), 1);
  EXPECT_EQ(X509_CRL_get_signature_nid(crl.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_CRL_get0_lastUpdate(crl.get()), to_unix_seconds(spec.this_update)), 0);
  EXPECT_EQ(ASN1_TIME_cmp_time_t(X509_CRL_get0_nextUpdate(crl.get()), to_unix_seconds(spec.next_update)), 0);

  int crit = 0;
  auto* number = static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl.get(), NID_crl_number, &crit, nullptr));
  ASSERT_NE(number, nullptr);
  EXPECT_EQ(ASN1_INTEGER_get(number), 42);
  ASN1_INTEGER_free(number);
  auto* akid =
      static_cast<AUTHORITY_KEYID*>(X509_CRL_get_ext_d2i(crl.get(), NID_authority_key_identifier, &crit, nullptr));
  ASSERT_NE(akid, nullptr);
  ASSERT_NE(akid->keyid, nullptr);
  EXPECT_EQ(ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(issuer)), 0);
  AUTHORITY_KEYID_free(akid);

  STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
  ASSERT_EQ(sk_X509_REVOKED_num(revoked), 2);
  std::vector<std::uint64_t> serials;
  for (int i = 0; i < 2; ++i) {
    std::uint64_t v = 0;
    ASN1_INTEGER_get_uint64(&v, X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i)));
    serials.push_back(v);
  }
  std::sort(serials.begin(), serials.end());
  EXPECT_EQ(serials, (std::vector<std::uint64_t>{0x4001, 0x123456789}));

  // Tamper knobs.
  spec.crl_number_extension = false;
  spec.authority_key_identifier = false;
  const x509_crl_ptr bare = crl_from_der(pki.issue_crl(pki_cert::processor_ca, spec));
  EXPECT_LT(X509_CRL_get_ext_by_NID(bare.get(), NID_crl_number, -1), 0);
  EXPECT_LT(X509_CRL_get_ext_by_NID(bare.get(), NID_authority_key_identifier, -1), 0);
  EXPECT_EQ(X509_CRL_verify(bare.get(), X509_get0_pubkey(issuer)), 1);
  spec.corrupt_signature = true;
  const x509_crl_ptr corrupt = crl_from_der(pki.issue_crl(pki_cert::processor_ca, spec));
  ASSERT_TRUE(corrupt);
  EXPECT_NE(X509_CRL_verify(corrupt.get(), X509_get0_pubkey(issuer)), 1);
  ERR_clear_error();
}

// ---------------------------------------------------------------------------------------
// SGX extension

TEST(TestPki, SgxExtensionRoundTripsForPlatformLeaf) {
  const test_pki& pki = shared_pki();
  const pck_leaf_spec spec;
  const x509_ptr leaf = cert_from_der(pki.issue_pck_leaf_der(spec));
  bool critical = true;
  const auto entries = sgx_entries(leaf.get(), &critical);
  EXPECT_FALSE(critical);
  ASSERT_EQ(entries.size(), 7u);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_EQ(entries[i].oid, "1.2.840.113741.1.13.1." + std::to_string(i + 1));
  }
  EXPECT_EQ(octets(entries[0].value()), bytes(spec.sgx.ppid.begin(), spec.sgx.ppid.end()));

  const auto tcb = entries_of(entries[1].value());
  ASSERT_EQ(tcb.size(), 18u);
  for (std::size_t i = 0; i < 16; ++i) {
    EXPECT_EQ(tcb[i].oid, "1.2.840.113741.1.13.1.2." + std::to_string(i + 1));
    EXPECT_EQ(integer(tcb[i].value()), spec.sgx.tcb_components[i]);
  }
  EXPECT_EQ(tcb[16].oid, "1.2.840.113741.1.13.1.2.17");
  EXPECT_EQ(integer(tcb[16].value()), 11);
  EXPECT_EQ(tcb[17].oid, "1.2.840.113741.1.13.1.2.18");
  EXPECT_EQ(octets(tcb[17].value()), bytes(spec.sgx.cpu_svn.begin(), spec.sgx.cpu_svn.end()));

  EXPECT_EQ(octets(entries[2].value()), bytes(default_pce_id.begin(), default_pce_id.end()));
  EXPECT_EQ(octets(entries[3].value()), bytes(default_fmspc.begin(), default_fmspc.end()));
  ASSERT_EQ(ASN1_TYPE_get(entries[4].value()), V_ASN1_ENUMERATED);
  EXPECT_EQ(ASN1_ENUMERATED_get(entries[4].value()->value.enumerated), 1);
  EXPECT_EQ(octets(entries[5].value()).size(), 16u);
  const auto config = entries_of(entries[6].value());
  ASSERT_EQ(config.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(config[i].oid, "1.2.840.113741.1.13.1.7." + std::to_string(i + 1));
    ASSERT_EQ(ASN1_TYPE_get(config[i].value()), V_ASN1_BOOLEAN);
    EXPECT_EQ(config[i].value()->value.boolean, 0xFF);
  }
}

TEST(TestPki, SgxExtensionHasFiveEntriesForProcessorLeaf) {
  const test_pki& pki = shared_pki();
  pck_leaf_spec spec;
  spec.issuer = tdx::pck_ca_type::processor;
  spec.sgx.fmspc = {1, 2, 3, 4, 5, 6};
  spec.sgx.tcb_components[3] = 200;
  spec.sgx.pce_svn = 0x1234;
  const x509_ptr leaf = cert_from_der(pki.issue_pck_leaf_der(spec));
  EXPECT_EQ(X509_NAME_cmp(X509_get_issuer_name(leaf.get()),
                          X509_get_subject_name(pki.certificate(pki_cert::processor_ca))),
            0);
  const auto entries = sgx_entries(leaf.get());
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries[4].oid, "1.2.840.113741.1.13.1.5");
  EXPECT_EQ(octets(entries[3].value()), (bytes{1, 2, 3, 4, 5, 6}));
  const auto tcb = entries_of(entries[1].value());
  ASSERT_EQ(tcb.size(), 18u);
  EXPECT_EQ(integer(tcb[3].value()), 200);
  EXPECT_EQ(integer(tcb[16].value()), 0x1234);
}

TEST(TestPki, SgxExtensionTamperKnobs) {
  const test_pki& pki = shared_pki();
  pck_leaf_spec spec;
  spec.sgx.tcb_entry_count = 17;
  spec.sgx.omit_entries = {4};
  spec.sgx.tcb_components[0] = 256;  // out of Intel's u8 range
  x509_ptr leaf = cert_from_der(pki.issue_pck_leaf_der(spec));
  auto entries = sgx_entries(leaf.get());
  ASSERT_EQ(entries.size(), 6u);
  EXPECT_EQ(entries[3].oid, "1.2.840.113741.1.13.1.5");  // .4 FMSPC left out
  const auto tcb = entries_of(entries[1].value());
  ASSERT_EQ(tcb.size(), 17u);
  EXPECT_EQ(integer(tcb[0].value()), 256);

  spec = {};
  spec.sgx.tcb_entry_count = 19;
  spec.sgx.platform_entries = false;
  leaf = cert_from_der(pki.issue_pck_leaf_der(spec));
  entries = sgx_entries(leaf.get());
  ASSERT_EQ(entries.size(), 5u);
  EXPECT_EQ(entries_of(entries[1].value()).size(), 19u);

  spec = {};
  spec.sgx.omit = true;
  leaf = cert_from_der(pki.issue_pck_leaf_der(spec));
  const crypto::asn1_object_ptr oid{OBJ_txt2obj("1.2.840.113741.1.13.1", 1)};
  EXPECT_LT(X509_get_ext_by_OBJ(leaf.get(), oid.get(), -1), 0);

  spec = {};
  spec.sgx.raw_value = bytes{0x30, 0x00};
  EXPECT_EQ(test_pki::sgx_extension_der(spec.sgx, spec.issuer), (bytes{0x30, 0x00}));
}

// ---------------------------------------------------------------------------------------
// TCB info and QE identity

TEST(TestPki, TcbInfoIsSignedCompactJsonInIntelsKeyOrder) {
  const test_pki& pki = shared_pki();
  const auto c = pki.collateral();
  const boost::json::value v = parse_json(c.tcb_info);
  EXPECT_EQ(boost::json::serialize(v), c.tcb_info) << "compact, like Intel's";
  EXPECT_EQ(keys_of(v), (std::vector<std::string>{"id", "version", "issueDate", "nextUpdate", "fmspc", "pceId",
                                                  "tcbType", "tcbEvaluationDataNumber", "tdxModule",
                                                  "tdxModuleIdentities", "tcbLevels"}));
  const auto& o = v.as_object();
  EXPECT_EQ(o.at("id").as_string(), "TDX");
  EXPECT_EQ(o.at("version").as_int64(), 3);
  EXPECT_EQ(o.at("issueDate").as_string(), "2025-12-20T00:00:00Z");
  EXPECT_EQ(o.at("nextUpdate").as_string(), "2026-01-19T00:00:00Z");
  EXPECT_EQ(o.at("fmspc").as_string(), "90C06F000000");
  EXPECT_EQ(o.at("pceId").as_string(), "0000");
  EXPECT_EQ(o.at("tdxModule").as_object().at("mrsigner").as_string(), std::string(96, '0'));
  const auto& levels = o.at("tcbLevels").as_array();
  ASSERT_EQ(levels.size(), 2u);
  const auto& tcb = levels[0].as_object().at("tcb").as_object();
  EXPECT_EQ(keys_of(levels[0].as_object().at("tcb")),
            (std::vector<std::string>{"sgxtcbcomponents", "pcesvn", "tdxtcbcomponents"}));
  EXPECT_EQ(tcb.at("sgxtcbcomponents").as_array().size(), 16u);
  EXPECT_EQ(tcb.at("tdxtcbcomponents").as_array().size(), 16u);
  EXPECT_EQ(tcb.at("pcesvn").as_int64(), 11);
  EXPECT_EQ(tcb.at("tdxtcbcomponents").as_array()[2].as_object().at("type").as_string(),
            "TDX Late Microcode Update");
  EXPECT_FALSE(levels[0].as_object().contains("advisoryIDs"));
  EXPECT_TRUE(levels[1].as_object().contains("advisoryIDs"));

  X509* signer = pki.certificate(pki_cert::tcb_signing);
  ASSERT_EQ(c.tcb_info_signature.size(), 64u);
  EXPECT_TRUE(crypto::verify_p256_sha256_raw(X509_get0_pubkey(signer), as_bytes(c.tcb_info), c.tcb_info_signature));
  // Signed over the exact bytes: one changed byte breaks it.
  std::string edited = c.tcb_info;
  edited[edited.find("90C06F")] = '8';
  EXPECT_FALSE(crypto::verify_p256_sha256_raw(X509_get0_pubkey(signer), as_bytes(edited), c.tcb_info_signature));

  collateral_spec cs;
  cs.corrupt_tcb_info_signature = true;
  cs.tcb_info.lower_case_fmspc = true;
  cs.tcb_info.fmspc = {0xab, 0xcd, 0xef, 0, 0, 0};
  cs.tcb_info.tdx_module_identities.reset();
  const auto bad = pki.collateral(cs);
  EXPECT_NE(bad.tcb_info.find("\"fmspc\":\"abcdef000000\""), std::string::npos);
  EXPECT_EQ(bad.tcb_info.find("tdxModuleIdentities"), std::string::npos);
  EXPECT_FALSE(
      crypto::verify_p256_sha256_raw(X509_get0_pubkey(signer), as_bytes(bad.tcb_info), bad.tcb_info_signature));

  collateral_spec text;
  text.tcb_info_text = "{\"id\":\"TDX\"";
  const auto raw = pki.collateral(text);
  EXPECT_EQ(raw.tcb_info, "{\"id\":\"TDX\"");
  EXPECT_TRUE(
      crypto::verify_p256_sha256_raw(X509_get0_pubkey(signer), as_bytes(raw.tcb_info), raw.tcb_info_signature));
}

TEST(TestPki, QeIdentityIsSignedCompactJsonInIntelsKeyOrder) {
  const test_pki& pki = shared_pki();
  collateral_spec cs;
  cs.qe_identity.misc_select = 0x01020304;
  const auto c = pki.collateral(cs);
  const boost::json::value v = parse_json(c.qe_identity);
  EXPECT_EQ(keys_of(v),
            (std::vector<std::string>{"id", "version", "issueDate", "nextUpdate", "tcbEvaluationDataNumber",
                                      "miscselect", "miscselectMask", "attributes", "attributesMask", "mrsigner",
                                      "isvprodid", "tcbLevels"}));
  const auto& o = v.as_object();
  EXPECT_EQ(o.at("id").as_string(), "TD_QE");
  EXPECT_EQ(o.at("version").as_int64(), 2);
  EXPECT_EQ(o.at("miscselect").as_string(), "04030201");  // report byte order
  EXPECT_EQ(o.at("miscselectMask").as_string(), "FFFFFFFF");
  EXPECT_EQ(o.at("attributes").as_string(), "11000000000000000000000000000000");
  EXPECT_EQ(o.at("attributesMask").as_string(), "FBFFFFFFFFFFFFFF0000000000000000");
  EXPECT_EQ(o.at("mrsigner").as_string(), "DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5");
  EXPECT_EQ(o.at("isvprodid").as_int64(), 2);
  EXPECT_EQ(o.at("tcbLevels").as_array().size(), 2u);

  X509* signer = pki.certificate(pki_cert::tcb_signing);
  EXPECT_TRUE(crypto::verify_p256_sha256_raw(X509_get0_pubkey(signer), as_bytes(c.qe_identity),
                                             c.qe_identity_signature));
  cs.corrupt_qe_identity_signature = true;
  const auto bad = pki.collateral(cs);
  EXPECT_FALSE(crypto::verify_p256_sha256_raw(X509_get0_pubkey(signer), as_bytes(bad.qe_identity),
                                              bad.qe_identity_signature));
}

TEST(TestPki, JsonShapeMatchesRealIntelCollateral) {
  VP_REQUIRE_SHARED_TESTDATA();
  const boost::json::value real = parse_json(read_shared("tdx/v4-phala-uptodate/collateral.json"));
  const auto* real_obj = real.if_object();
  ASSERT_NE(real_obj, nullptr);
  const auto c = shared_pki().collateral();
  EXPECT_EQ(shape(parse_json(c.tcb_info)), shape(parse_json(real_obj->at("tcb_info").as_string())));
  EXPECT_EQ(shape(parse_json(c.qe_identity)), shape(parse_json(real_obj->at("qe_identity").as_string())));
}

// ---------------------------------------------------------------------------------------
// Quotes

TEST(TestPki, DefaultV4QuoteHasSpecLayoutAndValidSignatures) {
  const test_pki& pki = shared_pki();
  const minted_quote m = pki.mint_detailed();
  const bytes& q = m.data;
  EXPECT_EQ(rd16(q, 0), 4);
  EXPECT_EQ(rd16(q, 2), 2);
  EXPECT_EQ(rd32(q, 4), 0x81u);
  EXPECT_TRUE(std::equal(tdx::intel_qe_vendor_id.begin(), tdx::intel_qe_vendor_id.end(), q.begin() + 12));
  EXPECT_EQ(m.layout.body_offset, 48u);
  EXPECT_EQ(m.layout.signed_size, 632u);
  // TD report fields at their §1.3 offsets.
  const tdx::td_report td = default_td_report();
  EXPECT_TRUE(std::equal(td.tee_tcb_svn.begin(), td.tee_tcb_svn.end(), q.begin() + 48));
  EXPECT_TRUE(std::equal(td.mr_td.begin(), td.mr_td.end(), q.begin() + 48 + 136));
  EXPECT_TRUE(std::equal(td.report_data.begin(), td.report_data.end(), q.begin() + 48 + 520));

  const parsed_quote p = parse(q);
  EXPECT_EQ(p.signed_size, 632u);
  EXPECT_EQ(p.end, q.size());
  EXPECT_EQ(m.layout.trailing_offset, q.size());
  EXPECT_EQ(p.cert_type, 6);
  EXPECT_EQ(p.inner_type, 5);
  EXPECT_EQ(p.qe_auth_data.size(), 32u);
  EXPECT_TRUE(equal_bytes(p.attestation_key, m.attestation_key));
  EXPECT_EQ(m.layout.qe_report_offset, 632u + 4 + 134);
  EXPECT_EQ(m.layout.pck_chain_offset + m.layout.pck_chain_size, q.size());

  EXPECT_TRUE(quote_signature_ok(q, p));
  EXPECT_TRUE(qe_report_signature_ok(p));
  EXPECT_TRUE(binding_ok(p));

  // The QE report fields.
  EXPECT_EQ(rd16(q, m.layout.qe_report_offset + 256), default_qe_isv_prod_id);
  EXPECT_EQ(rd16(q, m.layout.qe_report_offset + 258), 6);
  EXPECT_TRUE(std::equal(default_qe_mrsigner.begin(), default_qe_mrsigner.end(),
                         q.begin() + static_cast<std::ptrdiff_t>(m.layout.qe_report_offset + 128)));

  // The chain: leaf, intermediate, root, NUL-terminated like real quotes.
  ASSERT_FALSE(p.chain.empty());
  EXPECT_EQ(p.chain.back(), '\0');
  EXPECT_EQ(p.chain.find('\0'), p.chain.size() - 1);
  const auto chain = certs_from_pem(p.chain.substr(0, p.chain.size() - 1));
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_EQ(der_of(chain[0].get()), m.pck_leaf_der);
  EXPECT_EQ(der_of(chain[1].get()), pki.der(pki_cert::platform_ca));
  EXPECT_EQ(der_of(chain[2].get()), pki.root_der());
  EXPECT_EQ(m.pck_chain_pem + std::string(1, '\0'), std::string(p.chain));
  // The minted leaf verifies against the default collateral's CRLs.
  const auto c = pki.collateral();
  const x509_crl_ptr root_crl = crl_from_der(c.root_ca_crl);
  const x509_crl_ptr pck_crl = crl_from_der(c.pck_crl);
  EXPECT_EQ(verify_path(chain[0].get(), {chain[1].get()}, pki.certificate(pki_cert::root),
                        {root_crl.get(), pck_crl.get()}, default_time),
            X509_V_OK);
}

TEST(TestPki, V5QuotesHaveSpecLayout) {
  const test_pki& pki = shared_pki();
  struct expectation {
    std::uint16_t body_type;
    std::size_t signed_size;
    std::uint32_t body_size;
  };
  for (const auto& e : {expectation{3, 702, 648}, expectation{2, 638, 584}}) {
    SCOPED_TRACE(e.body_type);
    quote_spec spec = quote_spec::v5(e.body_type);
    spec.td.mr_service_td = tdx::measurement{};
    spec.td.mr_service_td->fill(0x77);
    const minted_quote m = pki.mint_detailed(spec);
    const bytes& q = m.data;
    EXPECT_EQ(rd16(q, 0), 5);
    EXPECT_EQ(rd16(q, 48), e.body_type);
    EXPECT_EQ(rd32(q, 50), e.body_size);
    EXPECT_EQ(m.layout.body_offset, 54u);
    EXPECT_EQ(m.layout.signed_size, e.signed_size);
    const parsed_quote p = parse(q);
    EXPECT_EQ(p.signed_size, e.signed_size);
    EXPECT_TRUE(quote_signature_ok(q, p));
    EXPECT_TRUE(qe_report_signature_ok(p));
    EXPECT_TRUE(binding_ok(p));
    if (e.body_type == 3) {
      // TEE_TCB_SVN_2 defaults to TEE_TCB_SVN; MRSERVICETD as given.
      EXPECT_TRUE(std::equal(spec.td.tee_tcb_svn.begin(), spec.td.tee_tcb_svn.end(), q.begin() + 54 + 584));
      EXPECT_EQ(q[54 + 600], 0x77);
    }
  }
}

TEST(TestPki, EveryHeaderAndFramingFieldIsSettable) {
  const test_pki& pki = shared_pki();
  quote_spec spec;
  spec.header.version = 3;
  spec.header.attestation_key_type = 3;
  spec.header.tee_type = 0;
  spec.header.qe_svn = 0x1122;
  spec.header.pce_svn = 0x3344;
  spec.header.qe_vendor_id.fill(0xEE);
  spec.certification_data_type = 4;
  spec.inner_certification_data_type = 1;
  spec.qe_auth_data = bytes(100, 0x5A);
  spec.trailing = bytes(70, 0);
  spec.nul_terminate_chain = false;
  spec.signature_data_size = 7;
  const minted_quote m = pki.mint_detailed(spec);
  const bytes& q = m.data;
  EXPECT_EQ(rd16(q, 0), 3);
  EXPECT_EQ(rd16(q, 2), 3);
  EXPECT_EQ(rd32(q, 4), 0u);
  EXPECT_EQ(rd16(q, 8), 0x1122);
  EXPECT_EQ(rd16(q, 10), 0x3344);
  EXPECT_EQ(q[12], 0xEE);
  EXPECT_EQ(rd32(q, m.layout.signature_data_offset), 7u);
  EXPECT_EQ(rd16(q, m.layout.certification_data_offset), 4);
  EXPECT_EQ(rd16(q, m.layout.qe_auth_data_offset), 100);
  EXPECT_EQ(rd16(q, m.layout.inner_certification_data_offset), 1);
  EXPECT_EQ(q.size(), m.layout.trailing_offset + 70);
  EXPECT_NE(q[m.layout.trailing_offset - 1], 0) << "chain not NUL-terminated";

  quote_spec sizes;
  sizes.header.version = 5;
  sizes.body_type = 1;
  sizes.body_size = 999;
  sizes.certification_data_size = 5;
  sizes.inner_certification_data_size = 6;
  const minted_quote n = pki.mint_detailed(sizes);
  EXPECT_EQ(rd16(n.data, 48), 1);
  EXPECT_EQ(rd32(n.data, 50), 999u);
  EXPECT_EQ(n.layout.body_size, 584u);
  EXPECT_EQ(rd32(n.data, n.layout.certification_data_offset + 2), 5u);
  EXPECT_EQ(rd32(n.data, n.layout.inner_certification_data_offset + 2), 6u);
}

TEST(TestPki, AuthDataOfAnyLengthIsBound) {
  const test_pki& pki = shared_pki();
  for (const std::size_t len : {std::size_t{0}, std::size_t{1}, std::size_t{32}, std::size_t{300}}) {
    SCOPED_TRACE(len);
    quote_spec spec;
    spec.qe_auth_data = bytes(len, 0x42);
    const bytes q = pki.mint(spec);
    const parsed_quote p = parse(q);
    EXPECT_EQ(p.qe_auth_data.size(), len);
    EXPECT_TRUE(binding_ok(p));
    EXPECT_TRUE(quote_signature_ok(q, p));
    EXPECT_TRUE(qe_report_signature_ok(p));
  }
}

TEST(TestPki, EachTamperKnobBreaksOnlyItsOwnCheck) {
  const test_pki& pki = shared_pki();
  {
    quote_spec spec;
    spec.corrupt_quote_signature = true;
    const bytes q = pki.mint(spec);
    const parsed_quote p = parse(q);
    EXPECT_FALSE(quote_signature_ok(q, p));
    EXPECT_TRUE(qe_report_signature_ok(p));
    EXPECT_TRUE(binding_ok(p));
  }
  {
    quote_spec spec;
    spec.corrupt_qe_report_signature = true;
    const bytes q = pki.mint(spec);
    const parsed_quote p = parse(q);
    EXPECT_TRUE(quote_signature_ok(q, p));
    EXPECT_FALSE(qe_report_signature_ok(p));
    EXPECT_TRUE(binding_ok(p));
  }
  {
    quote_spec spec;
    spec.attestation_key = p256_public_xy(generate_p256_key().get());
    const bytes q = pki.mint(spec);
    const parsed_quote p = parse(q);
    EXPECT_FALSE(quote_signature_ok(q, p));
    EXPECT_TRUE(qe_report_signature_ok(p));
    EXPECT_TRUE(binding_ok(p));
  }
  {
    quote_spec spec;
    spec.qe_report_data = std::array<std::uint8_t, 64>{};
    const bytes q = pki.mint(spec);
    const parsed_quote p = parse(q);
    EXPECT_TRUE(quote_signature_ok(q, p));
    EXPECT_TRUE(qe_report_signature_ok(p));
    EXPECT_FALSE(binding_ok(p));
  }
  {
    // Edited QE report fields are signed again by the PCK key.
    quote_spec spec;
    spec.qe_report.isv_prod_id = 9;
    spec.qe_report.mr_signer.fill(1);
    const bytes q = pki.mint(spec);
    const parsed_quote p = parse(q);
    EXPECT_TRUE(qe_report_signature_ok(p));
    EXPECT_TRUE(quote_signature_ok(q, p));
  }
}

TEST(TestPki, ResignRestoresSignaturesAfterRawEdits) {
  const test_pki& pki = shared_pki();
  minted_quote m = pki.mint_detailed();
  m.data[m.layout.body_offset + 520] ^= 0xFF;  // REPORTDATA
  EXPECT_FALSE(quote_signature_ok(m.data, parse(m.data)));
  pki.resign_quote(m);
  EXPECT_TRUE(quote_signature_ok(m.data, parse(m.data)));

  m.data[m.layout.qe_report_offset + 258] ^= 0x01;  // ISVSVN
  EXPECT_FALSE(qe_report_signature_ok(parse(m.data)));
  pki.resign_qe_report(m);
  EXPECT_TRUE(qe_report_signature_ok(parse(m.data)));
  EXPECT_TRUE(quote_signature_ok(m.data, parse(m.data))) << "the QE report is outside the signed region";
}

TEST(TestPki, ChainOverrideAndForeignPkiQuotes) {
  const test_pki& pki = shared_pki();
  quote_spec spec;
  spec.pck_chain_pem = pki.pem(pki_cert::root);
  const bytes with_root_only = pki.mint(spec);
  const parsed_quote p = parse(with_root_only);
  EXPECT_EQ(certs_from_pem(p.chain.substr(0, p.chain.find('\0'))).size(), 1u);

  // A quote minted by another PKI is internally consistent but chains to another root.
  const test_pki other;
  const bytes q = other.mint();
  const parsed_quote o = parse(q);
  EXPECT_TRUE(quote_signature_ok(q, o));
  EXPECT_TRUE(qe_report_signature_ok(o));
  const auto chain = certs_from_pem(o.chain.substr(0, o.chain.find('\0')));
  ASSERT_EQ(chain.size(), 3u);
  EXPECT_NE(der_of(chain[2].get()), pki.root_der());
}

TEST(TestPki, QuoteAndCollateralDefaultsAgree) {
  const quote_spec q;
  const collateral_spec c;
  EXPECT_EQ(q.pck.sgx.fmspc, c.tcb_info.fmspc);
  EXPECT_EQ(q.pck.sgx.pce_id, c.tcb_info.pce_id);
  EXPECT_EQ(q.qe_report.mr_signer, c.qe_identity.mr_signer);
  EXPECT_EQ(q.qe_report.isv_prod_id, c.qe_identity.isv_prod_id);
  // PCK components and PCESVN reach the first (UpToDate) level.
  const tcb_level_spec& top = c.tcb_info.levels.at(0);
  EXPECT_EQ(top.status, "UpToDate");
  for (std::size_t i = 0; i < 16; ++i) EXPECT_GE(q.pck.sgx.tcb_components[i], top.sgx_components[i].svn);
  EXPECT_GE(q.pck.sgx.pce_svn, top.pce_svn);
  // TEE_TCB_SVN[1] = 1 selects TDX_01; its first level covers TEE_TCB_SVN[0].
  EXPECT_EQ(q.td.tee_tcb_svn[1], 1);
  const auto& ids = c.tcb_info.tdx_module_identities.value();
  const auto tdx01 = std::find_if(ids.begin(), ids.end(), [](const auto& m) { return m.id == "TDX_01"; });
  ASSERT_NE(tdx01, ids.end());
  EXPECT_GE(q.td.tee_tcb_svn[0], tdx01->levels.at(0).isv_svn);
  for (std::size_t i = 2; i < 16; ++i) EXPECT_GE(q.td.tee_tcb_svn[i], top.tdx_components[i].svn);
  EXPECT_GE(q.qe_report.isv_svn, c.qe_identity.levels.at(0).isv_svn);
  // Every validity window contains default_time.
  EXPECT_LE(c.tcb_info.issue_date, default_time);
  EXPECT_GE(c.tcb_info.next_update, default_time);
  EXPECT_LE(c.pck_crl.this_update, default_time);
  EXPECT_GE(c.pck_crl.next_update, default_time);
  EXPECT_LE(c.root_ca_crl.this_update, default_time);
  EXPECT_GE(c.root_ca_crl.next_update, default_time);
  EXPECT_LE(q.pck.cert.not_before, default_time);
  EXPECT_GE(q.pck.cert.not_after, default_time);
}

// ---------------------------------------------------------------------------------------
// End to end with the project's verifier: the defaults are a valid UpToDate quote.

TEST(TestPki, DefaultMintedQuotesVerifyUpToDate) {
  const test_pki& pki = shared_pki();
  const auto anchor = tdx::load_trust_anchor(pki.root_der());
  ASSERT_TRUE(anchor) << anchor.error().message;
  struct scenario {
    const char* name;
    quote_spec quote;
    collateral_spec collateral;
  };
  std::vector<scenario> scenarios{{"v4", {}, {}}, {"v5 TD1.0", quote_spec::v5(2), {}},
                                  {"v5 TD1.5", quote_spec::v5(3), {}}, {"processor CA", {}, {}}};
  scenarios[3].quote.pck.issuer = tdx::pck_ca_type::processor;
  scenarios[3].collateral.pck_crl_issuer = tdx::pck_ca_type::processor;
  for (const auto& s : scenarios) {
    SCOPED_TRACE(s.name);
    const bytes q = pki.mint(s.quote);
    const auto r = tdx::verify_quote(q, pki.collateral(s.collateral), **anchor, default_time);
    ASSERT_TRUE(r) << tdx::to_string(r.error().kind) << ": " << r.error().message;
    EXPECT_EQ(r->status, tdx::tcb_status::up_to_date);
    EXPECT_EQ(r->quote_version, s.quote.header.version);
    EXPECT_EQ(r->tdx_module_identity, "TDX_01");
    EXPECT_TRUE(r->advisory_ids.empty());
    EXPECT_EQ(r->fmspc, default_fmspc);
    EXPECT_EQ(r->pck_ca, s.quote.pck.issuer);
  }
  // The genuine Intel root does not anchor the test PKI.
  EXPECT_FALSE(tdx::verify_quote(pki.mint(), pki.collateral(), tdx::intel_sgx_root_ca(), default_time));
}

}  // namespace
}  // namespace vp::test
