#pragma once
// Internal to the test PKIs (test_pki.cpp, nvidia_pki.cpp): OpenSSL handles, DER building
// with OpenSSL's ASN.1 types, certificate extension helpers and little-endian writers.
// Failures throw std::runtime_error("test_pki: …"), like the rest of this test-only code.

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <initializer_list>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "core/bytes.hpp"
#include "core/clock.hpp"
#include "crypto/ossl.hpp"
#include "crypto/x509.hpp"

namespace vp::test::detail {

// ---------------------------------------------------------------------------------------
// OpenSSL plumbing

template <auto Free>
using ossl_ptr_deleter = crypto::ossl_deleter<Free>;
using asn1_integer_ptr = std::unique_ptr<ASN1_INTEGER, ossl_ptr_deleter<ASN1_INTEGER_free>>;
using asn1_octet_string_ptr = std::unique_ptr<ASN1_OCTET_STRING, ossl_ptr_deleter<ASN1_OCTET_STRING_free>>;
using asn1_bit_string_ptr = std::unique_ptr<ASN1_BIT_STRING, ossl_ptr_deleter<ASN1_BIT_STRING_free>>;
using asn1_enumerated_ptr = std::unique_ptr<ASN1_ENUMERATED, ossl_ptr_deleter<ASN1_ENUMERATED_free>>;
using asn1_string_ptr = std::unique_ptr<ASN1_STRING, ossl_ptr_deleter<ASN1_STRING_free>>;
using asn1_time_ptr = std::unique_ptr<ASN1_TIME, ossl_ptr_deleter<ASN1_TIME_free>>;
using asn1_type_ptr = std::unique_ptr<ASN1_TYPE, ossl_ptr_deleter<ASN1_TYPE_free>>;
using x509_name_ptr = std::unique_ptr<X509_NAME, ossl_ptr_deleter<X509_NAME_free>>;
using x509_extension_ptr = std::unique_ptr<X509_EXTENSION, ossl_ptr_deleter<X509_EXTENSION_free>>;
using x509_revoked_ptr = std::unique_ptr<X509_REVOKED, ossl_ptr_deleter<X509_REVOKED_free>>;
using authority_keyid_ptr = std::unique_ptr<AUTHORITY_KEYID, ossl_ptr_deleter<AUTHORITY_KEYID_free>>;
using basic_constraints_ptr = std::unique_ptr<BASIC_CONSTRAINTS, ossl_ptr_deleter<BASIC_CONSTRAINTS_free>>;

struct sequence_any_deleter {
  void operator()(ASN1_SEQUENCE_ANY* s) const noexcept { sk_ASN1_TYPE_pop_free(s, ASN1_TYPE_free); }
};
using sequence_any_ptr = std::unique_ptr<ASN1_SEQUENCE_ANY, sequence_any_deleter>;

[[noreturn]] inline void fail(std::string_view what) {
  throw std::runtime_error("test_pki: " + std::string(what) + ": " + crypto::take_openssl_error());
}

inline void check(bool ok, std::string_view what) {
  if (!ok) fail(what);
}

template <class T>
inline T* check_ptr(T* p, std::string_view what) {
  if (p == nullptr) fail(what);
  return p;
}

inline int checked_int(std::size_t n, std::string_view what) {
  if (n > static_cast<std::size_t>(INT_MAX)) fail(what);
  return static_cast<int>(n);
}

inline time_t to_time_t(unix_time t) { return static_cast<time_t>(to_unix_seconds(t)); }

inline asn1_time_ptr make_time(unix_time t) {
  return asn1_time_ptr{check_ptr(ASN1_TIME_set(nullptr, to_time_t(t)), "ASN1_TIME_set")};
}

inline asn1_integer_ptr make_integer(std::uint64_t v) {
  asn1_integer_ptr i{check_ptr(ASN1_INTEGER_new(), "ASN1_INTEGER_new")};
  check(ASN1_INTEGER_set_uint64(i.get(), v) == 1, "ASN1_INTEGER_set_uint64");
  return i;
}

inline asn1_integer_ptr make_signed_integer(long v) {
  asn1_integer_ptr i{check_ptr(ASN1_INTEGER_new(), "ASN1_INTEGER_new")};
  check(ASN1_INTEGER_set_int64(i.get(), v) == 1, "ASN1_INTEGER_set_int64");
  return i;
}

inline asn1_octet_string_ptr make_octets(byte_view data) {
  asn1_octet_string_ptr os{check_ptr(ASN1_OCTET_STRING_new(), "ASN1_OCTET_STRING_new")};
  check(ASN1_OCTET_STRING_set(os.get(), data.data(), checked_int(data.size(), "octet string size")) == 1,
        "ASN1_OCTET_STRING_set");
  return os;
}

template <class T, class I2D>
inline bytes to_der(T* obj, I2D i2d, std::string_view what) {
  const int len = i2d(obj, nullptr);
  if (len <= 0) fail(what);
  bytes out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  if (i2d(obj, &p) != len) fail(what);
  return out;
}

// ---------------------------------------------------------------------------------------
// DER values built with OpenSSL's ASN.1 types

inline asn1_type_ptr new_type() { return asn1_type_ptr{check_ptr(ASN1_TYPE_new(), "ASN1_TYPE_new")}; }

inline asn1_type_ptr type_object(const std::string& dotted) {
  ASN1_OBJECT* obj = check_ptr(OBJ_txt2obj(dotted.c_str(), 1), "OBJ_txt2obj");
  asn1_type_ptr t = new_type();
  ASN1_TYPE_set(t.get(), V_ASN1_OBJECT, obj);
  return t;
}

inline asn1_type_ptr type_integer(long v) {
  asn1_type_ptr t = new_type();
  ASN1_TYPE_set(t.get(), V_ASN1_INTEGER, make_signed_integer(v).release());
  return t;
}

inline asn1_type_ptr type_enumerated(long v) {
  asn1_enumerated_ptr e{check_ptr(ASN1_ENUMERATED_new(), "ASN1_ENUMERATED_new")};
  check(ASN1_ENUMERATED_set_int64(e.get(), v) == 1, "ASN1_ENUMERATED_set_int64");
  asn1_type_ptr t = new_type();
  ASN1_TYPE_set(t.get(), V_ASN1_ENUMERATED, e.release());
  return t;
}

inline asn1_type_ptr type_octets(byte_view data) {
  asn1_type_ptr t = new_type();
  ASN1_TYPE_set(t.get(), V_ASN1_OCTET_STRING, make_octets(data).release());
  return t;
}

inline asn1_type_ptr type_boolean(bool v) {
  asn1_type_ptr t = new_type();
  // ASN1_TYPE_set stores BOOLEAN as 0xFF / 0x00 (DER), taking only the pointer's truth.
  static int truth = 1;
  ASN1_TYPE_set(t.get(), V_ASN1_BOOLEAN, v ? &truth : nullptr);
  return t;
}

/// A SEQUENCE (given as its full DER) as an ASN1_TYPE: OpenSSL stores constructed
/// ANY values as their complete encoding and writes them back verbatim.
inline asn1_type_ptr type_sequence(const bytes& der) {
  asn1_string_ptr s{check_ptr(ASN1_STRING_type_new(V_ASN1_SEQUENCE), "ASN1_STRING_type_new")};
  check(ASN1_STRING_set(s.get(), der.data(), checked_int(der.size(), "sequence size")) == 1, "ASN1_STRING_set");
  asn1_type_ptr t = new_type();
  ASN1_TYPE_set(t.get(), V_ASN1_SEQUENCE, s.release());
  return t;
}

/// SEQUENCE OF ANY, encoded with i2d_ASN1_SEQUENCE_ANY.
class der_sequence {
 public:
  der_sequence() : items_{check_ptr(sk_ASN1_TYPE_new_null(), "sk_ASN1_TYPE_new_null")} {}

  der_sequence& add(asn1_type_ptr t) {
    check(sk_ASN1_TYPE_push(items_.get(), t.get()) > 0, "sk_ASN1_TYPE_push");
    t.release();  // owned by the stack now
    return *this;
  }

  bytes der() const { return to_der(items_.get(), i2d_ASN1_SEQUENCE_ANY, "i2d_ASN1_SEQUENCE_ANY"); }

 private:
  sequence_any_ptr items_;
};

// ---------------------------------------------------------------------------------------
// Certificate extensions

inline void add_key_usage(X509* x, std::initializer_list<int> bits) {
  asn1_bit_string_ptr ku{check_ptr(ASN1_BIT_STRING_new(), "ASN1_BIT_STRING_new")};
  for (int bit : bits) check(ASN1_BIT_STRING_set_bit(ku.get(), bit, 1) == 1, "ASN1_BIT_STRING_set_bit");
  check(X509_add1_ext_i2d(x, NID_key_usage, ku.get(), 1, X509V3_ADD_DEFAULT) == 1, "key usage");
}

inline void add_basic_constraints(X509* x, bool ca, std::optional<long> path_len) {
  basic_constraints_ptr bc{check_ptr(BASIC_CONSTRAINTS_new(), "BASIC_CONSTRAINTS_new")};
  bc->ca = ca ? 0xFF : 0;
  if (path_len) bc->pathlen = make_signed_integer(*path_len).release();
  check(X509_add1_ext_i2d(x, NID_basic_constraints, bc.get(), 1, X509V3_ADD_DEFAULT) == 1, "basic constraints");
}

inline authority_keyid_ptr make_akid(const ASN1_OCTET_STRING* issuer_ski) {
  authority_keyid_ptr akid{check_ptr(AUTHORITY_KEYID_new(), "AUTHORITY_KEYID_new")};
  akid->keyid = check_ptr(ASN1_OCTET_STRING_dup(issuer_ski), "ASN1_OCTET_STRING_dup");
  return akid;
}

// ---------------------------------------------------------------------------------------
// Little-endian serialisation

inline void put_u16(bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v & 0xFFu));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
}

inline void put_u32(bytes& b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>((v >> (8 * i)) & 0xFFu));
}

inline void put(bytes& b, byte_view v) { b.insert(b.end(), v.begin(), v.end()); }

inline void put_zeros(bytes& b, std::size_t n) { b.insert(b.end(), n, 0); }

inline void flip_last_bit(bytes& b) {
  if (!b.empty()) b.back() ^= 0x01;
}

// ---------------------------------------------------------------------------------------
// Signatures

/// ECDSA over `message` with `digest` ("SHA256", "SHA384"), as raw r‖s of two big-endian
/// `component_size`-byte integers (the encoding Intel's quotes, SPDM and JWS ES384 use).
inline bytes sign_ecdsa_raw(EVP_PKEY* key, const char* digest, std::size_t component_size, byte_view message) {
  crypto::evp_md_ctx_ptr ctx{check_ptr(EVP_MD_CTX_new(), "EVP_MD_CTX_new")};
  check(EVP_DigestSignInit_ex(ctx.get(), nullptr, digest, nullptr, nullptr, key, nullptr) == 1,
        "EVP_DigestSignInit_ex");
  std::size_t len = 0;
  check(EVP_DigestSign(ctx.get(), nullptr, &len, message.data(), message.size()) == 1, "EVP_DigestSign");
  bytes der(len);
  check(EVP_DigestSign(ctx.get(), der.data(), &len, message.data(), message.size()) == 1, "EVP_DigestSign");
  const unsigned char* p = der.data();
  const crypto::ecdsa_sig_ptr sig{check_ptr(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)), "d2i_ECDSA_SIG")};
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  const int n = checked_int(component_size, "ECDSA component size");
  bytes rs(2 * component_size);
  check(BN_bn2binpad(r, rs.data(), n) == n && BN_bn2binpad(s, rs.data() + component_size, n) == n, "BN_bn2binpad");
  return rs;
}

}  // namespace vp::test::detail
