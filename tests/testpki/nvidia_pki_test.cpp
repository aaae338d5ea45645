// Self-test of the synthetic NVIDIA GPU PKI, evidence minter and fake NRAS, checked with
// plain OpenSSL and Boost.JSON only (no project verifier), so that GPU verifier tests built
// on it start from inputs known to be valid and faults known to do one thing each
// (docs/gpu-signatures-e2ee.md §1.1-1.3, §2.1-2.3).

#include "crypto/x509.hpp"
#include "testpki/nvidia_pki.hpp"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <boost/json.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/hex.hpp"
#include "crypto/digest.hpp"
#include "support/testdata.hpp"

namespace vp::test {
namespace {

namespace json = boost::json;
using crypto::x509_ptr;

const nvidia_test_pki& gpu_pki() {
  static const nvidia_test_pki pki;
  return pki;
}

const fake_nras_signer& nras() {
  static const fake_nras_signer signer;
  return signer;
}

gpu_nonce test_nonce() {
  gpu_nonce n{};
  for (std::size_t i = 0; i < n.size(); ++i) n[i] = static_cast<std::uint8_t>(0xA0 + i);
  return n;
}

// ---------------------------------------------------------------------------------------
// Plain-OpenSSL helpers

bytes b64_decode(std::string_view text, bool url = false) {
  std::string s(text);
  if (url) {
    std::replace(s.begin(), s.end(), '-', '+');
    std::replace(s.begin(), s.end(), '_', '/');
    while (s.size() % 4 != 0) s += '=';
  }
  bytes out(s.size() / 4 * 3);
  const int n =
      EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  EXPECT_GE(n, 0);
  std::size_t pad = 0;
  while (pad < 2 && pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<std::size_t>(std::max(n, 0)) - pad);
  return out;
}

/// Every certificate of a PEM text (NUL padding ends it), empty if none.
std::vector<x509_ptr> certs_from_pem(std::string_view pem) {
  return crypto::parse_pem_certificates(pem).value_or(std::vector<x509_ptr>{});
}

x509_ptr cert_from_der(const bytes& der) {
  const unsigned char* p = der.data();
  return x509_ptr{d2i_X509(nullptr, &p, static_cast<long>(der.size()))};
}

bytes der_of(X509* c) {
  const int len = i2d_X509(c, nullptr);
  bytes out(static_cast<std::size_t>(len));
  unsigned char* p = out.data();
  i2d_X509(c, &p);
  return out;
}

std::string cn_of(X509* c) {
  char buf[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, buf, sizeof buf);
  return buf;
}

/// X509_verify_cert with `root` as the only trust anchor and certs[1..] untrusted.
int verify_chain(const std::vector<x509_ptr>& certs, X509* root) {
  crypto::x509_store_ptr store{X509_STORE_new()};
  X509_STORE_add_cert(store.get(), root);
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (std::size_t i = 1; i < certs.size(); ++i) sk_X509_push(untrusted, certs[i].get());
  crypto::x509_store_ctx_ptr ctx{X509_STORE_CTX_new()};
  X509_STORE_CTX_init(ctx.get(), store.get(), certs[0].get(), untrusted);
  X509_STORE_CTX_set_flags(ctx.get(), X509_V_FLAG_X509_STRICT);
  const int ok = X509_verify_cert(ctx.get());
  const int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx.get());
  sk_X509_free(untrusted);
  ERR_clear_error();
  return err;
}

/// ECDSA over `message` with raw r‖s (`n`-byte halves) and digest `md`.
bool verify_raw(EVP_PKEY* key, const EVP_MD* md, byte_view message, byte_view rs) {
  const std::size_t n = rs.size() / 2;
  crypto::ecdsa_sig_ptr sig{ECDSA_SIG_new()};
  ECDSA_SIG_set0(sig.get(), BN_bin2bn(rs.data(), static_cast<int>(n), nullptr),
                 BN_bin2bn(rs.data() + n, static_cast<int>(n), nullptr));
  unsigned char* der = nullptr;
  const int der_len = i2d_ECDSA_SIG(sig.get(), &der);
  crypto::evp_md_ctx_ptr ctx{EVP_MD_CTX_new()};
  const bool ok =
      EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) == 1 &&
      EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_len), message.data(), message.size()) == 1;
  OPENSSL_free(der);
  ERR_clear_error();
  return ok;
}

bytes extension_value(X509* c, const char* oid) {
  crypto::asn1_object_ptr obj{OBJ_txt2obj(oid, 1)};
  const int i = X509_get_ext_by_OBJ(c, obj.get(), -1);
  if (i < 0) return {};
  const ASN1_OCTET_STRING* v = X509_EXTENSION_get_data(X509_get_ext(c, i));
  return bytes(v->data, v->data + v->length);
}

std::vector<std::string> extension_oids(X509* c) {
  std::vector<std::string> out;
  for (int i = 0; i < X509_get_ext_count(c); ++i) {
    char buf[80] = {};
    OBJ_obj2txt(buf, sizeof buf, X509_EXTENSION_get_object(X509_get_ext(c, i)), 1);
    out.emplace_back(buf);
  }
  return out;
}

std::string serial_decimal(X509* c) {
  crypto::bignum_ptr bn{ASN1_INTEGER_to_BN(X509_get0_serialNumber(c), nullptr)};
  char* dec = BN_bn2dec(bn.get());
  std::string out(dec);
  OPENSSL_free(dec);
  return out;
}

// ---------------------------------------------------------------------------------------
// An independent SPDM parser (§1.2)

struct spdm_view {
  bytes request;
  bytes response_header;  // 8 bytes: version, code, p1, p2, count, LE24 length
  std::size_t blocks = 0;
  bytes record;
  std::vector<std::pair<std::uint16_t, bytes>> opaque;
  std::size_t opaque_size = 0;
  bytes signed_part;
  bytes signature;
  std::size_t trailing = 0;

  bytes tlv(std::uint16_t type) const {
    for (const auto& [t, v] : opaque) {
      if (t == type) return v;
    }
    return {};
  }
};

std::size_t le(const bytes& b, std::size_t off, int n) {
  std::size_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | b.at(off + static_cast<std::size_t>(i));
  return v;
}

spdm_view parse_spdm(const bytes& e) {
  spdm_view v;
  v.request.assign(e.begin(), e.begin() + 37);
  v.response_header.assign(e.begin() + 37, e.begin() + 45);
  v.blocks = e.at(41);
  const std::size_t l1 = le(e, 42, 3);
  v.record.assign(e.begin() + 45, e.begin() + 45 + static_cast<std::ptrdiff_t>(l1));
  std::size_t off = 45 + l1 + 32;
  v.opaque_size = le(e, off, 2);
  off += 2;
  const std::size_t end = off + v.opaque_size;
  while (off + 4 <= end) {
    const auto type = static_cast<std::uint16_t>(le(e, off, 2));
    const std::size_t size = le(e, off + 2, 2);
    v.opaque.emplace_back(type, bytes(e.begin() + static_cast<std::ptrdiff_t>(off + 4),
                                      e.begin() + static_cast<std::ptrdiff_t>(off + 4 + size)));
    off += 4 + size;
  }
  EXPECT_EQ(off, end);
  v.signed_part.assign(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(end));
  v.signature.assign(e.begin() + static_cast<std::ptrdiff_t>(end),
                     e.begin() + static_cast<std::ptrdiff_t>(std::min(end + 96, e.size())));
  v.trailing = e.size() - std::min(end + 96, e.size());
  return v;
}

json::value parse_json(std::string_view text) { return json::parse(text); }

std::vector<std::string> keys_of(const json::object& o) {
  std::vector<std::string> out;
  for (const auto& kv : o) out.emplace_back(kv.key());
  return out;
}

struct jws_parts {
  json::object header;
  json::object claims;
  std::string signing_input;
  bytes signature;
};

jws_parts split_jws(std::string_view token) {
  jws_parts p;
  const auto d1 = token.find('.');
  const auto d2 = token.find('.', d1 + 1);
  p.header = parse_json(as_chars(b64_decode(token.substr(0, d1), true))).as_object();
  p.claims = parse_json(as_chars(b64_decode(token.substr(d1 + 1, d2 - d1 - 1), true))).as_object();
  p.signing_input = std::string(token.substr(0, d2));
  p.signature = b64_decode(token.substr(d2 + 1), true);
  return p;
}

// ---------------------------------------------------------------------------------------
// Certificate chain (§1.3)

TEST(NvidiaTestPki, ChainOfFiveVerifiesToTheRoot) {
  const std::string pem = gpu_pki().certificate_chain_pem({}, 0);
  const auto certs = certs_from_pem(pem);
  ASSERT_EQ(certs.size(), 5u);
  const x509_ptr root = cert_from_der(gpu_pki().root_der());
  ASSERT_TRUE(root);
  EXPECT_EQ(verify_chain(certs, root.get()), X509_V_OK);
  EXPECT_EQ(der_of(certs[4].get()), gpu_pki().root_der());
  EXPECT_EQ(certs_from_pem(gpu_pki().root_pem()).size(), 1u);

  const std::vector<std::string> cns = {"GH100 A01 GSP FMC LF", "GH100 A01 GSP BROM", "NVIDIA GH100 Provisioner ICA 1",
                                        "NVIDIA GH100 Identity", "NVIDIA Device Identity CA"};
  for (std::size_t i = 0; i < 5; ++i) {
    X509* c = certs[i].get();
    EXPECT_EQ(cn_of(c), cns[i]);
    EXPECT_EQ(X509_get_signature_nid(c), NID_ecdsa_with_SHA384);
    EVP_PKEY* key = X509_get0_pubkey(c);
    char group[64] = {};
    std::size_t len = 0;
    ASSERT_EQ(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len), 1);
    EXPECT_STREQ(group, "secp384r1");
    ASN1_TIME* never = ASN1_TIME_new();
    ASN1_TIME_set_string_X509(never, "99991231235959Z");
    EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(c), never), 0) << i;
    ASN1_TIME_free(never);
    EXPECT_EQ(X509_check_ca(c) != 0, i > 0) << i;
  }
  // Extension sets and order as on NVIDIA's chain.
  EXPECT_EQ(extension_oids(certs[0].get()),
            (std::vector<std::string>{"2.5.29.15", "2.5.29.14", "2.5.29.35", "2.5.29.17", "2.23.133.5.4.1"}));
  EXPECT_EQ(extension_oids(certs[1].get()),
            (std::vector<std::string>{"2.5.29.19", "2.5.29.15", "2.5.29.14", "2.5.29.35"}));
  EXPECT_EQ(extension_oids(certs[2].get()), (std::vector<std::string>{"2.5.29.19", "2.5.29.15", "2.5.29.31",
                                                                      "1.3.6.1.5.5.7.1.1", "2.5.29.14", "2.5.29.35"}));
  EXPECT_EQ(X509_get_key_usage(certs[0].get()), static_cast<std::uint32_t>(KU_DIGITAL_SIGNATURE));
  EXPECT_EQ(X509_get_key_usage(certs[1].get()), static_cast<std::uint32_t>(KU_KEY_CERT_SIGN));

  // The leaf's serial is repeated in its serialNumber attribute, and the SAN names the device.
  char serial_attr[128] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(certs[0].get()), NID_serialNumber, serial_attr, sizeof serial_attr);
  crypto::bignum_ptr bn{ASN1_INTEGER_to_BN(X509_get0_serialNumber(certs[0].get()), nullptr)};
  char* hex = BN_bn2hex(bn.get());
  EXPECT_STREQ(serial_attr, hex);
  EXPECT_EQ(std::string(hex).size(), 40u);
  OPENSSL_free(hex);
  const bytes san = extension_value(certs[0].get(), "2.5.29.17");
  EXPECT_NE(std::search(san.begin(), san.end(), std::begin("NVIDIA:GH100:"), std::end("NVIDIA:GH100:") - 1), san.end());
}

TEST(NvidiaTestPki, EveryGpuHasItsOwnLeafAndBromButTheSameCas) {
  const auto a = certs_from_pem(gpu_pki().certificate_chain_pem({}, 0));
  const auto b = certs_from_pem(gpu_pki().certificate_chain_pem({}, 1));
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_NE(der_of(a[0].get()), der_of(b[0].get()));
  EXPECT_NE(der_of(a[1].get()), der_of(b[1].get()));
  for (std::size_t i = 2; i < 5; ++i) EXPECT_EQ(der_of(a[i].get()), der_of(b[i].get()));
  // Stable per index: the same certificates on the next call.
  EXPECT_EQ(gpu_pki().certificate_chain_pem({}, 0), gpu_pki().certificate_chain_pem({}, 0));
  EXPECT_EQ(gpu_pki().leaf_serial_decimal(0), serial_decimal(a[0].get()));
  EXPECT_EQ(gpu_pki().leaf_serial_decimal(1), serial_decimal(b[0].get()));
  EXPECT_NE(gpu_pki().leaf_serial_decimal(0), gpu_pki().leaf_serial_decimal(1));
}

TEST(NvidiaTestPki, ForeignRootHasTheSameNamesButDoesNotVerify) {
  gpu_spec g;
  g.foreign_root = true;
  const auto certs = certs_from_pem(gpu_pki().certificate_chain_pem(g, 2));
  const auto good = certs_from_pem(gpu_pki().certificate_chain_pem({}, 2));
  ASSERT_EQ(certs.size(), 5u);
  const x509_ptr root = cert_from_der(gpu_pki().root_der());
  const x509_ptr foreign = cert_from_der(gpu_pki().foreign_root_der());
  EXPECT_NE(verify_chain(certs, root.get()), X509_V_OK);
  EXPECT_EQ(verify_chain(certs, foreign.get()), X509_V_OK);
  EXPECT_EQ(der_of(certs[0].get()), der_of(good[0].get()));  // the same device leaf
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(certs[i].get()), X509_get_subject_name(good[i].get())), 0);
  }
  EXPECT_NE(gpu_pki().foreign_root_der(), gpu_pki().root_der());
}

// ---------------------------------------------------------------------------------------
// SPDM evidence (§1.2)

TEST(NvidiaTestPki, EvidenceLayoutIsNvidias) {
  const gpu_nonce nonce = test_nonce();
  const bytes e = gpu_pki().evidence({}, nonce, 0);
  EXPECT_EQ(e.size(), 4266u);  // as on NEAR: 64 blocks and the same 15 opaque TLVs
  const spdm_view v = parse_spdm(e);
  EXPECT_EQ(v.request[0], 0x11);
  EXPECT_EQ(v.request[1], 0xE0);
  EXPECT_EQ(v.request[2] & 0x01, 0x01);
  EXPECT_EQ(v.request[3], 0xFF);
  EXPECT_TRUE(std::equal(nonce.begin(), nonce.end(), v.request.begin() + 4));
  EXPECT_EQ(v.request[36], 0x00);
  EXPECT_EQ(v.response_header, (bytes{0x11, 0x60, 0x00, 0x00, 64, 0xc0, 0x0d, 0x00}));  // 3520 = 64 × 55
  ASSERT_EQ(v.record.size(), 64u * 55u);
  for (std::size_t i = 0; i < 64; ++i) {
    const std::uint8_t* b = v.record.data() + i * 55;
    EXPECT_EQ(b[0], i + 1);
    EXPECT_EQ(b[1], 1);
    EXPECT_EQ(b[2] | (b[3] << 8), 51);
    EXPECT_EQ(b[4], 1);
    EXPECT_EQ(b[5] | (b[6] << 8), 48);
  }
  EXPECT_EQ(v.opaque_size, 571u);
  EXPECT_EQ(v.signature.size(), 96u);
  EXPECT_EQ(v.trailing, 0u);
  const bytes driver = v.tlv(3);
  EXPECT_EQ(std::string(as_chars(driver)), std::string("570.172.08\0", 11));
  EXPECT_EQ(v.tlv(6), (bytes{0x00, 0xcf, 0x00, 0x96, 0x02, 0x00, 0x00, 0x00}));
  EXPECT_EQ(v.tlv(11), bytes{0x55});
  EXPECT_EQ(v.tlv(20), nvidia_test_pki::default_fwid(0));
  EXPECT_EQ(v.tlv(20).size(), 48u);
  EXPECT_EQ(format_vbios_version(gpu_spec{}.vbios), "96.00.CF.00.02");
}

TEST(NvidiaTestPki, DefaultMeasurementsAreNears) {
  const spdm_view v = parse_spdm(gpu_pki().evidence({}, test_nonce(), 0));
  EXPECT_EQ(to_hex(crypto::sha256(v.record)), "53cc764a223add58ec3bdee00c2a6a634c9e0f40254dc47493b753558207e44d");
  const auto& m = default_measurements();
  ASSERT_EQ(m.size(), 64u);
  EXPECT_EQ(std::count(m.begin(), m.end(), std::array<std::uint8_t, 48>{}), 36);

  gpu_spec custom;
  custom.measurements.assign(3, std::array<std::uint8_t, 48>{});
  custom.measurements[1][0] = 0x42;
  const spdm_view c = parse_spdm(gpu_pki().evidence(custom, test_nonce(), 0));
  EXPECT_EQ(c.blocks, 3u);
  ASSERT_EQ(c.record.size(), 3u * 55u);
  EXPECT_EQ(c.record[55 + 7], 0x42);
}

TEST(NvidiaTestPki, SpdmSignatureVerifiesWithTheLeafKey) {
  const auto certs = certs_from_pem(gpu_pki().certificate_chain_pem({}, 3));
  ASSERT_EQ(certs.size(), 5u);
  const bytes e = gpu_pki().evidence({}, test_nonce(), 3);
  const byte_view signed_part{e.data(), e.size() - 96};
  const byte_view sig{e.data() + e.size() - 96, 96};
  EXPECT_TRUE(verify_raw(X509_get0_pubkey(certs[0].get()), EVP_sha384(), signed_part, sig));
  // Not with another GPU's leaf.
  const auto other = certs_from_pem(gpu_pki().certificate_chain_pem({}, 4));
  EXPECT_FALSE(verify_raw(X509_get0_pubkey(other[0].get()), EVP_sha384(), signed_part, sig));
  // A flipped nonce bit in the signed bytes breaks it (§1.7 negative control).
  bytes tampered = e;
  tampered[4] ^= 0x01;
  EXPECT_FALSE(
      verify_raw(X509_get0_pubkey(certs[0].get()), EVP_sha384(), byte_view{tampered.data(), e.size() - 96}, sig));
}

TEST(NvidiaTestPki, FwidIsTheLastBytesOfTheTcbInfoExtension) {
  for (std::size_t gpu : {0u, 5u}) {
    const auto certs = certs_from_pem(gpu_pki().certificate_chain_pem({}, gpu));
    const bytes ext = extension_value(certs[0].get(), "2.23.133.5.4.1");
    ASSERT_GE(ext.size(), 48u);
    const bytes tail(ext.end() - 48, ext.end());
    EXPECT_EQ(tail, nvidia_test_pki::default_fwid(gpu));
    EXPECT_EQ(parse_spdm(gpu_pki().evidence({}, test_nonce(), gpu)).tlv(20), tail);
    // NVIDIA's structure: SEQUENCE { INTEGER 1, SPKI (the BROM's key), SEQUENCE { sha384, OCTET STRING } }.
    EXPECT_EQ(ext[0], 0x30);
    const bytes version{0x02, 0x01, 0x01};
    EXPECT_TRUE(std::search(ext.begin(), ext.end(), version.begin(), version.end()) == ext.begin() + 3);
    unsigned char* spki = nullptr;
    const int spki_len = i2d_PUBKEY(X509_get0_pubkey(certs[1].get()), &spki);
    EXPECT_NE(std::search(ext.begin(), ext.end(), spki, spki + spki_len), ext.end());
    OPENSSL_free(spki);
  }
  gpu_spec g;
  g.fwid = bytes(48, 0x77);
  const auto certs = certs_from_pem(gpu_pki().certificate_chain_pem(g, 0));
  const bytes ext = extension_value(certs[0].get(), "2.23.133.5.4.1");
  EXPECT_EQ(bytes(ext.end() - 48, ext.end()), g.fwid);
  EXPECT_EQ(parse_spdm(gpu_pki().evidence(g, test_nonce(), 0)).tlv(20), g.fwid);
  EXPECT_EQ(gpu_pki().leaf_serial_decimal(0), serial_decimal(certs[0].get()));  // same key, same serial
}

// ---------------------------------------------------------------------------------------
// Faults: each does what it says and nothing else

TEST(NvidiaTestPki, FaultCorruptSignature) {
  gpu_spec g;
  g.corrupt_signature = true;
  const auto certs = certs_from_pem(gpu_pki().certificate_chain_pem(g, 0));
  const bytes e = gpu_pki().evidence(g, test_nonce(), 0);
  EXPECT_EQ(e.size(), 4266u);
  EXPECT_FALSE(verify_raw(X509_get0_pubkey(certs[0].get()), EVP_sha384(), byte_view{e.data(), e.size() - 96},
                          byte_view{e.data() + e.size() - 96, 96}));
  EXPECT_EQ(parse_spdm(e).tlv(20), nvidia_test_pki::default_fwid(0));
  EXPECT_EQ(verify_chain(certs, cert_from_der(gpu_pki().root_der()).get()), X509_V_OK);
}

TEST(NvidiaTestPki, FaultSpdmNonce) {
  gpu_spec g;
  g.spdm_nonce = gpu_nonce{};
  g.spdm_nonce->fill(0x5A);
  const auto certs = certs_from_pem(gpu_pki().certificate_chain_pem(g, 0));
  const bytes e = gpu_pki().evidence(g, test_nonce(), 0);
  EXPECT_TRUE(std::all_of(e.begin() + 4, e.begin() + 36, [](std::uint8_t b) { return b == 0x5A; }));
  EXPECT_TRUE(verify_raw(X509_get0_pubkey(certs[0].get()), EVP_sha384(), byte_view{e.data(), e.size() - 96},
                         byte_view{e.data() + e.size() - 96, 96}));
  // The payload keeps the client nonce.
  payload_spec p;
  p.nonce = test_nonce();
  p.gpus = {g};
  const json::object doc = parse_json(gpu_pki().payload(p)).as_object();
  EXPECT_EQ(doc.at("nonce").as_string(), to_hex(test_nonce()));
}

TEST(NvidiaTestPki, FaultFwidMismatch) {
  gpu_spec g;
  g.fwid_mismatch = true;
  const auto certs = certs_from_pem(gpu_pki().certificate_chain_pem(g, 0));
  const bytes e = gpu_pki().evidence(g, test_nonce(), 0);
  const bytes ext = extension_value(certs[0].get(), "2.23.133.5.4.1");
  const bytes opaque = parse_spdm(e).tlv(20);
  EXPECT_EQ(bytes(ext.end() - 48, ext.end()), nvidia_test_pki::default_fwid(0));  // the certificate is unchanged
  EXPECT_EQ(opaque.size(), 48u);
  EXPECT_NE(opaque, nvidia_test_pki::default_fwid(0));
  EXPECT_TRUE(verify_raw(X509_get0_pubkey(certs[0].get()), EVP_sha384(), byte_view{e.data(), e.size() - 96},
                         byte_view{e.data() + e.size() - 96, 96}));
}

TEST(NvidiaTestPki, VersionsAreSpecValues) {
  gpu_spec g;
  g.driver_version = "575.57.08";
  g.vbios = {0x00, 0x5e, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00};
  const spdm_view v = parse_spdm(gpu_pki().evidence(g, test_nonce(), 0));
  EXPECT_EQ(std::string(as_chars(v.tlv(3))), std::string("575.57.08\0", 10));
  EXPECT_EQ(format_vbios_version(g.vbios), "96.00.5E.00.01");
}

// ---------------------------------------------------------------------------------------
// nvidia_payload (§1.1)

TEST(NvidiaTestPki, PayloadPythonProducerForm) {
  payload_spec p;
  p.nonce = test_nonce();
  const std::string text = gpu_pki().payload(p);
  EXPECT_EQ(text.rfind(R"({"arch":"HOPPER","evidence_list":[{"arch":"HOPPER","certificate":")", 0), 0u);
  const json::object doc = parse_json(text).as_object();
  EXPECT_EQ(keys_of(doc), (std::vector<std::string>{"arch", "evidence_list", "nonce"}));
  EXPECT_EQ(doc.at("nonce").as_string(), to_hex(test_nonce()));
  const json::array& list = doc.at("evidence_list").as_array();
  ASSERT_EQ(list.size(), 8u);
  for (std::size_t i = 0; i < list.size(); ++i) {
    const json::object& entry = list[i].as_object();
    EXPECT_EQ(keys_of(entry), (std::vector<std::string>{"arch", "certificate", "evidence"}));
    const bytes chain = b64_decode(entry.at("certificate").as_string());
    const std::string pem(as_chars(chain));
    EXPECT_TRUE(pem.ends_with("-----END CERTIFICATE-----\n"));
    EXPECT_EQ(pem, gpu_pki().certificate_chain_pem({}, i));
    const bytes e = b64_decode(entry.at("evidence").as_string());
    EXPECT_EQ(e.size(), 4266u);
    EXPECT_TRUE(std::equal(p.nonce.begin(), p.nonce.end(), e.begin() + 4));
  }
}

TEST(NvidiaTestPki, PayloadSdkProducerForm) {
  payload_spec p;
  p.nonce = test_nonce();
  p.sdk_producer = true;
  p.gpus.resize(2);
  const json::object doc = parse_json(gpu_pki().payload(p)).as_object();
  const json::array& list = doc.at("evidence_list").as_array();
  ASSERT_EQ(list.size(), 2u);
  for (const auto& item : list) {
    const json::object& entry = item.as_object();
    EXPECT_EQ(keys_of(entry), (std::vector<std::string>{"arch", "certificate", "evidence", "nonce"}));
    EXPECT_EQ(entry.at("nonce").as_string(), doc.at("nonce").as_string());
    const bytes chain = b64_decode(entry.at("certificate").as_string());
    ASSERT_GT(chain.size(), 5u);
    EXPECT_EQ(bytes(chain.end() - 5, chain.end()), bytes(5, 0));
    EXPECT_EQ(certs_from_pem(as_chars(chain)).size(), 5u);
  }
}

// ---------------------------------------------------------------------------------------
// Fake NRAS (§2.1-2.3)

struct jwk_key {
  crypto::evp_pkey_ptr key;
  x509_ptr leaf;
  x509_ptr intermediate;
};

/// The key for `kid` from a JWKS, from x5c[0], after checking that it equals (x, y).
jwk_key key_for(const std::string& jwks, const std::string& kid) {
  jwk_key out;
  const json::value doc = parse_json(jwks);
  for (const auto& k : doc.at("keys").as_array()) {
    const json::object& jwk = k.as_object();
    if (jwk.at("kid").as_string() != kid) continue;
    EXPECT_EQ(keys_of(jwk), (std::vector<std::string>{"kty", "crv", "kid", "x5c", "x", "y"}));
    EXPECT_EQ(jwk.at("kty").as_string(), "EC");
    EXPECT_EQ(jwk.at("crv").as_string(), "P-384");
    const json::array& x5c = jwk.at("x5c").as_array();
    EXPECT_EQ(x5c.size(), 2u);
    out.leaf = cert_from_der(b64_decode(x5c.at(0).as_string()));
    out.intermediate = cert_from_der(b64_decode(x5c.at(1).as_string()));
    EVP_PKEY* key = X509_get0_pubkey(out.leaf.get());
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    bytes xb(48);
    bytes yb(48);
    BN_bn2binpad(x, xb.data(), 48);
    BN_bn2binpad(y, yb.data(), 48);
    BN_free(x);
    BN_free(y);
    EXPECT_EQ(b64_decode(jwk.at("x").as_string(), true), xb);
    EXPECT_EQ(b64_decode(jwk.at("y").as_string(), true), yb);
    EVP_PKEY_up_ref(key);
    out.key.reset(key);
  }
  return out;
}

std::string spki_sha256_hex(X509* c) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c), &der);
  const std::string h = to_hex(crypto::sha256(byte_view{der, static_cast<std::size_t>(len)}));
  OPENSSL_free(der);
  return h;
}

TEST(NvidiaTestPki, NrasTokensVerifyAndBindToTheEvidence) {
  payload_spec p;
  p.nonce = test_nonce();
  const std::string payload = gpu_pki().payload(p);
  const unix_time now = utc_date(2026, 6, 29);
  const json::array answer = parse_json(nras().answer(payload, now)).as_array();
  ASSERT_EQ(answer.size(), 2u);
  const json::array& jwt = answer[0].as_array();
  ASSERT_EQ(jwt.size(), 2u);
  EXPECT_EQ(jwt[0].as_string(), "JWT");
  const json::object& detached = answer[1].as_object();
  EXPECT_EQ(keys_of(detached),
            (std::vector<std::string>{"GPU-0", "GPU-1", "GPU-2", "GPU-3", "GPU-4", "GPU-5", "GPU-6", "GPU-7"}));

  const jws_parts overall = split_jws(jwt[1].as_string());
  EXPECT_EQ(keys_of(overall.header), (std::vector<std::string>{"kid", "alg"}));
  EXPECT_EQ(overall.header.at("alg").as_string(), "ES384");
  const std::string kid(overall.header.at("kid").as_string());
  EXPECT_EQ(kid, nras().kid());
  EXPECT_EQ(kid.rfind("nv-eat-kid-test-", 0), 0u);
  const jwk_key k = key_for(nras().jwks_json(), kid);
  ASSERT_TRUE(k.key);
  EXPECT_EQ(parse_json(nras().jwks_json()).at("keys").as_array().size(), 2u);  // a decoy first
  EXPECT_TRUE(verify_raw(k.key.get(), EVP_sha384(), as_bytes(overall.signing_input), overall.signature));
  // x5c[0] is signed by x5c[1] (RSA), whose SPKI is the pin.
  EXPECT_EQ(X509_verify(k.leaf.get(), X509_get0_pubkey(k.intermediate.get())), 1);
  EXPECT_EQ(X509_get_signature_nid(k.leaf.get()), NID_sha256WithRSAEncryption);
  EXPECT_EQ(spki_sha256_hex(k.intermediate.get()), nras().intermediate_spki_sha256_hex());
  EXPECT_EQ(cn_of(k.leaf.get()), "NVIDIA Attestation Service GPU GH100");

  const json::object& c = overall.claims;
  EXPECT_EQ(keys_of(c), (std::vector<std::string>{"sub", "x-nvidia-ver", "nbf", "iss", "x-nvidia-overall-att-result",
                                                  "submods", "eat_nonce", "exp", "iat", "jti"}));
  EXPECT_EQ(c.at("iss").as_string(), "https://nras.attestation.nvidia.com");
  EXPECT_EQ(c.at("sub").as_string(), "NVIDIA-PLATFORM-ATTESTATION");
  EXPECT_EQ(c.at("x-nvidia-ver").as_string(), "2.0");
  EXPECT_EQ(c.at("eat_nonce").as_string(), to_hex(test_nonce()));
  EXPECT_EQ(c.at("iat").as_int64(), to_unix_seconds(now));
  EXPECT_EQ(c.at("nbf").as_int64(), to_unix_seconds(now));
  EXPECT_EQ(c.at("exp").as_int64() - c.at("iat").as_int64(), 3600);
  EXPECT_EQ(c.at("x-nvidia-overall-att-result"), json::value(true));
  const json::object& submods = c.at("submods").as_object();
  ASSERT_EQ(submods.size(), 8u);

  for (std::size_t i = 0; i < 8; ++i) {
    const std::string name = "GPU-" + std::to_string(i);
    const std::string token(detached.at(name).as_string());
    const json::array& digest = submods.at(name).as_array();
    EXPECT_EQ(digest.at(0).as_string(), "DIGEST");
    EXPECT_EQ(digest.at(1).as_array().at(0).as_string(), "SHA-256");
    EXPECT_EQ(digest.at(1).as_array().at(1).as_string(), to_hex(crypto::sha256(as_bytes(token))));
    const jws_parts gpu = split_jws(token);
    EXPECT_EQ(gpu.header.at("kid").as_string(), kid);
    EXPECT_TRUE(verify_raw(k.key.get(), EVP_sha384(), as_bytes(gpu.signing_input), gpu.signature));
    const json::object& g = gpu.claims;
    EXPECT_EQ(g.size(), 31u);
    EXPECT_EQ(g.at("ueid").as_string(), gpu_pki().leaf_serial_decimal(i));
    EXPECT_EQ(g.at("x-nvidia-gpu-driver-version").as_string(), "570.172.08");
    EXPECT_EQ(g.at("x-nvidia-gpu-vbios-version").as_string(), "96.00.CF.00.02");
    EXPECT_EQ(g.at("hwmodel").as_string(), "GH100");
    EXPECT_EQ(g.at("oemid").as_string(), "5703");
    EXPECT_EQ(g.at("dbgstat").as_string(), "disabled");
    EXPECT_EQ(g.at("measres").as_string(), "success");
    EXPECT_EQ(g.at("secboot"), json::value(true));
    EXPECT_TRUE(g.at("x-nvidia-attestation-warning").is_null());
    EXPECT_EQ(g.at("eat_nonce").as_string(), to_hex(test_nonce()));
    EXPECT_EQ(g.at("iss").as_string(), "https://nras.attestation.nvidia.com");
    for (const auto& kv : g) {
      if (kv.key().starts_with("x-nvidia-gpu-") && kv.value().is_bool()) {
        EXPECT_TRUE(kv.value().as_bool()) << kv.key();
      }
    }
  }
}

TEST(NvidiaTestPki, NrasFaults) {
  payload_spec p;
  p.nonce = test_nonce();
  p.gpus.resize(2);
  const std::string payload = gpu_pki().payload(p);
  const unix_time now = utc_date(2026, 6, 29);

  nras_spec s;
  s.swap_gpu_tokens = true;
  s.overall_result = false;
  s.measres = "fail";
  s.lifetime_seconds = 60;
  s.eat_nonce = gpu_nonce{};
  const json::array answer = parse_json(nras().answer(payload, now, s)).as_array();
  const jws_parts overall = split_jws(answer[0].as_array()[1].as_string());
  const json::object& detached = answer[1].as_object();
  const json::object& submods = overall.claims.at("submods").as_object();
  const auto digest = [&](const char* n) { return std::string(submods.at(n).as_array()[1].as_array()[1].as_string()); };
  const auto token_digest = [&](const char* n) {
    return to_hex(crypto::sha256(as_bytes(std::string(detached.at(n).as_string()))));
  };
  EXPECT_EQ(digest("GPU-1"), token_digest("GPU-0"));
  EXPECT_EQ(digest("GPU-0"), token_digest("GPU-1"));
  EXPECT_NE(digest("GPU-0"), token_digest("GPU-0"));
  EXPECT_EQ(overall.claims.at("x-nvidia-overall-att-result"), json::value(false));
  EXPECT_EQ(overall.claims.at("eat_nonce").as_string(), std::string(64, '0'));
  EXPECT_EQ(overall.claims.at("exp").as_int64() - overall.claims.at("iat").as_int64(), 60);
  const jws_parts gpu0 = split_jws(detached.at("GPU-0").as_string());
  EXPECT_EQ(gpu0.claims.at("measres").as_string(), "fail");
  EXPECT_EQ(gpu0.claims.at("ueid").as_string(), gpu_pki().leaf_serial_decimal(1));  // swapped
  // Still properly signed: each fault is only what it says.
  const jwk_key k = key_for(nras().jwks_json(), nras().kid());
  EXPECT_TRUE(verify_raw(k.key.get(), EVP_sha384(), as_bytes(overall.signing_input), overall.signature));

  // Another signer: another kid, not in this JWKS.
  const fake_nras_signer other;
  EXPECT_NE(other.kid(), nras().kid());
  EXPECT_FALSE(key_for(nras().jwks_json(), other.kid()).key);
}

// ---------------------------------------------------------------------------------------
// Shapes against the real capture (when ../shared/testdata exists)

TEST(NvidiaTestPki, ShapesMatchTheRealCapture) {
  VP_REQUIRE_SHARED_TESTDATA();
  const std::string dir = "nearai/direct-2026-06-29-ed25519/";
  const json::value report = parse_json(read_shared(dir + "report.json"));
  const json::object real = parse_json(report.at("nvidia_payload").as_string()).as_object();
  payload_spec p;
  p.sdk_producer = true;  // the 06-29 capture is the SDK form
  std::copy_n(from_hex(real.at("nonce").as_string())->begin(), 32, p.nonce.begin());
  const std::string mine_text = gpu_pki().payload(p);
  const json::object mine = parse_json(mine_text).as_object();
  EXPECT_EQ(keys_of(mine), keys_of(real));
  const json::array& rl = real.at("evidence_list").as_array();
  const json::array& ml = mine.at("evidence_list").as_array();
  ASSERT_EQ(ml.size(), rl.size());
  for (std::size_t i = 0; i < rl.size(); ++i) {
    const json::object& re = rl[i].as_object();
    const json::object& me = ml[i].as_object();
    EXPECT_EQ(keys_of(me), keys_of(re));
    const bytes rev = b64_decode(re.at("evidence").as_string());
    const bytes mev = b64_decode(me.at("evidence").as_string());
    EXPECT_EQ(mev.size(), rev.size());
    EXPECT_EQ(bytes(mev.begin(), mev.begin() + 37), bytes(rev.begin(), rev.begin() + 37));  // same nonce too
    const spdm_view rv = parse_spdm(rev);
    const spdm_view mv = parse_spdm(mev);
    EXPECT_EQ(mv.response_header, rv.response_header);
    EXPECT_EQ(mv.record, rv.record);
    ASSERT_EQ(mv.opaque.size(), rv.opaque.size());
    for (std::size_t t = 0; t < rv.opaque.size(); ++t) {
      EXPECT_EQ(mv.opaque[t].first, rv.opaque[t].first);
      EXPECT_EQ(mv.opaque[t].second.size(), rv.opaque[t].second.size()) << rv.opaque[t].first;
      if (rv.opaque[t].first != 20 && rv.opaque[t].first != 22) {  // FWID and switch PDIs are per device
        EXPECT_EQ(mv.opaque[t].second, rv.opaque[t].second) << rv.opaque[t].first;
      }
    }
    const bytes rc = b64_decode(re.at("certificate").as_string());
    const bytes mc = b64_decode(me.at("certificate").as_string());
    EXPECT_EQ(std::count(mc.begin(), mc.end(), 0), std::count(rc.begin(), rc.end(), 0));
    const auto rcerts = certs_from_pem(as_chars(rc));
    const auto mcerts = certs_from_pem(as_chars(mc));
    ASSERT_EQ(mcerts.size(), rcerts.size());
    for (std::size_t c = 0; c < rcerts.size(); ++c) {
      EXPECT_EQ(cn_of(mcerts[c].get()), cn_of(rcerts[c].get()));
      EXPECT_EQ(extension_oids(mcerts[c].get()), extension_oids(rcerts[c].get())) << c;
      EXPECT_EQ(X509_get_key_usage(mcerts[c].get()), X509_get_key_usage(rcerts[c].get())) << c;
      EXPECT_EQ(ASN1_TIME_compare(X509_get0_notAfter(mcerts[c].get()), X509_get0_notAfter(rcerts[c].get())), 0);
      EXPECT_EQ(
          BN_num_bytes(crypto::bignum_ptr{ASN1_INTEGER_to_BN(X509_get0_serialNumber(mcerts[c].get()), nullptr)}.get()),
          BN_num_bytes(crypto::bignum_ptr{ASN1_INTEGER_to_BN(X509_get0_serialNumber(rcerts[c].get()), nullptr)}.get()))
          << c;
      // The same attributes in the same order and string types.
      const X509_NAME* rn = X509_get_subject_name(rcerts[c].get());
      const X509_NAME* mn = X509_get_subject_name(mcerts[c].get());
      ASSERT_EQ(X509_NAME_entry_count(mn), X509_NAME_entry_count(rn));
      for (int n = 0; n < X509_NAME_entry_count(rn); ++n) {
        const X509_NAME_ENTRY* re_n = X509_NAME_get_entry(rn, n);
        const X509_NAME_ENTRY* me_n = X509_NAME_get_entry(mn, n);
        EXPECT_EQ(OBJ_cmp(X509_NAME_ENTRY_get_object(me_n), X509_NAME_ENTRY_get_object(re_n)), 0);
        EXPECT_EQ(ASN1_STRING_type(X509_NAME_ENTRY_get_data(me_n)), ASN1_STRING_type(X509_NAME_ENTRY_get_data(re_n)));
      }
    }
    const bytes rext = extension_value(rcerts[0].get(), "2.23.133.5.4.1");
    const bytes mext = extension_value(mcerts[0].get(), "2.23.133.5.4.1");
    EXPECT_EQ(mext.size(), rext.size());
    EXPECT_EQ(bytes(mext.begin(), mext.begin() + 8), bytes(rext.begin(), rext.begin() + 8));
  }

  // The NRAS answer: same shape, claim names and JWKS members.
  const json::array real_answer = parse_json(read_shared(dir + "nvidia/nras_response.json")).as_array();
  const json::array my_answer = parse_json(nras().answer(mine_text, utc_date(2026, 6, 29))).as_array();
  ASSERT_EQ(my_answer.size(), real_answer.size());
  const jws_parts ro = split_jws(real_answer[0].as_array()[1].as_string());
  const jws_parts mo = split_jws(my_answer[0].as_array()[1].as_string());
  EXPECT_EQ(keys_of(mo.header), keys_of(ro.header));
  EXPECT_EQ(keys_of(mo.claims), keys_of(ro.claims));
  EXPECT_EQ(keys_of(my_answer[1].as_object()).size(), keys_of(real_answer[1].as_object()).size());
  const jws_parts rg = split_jws(real_answer[1].as_object().at("GPU-0").as_string());
  const jws_parts mg = split_jws(my_answer[1].as_object().at("GPU-0").as_string());
  EXPECT_EQ(keys_of(mg.claims), keys_of(rg.claims));
  for (const auto& kv : rg.claims) {
    if (kv.key() == "jti" || kv.key() == "ueid" || kv.key() == "iat" || kv.key() == "nbf" || kv.key() == "exp") {
      continue;
    }
    EXPECT_EQ(mg.claims.at(kv.key()), kv.value()) << kv.key();
  }
  EXPECT_EQ(ro.claims.at("x-nvidia-overall-att-result"), mo.claims.at("x-nvidia-overall-att-result"));
  const json::object real_jwk = parse_json(read_shared(dir + "nvidia/jwks.json")).at("keys").as_array()[0].as_object();
  const json::object my_jwk = parse_json(nras().jwks_json()).at("keys").as_array()[0].as_object();
  EXPECT_EQ(keys_of(my_jwk), keys_of(real_jwk));
}

}  // namespace
}  // namespace vp::test
